import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeRedis, createRedis, HistoryRecorder, partitionOfId, waitForRedis, Worker, type ScriptedRedis } from '@sluice/core';
import { createJobRegistry } from '@sluice/jobs';
import { isolatedConfig, waitFor } from '../../../test/support/context';
import { startApp, type AppFixture } from './fixture';

// Three partitions: every route finds its job in the partition its id names.
const config = isolatedConfig('api-operator', { QUEUES: 'default:3', CONCURRENCY: '4' });
let fixture: AppFixture;
let worker: Worker;
let recorder: HistoryRecorder;
let recorderRedis: ScriptedRedis;

const UNKNOWN = '01900000-0000-7000-8000-000000000000';

interface JobBody {
  id: string;
  status: string;
  runAt: string;
  history: { status: string; reason?: string }[];
  waiting: { reason: string; message: string; until?: string; depth?: number } | null;
}

beforeAll(async () => {
  fixture = await startApp(config);
  worker = new Worker({ redis: config.redis, queue: config.queue, worker: config.worker, registry: createJobRegistry(), handlers: {
    fail: () => {
      throw new Error('downstream refused');
    },
    noop: () => 'ran',
  } });
  await worker.start();
  recorderRedis = createRedis(config.redis);
  await waitForRedis(recorderRedis, 5000);
  recorder = new HistoryRecorder({ redis: recorderRedis, pool: fixture.database.pool, prefix: config.redis.prefix, queues: config.queue.queues, layouts: worker.layouts, owner: 'api-operator' });
  recorder.start();
});

afterAll(async () => {
  await recorder?.stop();
  if (recorderRedis) await closeRedis(recorderRedis);
  await worker?.close(1000);
  await fixture?.close();
});

const post = (url: string, payload?: Record<string, unknown>) => fixture.app.inject({ method: 'POST', url, ...(payload && { payload }) });
const getJob = async (id: string): Promise<JobBody> => (await fixture.app.inject({ method: 'GET', url: `/jobs/${id}` })).json() as JobBody;

async function deadJobs(count: number, type = 'fail'): Promise<string[]> {
  const ids = await Promise.all(Array.from({ length: count }, () => fixture.submit({ type, payload: {}, maxAttempts: 1 })));
  await waitFor(`${count} jobs to be dead`, async () => (await Promise.all(ids.map((id) => fixture.statusOf(id)))).every((status) => status === 'dead'));
  return ids;
}

async function inHistory(id: string, status: string): Promise<void> {
  await waitFor(`PostgreSQL to list job ${id} as ${status}`, async () => {
    const page = (await fixture.app.inject({ method: 'GET', url: `/jobs?status=${status}&limit=100` })).json() as { jobs: { id: string }[] };
    return page.jobs.some((job) => job.id === id);
  });
}

describe('POST /jobs/:id/run-now', () => {
  it('runs a scheduled job at once, and GET /jobs/:id said until when it was waiting', async () => {
    const id = await fixture.submit({ type: 'noop', payload: {}, delay: 3_600_000 });
    const before = await getJob(id);
    expect(before.waiting).toEqual({ reason: 'scheduled', until: before.runAt, message: `Scheduled to run at ${before.runAt}.` });
    const response = await post(`/jobs/${id}/run-now`);
    expect(response.statusCode, response.body).toBe(200);
    expect(['pending', 'processing', 'completed']).toContain((response.json() as JobBody).status);
    await waitFor('the job to complete', async () => (await fixture.statusOf(id)) === 'completed');
    const job = await getJob(id);
    expect(job.waiting).toBeNull();
    expect(job.history.find((event) => event.reason === 'run now by an operator')?.status).toBe('pending');
  });

  it('answers 409 unless scheduled or retrying, 404 unknown, 400 malformed', async () => {
    const id = await fixture.submit({ type: 'noop', payload: {} });
    await waitFor('the job to complete', async () => (await fixture.statusOf(id)) === 'completed');
    const conflict = await post(`/jobs/${id}/run-now`);
    expect(conflict.statusCode).toBe(409);
    expect(conflict.json()).toEqual({ error: { code: 'INVALID_STATE', message: `Job ${id} is completed; only scheduled or retrying jobs can be run now.` } });
    expect((await post(`/jobs/${UNKNOWN}/run-now`)).json()).toMatchObject({ error: { code: 'JOB_NOT_FOUND' } });
    expect((await post('/jobs/nope/run-now')).statusCode).toBe(400);
  });
});

