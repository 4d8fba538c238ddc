import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Worker } from '@sluice/core';
import { createJobRegistry } from '@sluice/jobs';
import { isolatedConfig, waitFor } from '../../../test/support/context';
import { startApp, type AppFixture } from './fixture';

const config = isolatedConfig('api-dead', { CONCURRENCY: '4' });
let fixture: AppFixture;
let worker: Worker;
let brokenDownstream = true;

beforeAll(async () => {
  fixture = await startApp(config);
  // `fail` stands in for a job whose downstream is broken until the test repairs it.
  const failWhileBroken = ({ attempt }: { attempt: number }) => {
    if (brokenDownstream) throw new Error(`downstream refused attempt ${attempt}`);
    return 'delivered';
  };
  worker = new Worker({ redis: config.redis, queue: config.queue, worker: config.worker, registry: createJobRegistry(), handlers: { fail: failWhileBroken, noop: () => undefined } });
  await worker.start();
});

afterAll(async () => {
  await worker?.close(1000);
  await fixture?.close();
});


const submit = (body: Record<string, unknown>) => fixture.submit(body);
const statusOf = (id: string) => fixture.statusOf(id);

describe('the dead-letter stream over HTTP', () => {
  it('lists a job out of attempts in GET /jobs/dead, and POST /jobs/:id/retry runs it to completion', async () => {
    const id = await submit({ type: 'fail', payload: {}, maxAttempts: 2 });
    await waitFor('the job to be dead', async () => (await statusOf(id)) === 'dead');

    const dead = await fixture.app.inject({ method: 'GET', url: '/jobs/dead' });
    expect(dead.statusCode).toBe(200);
    const listed = (dead.json() as { jobs: Record<string, unknown>[] }).jobs.find((job) => job.id === id);
    expect(listed).toMatchObject({ status: 'dead', reason: 'exhausted', attempts: 2, lastError: 'downstream refused attempt 2', payload: {}, type: 'fail' });

    brokenDownstream = false;
    try {
      const retried = await fixture.app.inject({ method: 'POST', url: `/jobs/${id}/retry` });
      expect(retried.statusCode).toBe(200);
      // A worker may take the job before the response is built: any state past dead will do.
      expect(['pending', 'processing', 'completed']).toContain((retried.json() as { status: string }).status);
      await waitFor('the retried job to complete', async () => (await statusOf(id)) === 'completed');
    } finally {
      brokenDownstream = true;
    }

    const job = (await fixture.app.inject({ method: 'GET', url: `/jobs/${id}` })).json() as { attempts: number; result: unknown; history: { status: string; attempt: number }[] };
    expect(job.attempts).toBe(1);
    expect(job.result).toBe('delivered');
    expect(job.history.slice(-4).map((event) => [event.status, event.attempt])).toEqual([['dead', 2], ['pending', 0], ['processing', 1], ['completed', 1]]);
    const after = (await fixture.app.inject({ method: 'GET', url: '/jobs/dead' })).json() as { jobs: { id: string }[] };
    expect(after.jobs.map((entry) => entry.id)).not.toContain(id);
  });

  it('answers 409 when the job is not dead, 404 when unknown, 400 when malformed', async () => {
    const id = await submit({ type: 'noop', payload: {} });
    await waitFor('the noop job to complete', async () => (await statusOf(id)) === 'completed');
    const conflict = await fixture.app.inject({ method: 'POST', url: `/jobs/${id}/retry` });
    expect(conflict.statusCode).toBe(409);
    expect(conflict.json()).toMatchObject({ error: { code: 'INVALID_STATE', message: `Job ${id} is completed; only dead jobs can be retried.` } });
    expect((await fixture.app.inject({ method: 'POST', url: '/jobs/01900000-0000-7000-8000-000000000000/retry' })).statusCode).toBe(404);
    expect((await fixture.app.inject({ method: 'POST', url: '/jobs/nope/retry' })).statusCode).toBe(400);
  });

  it('pages through dead jobs newest first with nextCursor', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1) ids.push(await submit({ type: 'fail', payload: {}, maxAttempts: 1 }));
    await waitFor('all five to be dead', async () => (await Promise.all(ids.map(statusOf))).every((status) => status === 'dead'));
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 10; page += 1) {
      const url: string = `/jobs/dead?limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const body = (await fixture.app.inject({ method: 'GET', url })).json() as { jobs: { id: string }[]; nextCursor: string | null };
      expect(body.jobs.length).toBeLessThanOrEqual(2);
      seen.push(...body.jobs.map((job) => job.id));
      cursor = body.nextCursor;
      if (!cursor) break;
    }
    const mine = seen.filter((id) => ids.includes(id));
    expect(mine).toEqual([...ids].reverse());
    expect(new Set(seen).size).toBe(seen.length);
  });

  it('refuses a bad limit or cursor with 400, and a queue it does not serve with 404', async () => {
    expect((await fixture.app.inject({ method: 'GET', url: '/jobs/dead?queue=elsewhere' })).statusCode).toBe(404);
    for (const query of ['limit=0', 'limit=101', 'limit=ten', 'cursor=abc', 'color=red']) {
      const response = await fixture.app.inject({ method: 'GET', url: `/jobs/dead?${query}` });
      expect(response.statusCode, query).toBe(400);
      expect((response.json() as { error: { message: string } }).error.message.length).toBeGreaterThan(0);
    }
  });
});

describe('POST /jobs/dead/retry', () => {
  it('sends back every dead job matching the filter, and counts them', async () => {
    const failing = await Promise.all([1, 2, 3].map(() => submit({ type: 'fail', payload: {}, maxAttempts: 1 })));
    const other = await submit({ type: 'noop', payload: {} });
    await waitFor('the failing jobs to be dead', async () => (await Promise.all(failing.map(statusOf))).every((status) => status === 'dead'));
    const count = async (query: string) => {
      const response = await fixture.app.inject({ method: 'GET', url: `/jobs/dead/count${query}` });
      expect(response.statusCode, response.body).toBe(200);
      return (response.json() as { count: number }).count;
    };
    const deadFailing = await count('?type=fail');
    expect(deadFailing).toBeGreaterThanOrEqual(3);
    expect(await count('')).toBe(deadFailing);
    expect(await count('?type=fail&queue=default')).toBe(deadFailing);
    expect(await count('?type=noop')).toBe(0);
    brokenDownstream = false;
    try {
      const response = await fixture.app.inject({ method: 'POST', url: '/jobs/dead/retry', payload: { type: 'fail' } });
      expect(response.statusCode).toBe(200);
      expect((response.json() as { retried: number }).retried).toBe(deadFailing);
      expect(await count('?type=fail')).toBe(0);
      await waitFor('the retried jobs to complete', async () => (await Promise.all(failing.map(statusOf))).every((status) => status === 'completed'));
    } finally {
      brokenDownstream = true;
    }
    expect(await statusOf(other)).toBe('completed');
    const again = await fixture.app.inject({ method: 'POST', url: '/jobs/dead/retry', payload: { type: 'fail', queue: 'default' } });
    expect(again.json()).toEqual({ retried: 0 });
  });

  it('refuses an unknown field with 400 and a queue it does not serve with 404, but takes any type: dead jobs outlive their workers', async () => {
    const filters: [Record<string, string>, number][] = [[{ type: 'gone' }, 200], [{ status: 'dead' }, 400], [{ queue: 'elsewhere' }, 404]];
    for (const [payload, status] of filters) {
      const response = await fixture.app.inject({ method: 'POST', url: '/jobs/dead/retry', payload });
      expect(response.statusCode, JSON.stringify(payload)).toBe(status);
      const count = await fixture.app.inject({ method: 'GET', url: `/jobs/dead/count?${new URLSearchParams(payload)}` });
      expect(count.statusCode, JSON.stringify(payload)).toBe(status);
    }
  });
});

describe('idempotency over HTTP', () => {
  it('makes exactly one job of 50 concurrent submissions with one key', async () => {
    const responses = await Promise.all(
      Array.from({ length: 50 }, () => fixture.app.inject({ method: 'POST', url: '/jobs', payload: { type: 'noop', payload: {} }, headers: { 'idempotency-key': 'concurrent-1' } })),
    );
    const ids = new Set(responses.map((response) => (response.json() as { id: string }).id));
    expect(ids.size).toBe(1);
    expect(responses.filter((response) => response.statusCode === 202)).toHaveLength(1);
    expect(responses.filter((response) => response.statusCode === 200)).toHaveLength(49);
  });
});