describe('GET /jobs/:id says why a job waits', () => {
  it('names a paused queue, with its message', async () => {
    expect((await post('/queues/default/pause')).statusCode).toBe(200);
    try {
      const id = await fixture.submit({ type: 'noop', payload: {} });
      expect((await getJob(id)).waiting).toEqual({ reason: 'paused', message: 'Queue default is paused: no worker takes its jobs until it is resumed.' });
    } finally {
      await post('/queues/default/resume');
    }
  });

  it('documents the reasons as a closed set in the OpenAPI document', async () => {
    const document = (await fixture.app.inject({ method: 'GET', url: '/docs/json' })).json() as { paths: Record<string, Record<string, unknown>> };
    const view = JSON.stringify(document.paths['/jobs/{id}']);
    expect(view).toContain(`"enum":${JSON.stringify(['scheduled', 'retry_backoff', 'paused', 'unserved', 'rate_limit', 'concurrency_cap', 'queue_limit', 'group_turn', 'group_cap', 'in_line'])}`);
    for (const path of ['/jobs/{id}/run-now', '/jobs/{id}/discard', '/jobs/dead/discard', '/jobs/actions/{action}', '/jobs/actions/{action}/matching/count', '/jobs/actions/{action}/matching']) {
      expect(document.paths[path]?.post, path).toBeDefined();
    }
  });
});

describe('discarding dead jobs', () => {
  it('POST /jobs/:id/discard takes a dead job out of the dead-letter stream as discarded, counted and recorded', async () => {
    const [id] = (await deadJobs(1)) as [string];
    const response = await post(`/jobs/${id}/discard`);
    expect(response.statusCode, response.body).toBe(200);
    const job = response.json() as JobBody;
    expect(job).toMatchObject({ status: 'discarded', waiting: null });
    expect(job.history.at(-1)).toMatchObject({ status: 'discarded', reason: 'discarded by an operator' });
    const dead = (await fixture.app.inject({ method: 'GET', url: '/jobs/dead?limit=100' })).json() as { jobs: { id: string }[] };
    expect(dead.jobs.map((entry) => entry.id)).not.toContain(id);
    const stats = (await fixture.app.inject({ method: 'GET', url: '/stats' })).json() as { queues: { default: { discarded: number } } };
    expect(stats.queues.default.discarded).toBeGreaterThanOrEqual(1);
    await inHistory(id, 'discarded');
    const again = await post(`/jobs/${id}/discard`);
    expect(again.statusCode).toBe(409);
    expect(again.json()).toEqual({ error: { code: 'INVALID_STATE', message: `Job ${id} is discarded; only dead jobs can be discarded.` } });
    expect((await post(`/jobs/${UNKNOWN}/discard`)).statusCode).toBe(404);
  });

  it('POST /jobs/dead/discard discards what GET /jobs/dead/count counted, across partitions', async () => {
    const ids = await deadJobs(5);
    expect(new Set(ids.map((id) => partitionOfId(id)?.index)).size).toBe(3);
    const count = (await fixture.app.inject({ method: 'GET', url: '/jobs/dead/count?type=fail&queue=default' })).json() as { count: number };
    expect(count.count).toBe(5);
    const response = await post('/jobs/dead/discard', { type: 'fail', queue: 'default' });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toEqual({ discarded: 5 });
    for (const id of ids) expect(await fixture.statusOf(id)).toBe('discarded');
    expect(((await fixture.app.inject({ method: 'GET', url: '/jobs/dead/count?type=fail' })).json() as { count: number }).count).toBe(0);
    expect((await post('/jobs/dead/discard', { queue: 'nowhere' })).statusCode).toBe(404);
    expect((await post('/jobs/dead/discard', { type: 'fail', dryRun: true })).statusCode).toBe(400);
  });
});

describe('POST /jobs/actions/:action', () => {
  it('acts on each id of a list and reports it as done, conflict or not found', async () => {
    const [dead] = (await deadJobs(1)) as [string];
    const scheduled = await fixture.submit({ type: 'noop', payload: {}, delay: 3_600_000 });
    const response = await post('/jobs/actions/retry', { ids: [dead, scheduled, UNKNOWN] });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toEqual({
      done: 1, conflict: 1, notFound: 1,
      results: [{ id: dead, outcome: 'done' }, { id: scheduled, outcome: 'conflict', status: 'scheduled' }, { id: UNKNOWN, outcome: 'not_found' }],
    });
    const cancelled = await post('/jobs/actions/cancel', { ids: [scheduled.toUpperCase()] });
    expect(cancelled.json()).toMatchObject({ done: 1, results: [{ id: scheduled, outcome: 'done' }] });
  });

  it('refuses an unknown action, no ids, too many ids and a malformed id, saying which', async () => {
    expect((await post('/jobs/actions/delete', { ids: [UNKNOWN] })).statusCode).toBe(400);
    expect((await post('/jobs/actions/retry', { ids: [] })).statusCode).toBe(400);
    expect((await post('/jobs/actions/retry', { ids: Array.from({ length: 1001 }, () => UNKNOWN) })).statusCode).toBe(400);
    const malformed = await post('/jobs/actions/retry', { ids: [UNKNOWN, 'nope'] });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json()).toMatchObject({ error: { code: 'VALIDATION_ERROR' } });
  });
});

describe('POST /jobs/actions/:action/matching', () => {
  it('counts first, then acts on every job matching a filter of GET /jobs', async () => {
    const ids = await Promise.all(Array.from({ length: 4 }, () => fixture.submit({ type: 'sleep', payload: { ms: 1 }, delay: 3_600_000 })));
    for (const id of ids) await inHistory(id, 'scheduled');
    const filter = { type: 'sleep', queue: 'default', status: 'scheduled' };
    const count = await post('/jobs/actions/cancel/matching/count', filter);
    expect(count.statusCode, count.body).toBe(200);
    expect(count.json()).toEqual({ count: 4 });
    const run = await post('/jobs/actions/cancel/matching', filter);
    expect(run.statusCode, run.body).toBe(200);
    expect(run.json()).toEqual({ done: 4, conflict: 0, notFound: 0, nextCursor: null });
    for (const id of ids) expect(await fixture.statusOf(id)).toBe('cancelled');
  });

  it('refuses a status the action does not apply to, an unknown queue, a bad date and a cursor it did not give', async () => {
    const wrongStatus = await post('/jobs/actions/cancel/matching/count', { status: 'completed' });
    expect(wrongStatus.statusCode).toBe(400);
    expect(wrongStatus.json()).toMatchObject({ error: { message: 'cancel applies to pending, scheduled, retrying jobs only; status completed selects none' } });
    expect((await post('/jobs/actions/retry/matching', { queue: 'nowhere' })).statusCode).toBe(404);
    expect((await post('/jobs/actions/retry/matching', { createdAfter: 'yesterday' })).statusCode).toBe(400);
    const cursor = await post('/jobs/actions/retry/matching', { cursor: 'not-a-cursor' });
    expect(cursor.statusCode).toBe(400);
    expect(cursor.json()).toMatchObject({ error: { message: 'cursor is not one this API returned; pass the nextCursor of the previous call' } });
  });

  it('refuses a filter given in the query string, as GET /jobs takes it, rather than act on every job', async () => {
    const other = await fixture.submit({ type: 'noop', payload: {}, delay: 3_600_000 });
    const meant = await fixture.submit({ type: 'sleep', payload: { ms: 1 }, delay: 3_600_000 });
    for (const id of [other, meant]) await inHistory(id, 'scheduled');
    const run = await post('/jobs/actions/cancel/matching?type=sleep&status=scheduled', {});
    expect(run.statusCode, run.body).toBe(400);
    expect(await fixture.statusOf(other)).toBe('scheduled');
  });

  it('refuses a dead-job filter given in the query string, as GET /jobs/dead/count takes it, rather than discard every dead job', async () => {
    const [id] = (await deadJobs(1)) as [string];
    const count = (await fixture.app.inject({ method: 'GET', url: '/jobs/dead/count?type=noop' })).json() as { count: number };
    expect(count.count).toBe(0);
    for (const url of ['/jobs/dead/discard?type=noop', '/jobs/dead/retry?type=noop']) {
      const response = await post(url, {});
      expect(response.statusCode, `${url}: ${response.body}`).toBe(400);
    }
    expect(await fixture.statusOf(id)).toBe('dead');
  });
});
