import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Type } from 'typebox';
import {
  DeadLetters, defineJobType, JobActions, jobsFindWithHistory, JobTypeRegistry, partitionOfId, PermanentJobError, Queue, QueueAdmin, queueStats,
  type Job, type SluiceConfig,
} from '@sluice/core';
import { createTestDatabase, isolatedConfig, waitFor, type TestDatabase } from '../../../test/support/context';
import { startInProcess, type InProcess } from '../../../test/support/in-process';

const echo = defineJobType({ name: 'echo', payload: Type.Object({ n: Type.Integer() }) });
const doomed = defineJobType({ name: 'doomed', payload: Type.Object({}), retry: { maxAttempts: 1 } });
const doomedToo = defineJobType({ name: 'doomed-too', payload: Type.Object({}), retry: { maxAttempts: 1 } });
// Fails its first attempt, then waits an hour for its retry unless an operator runs it now.
const patient = defineJobType({ name: 'patient', payload: Type.Object({}), retry: { maxAttempts: 2, immediateRetries: 0, baseDelayMs: 3_600_000 } });
/** Known to the producer, served by no worker: such a job waits for a worker of its type. */
const orphan = defineJobType({ name: 'orphan', payload: Type.Object({}) });

const served = new JobTypeRegistry([echo, doomed, doomedToo, patient]);
const handlers = {
  echo: ({ payload }: { payload: { n: number } }) => payload.n,
  doomed: () => {
    throw new PermanentJobError('never works');
  },
  'doomed-too': () => {
    throw new PermanentJobError('never works either');
  },
  patient: ({ attempt }: { attempt: number }) => {
    if (attempt === 1) throw new Error('not yet');
    return 'at last';
  },
};

let database: TestDatabase;
let config: SluiceConfig;
let system: InProcess;
let queue: Queue;
let deadLetters: DeadLetters;
const RETENTION_MS = 3_600_000;

beforeAll(async () => {
  // Four partitions: every control finds its job in the partition the job's id names.
  config = isolatedConfig('operator', { QUEUES: 'default:4', CONCURRENCY: '4' });
  database = await createTestDatabase(config);
  system = await startInProcess(config, served, handlers, { pool: database.pool });
  queue = new Queue({ redis: system.redis, redisConfig: config.redis, queueConfig: config.queue, registry: new JobTypeRegistry([echo, doomed, doomedToo, patient, orphan]) });
  deadLetters = new DeadLetters(system.redis, system.worker.layouts, config.queue.queues, { retentionMs: RETENTION_MS });
});

afterEach(async () => {
  await new QueueAdmin(system.redis, system.worker.layouts, config.queue.queues).resume('default');
});

afterAll(async () => {
  await system?.close();
  await database?.drop();
});

function inState(id: string, status: string): Promise<Job> {
  return waitFor(`job ${id} to be ${status}`, async () => {
    const job = await queue.getJob(id);
    return job?.status === status ? job : null;
  }, 15_000);
}

function storedInState(id: string, status: string): Promise<Job> {
  return waitFor(`PostgreSQL to have job ${id} ${status}`, async () => {
    const job = await jobsFindWithHistory(database.db, id);
    return job?.status === status ? job : null;
  }, 15_000);
}

async function deadJobs(type: string, count: number): Promise<string[]> {
  const added = await queue.addBulk(Array.from({ length: count }, () => ({ type, payload: {} })));
  for (const { id } of added) await inState(id, 'dead');
  return added.map(({ id }) => id);
}

describe('running a job now', () => {
  it('moves a scheduled job to the stream at once, records why, and a worker runs it', async () => {
    const { id } = await queue.add('echo', { n: 7 }, { delay: 3_600_000 });
    expect((await queue.waiting(id))?.reason).toBe('scheduled');
    await queue.runNow(id);
    const job = await inState(id, 'completed');
    expect(job.result).toBe(7);
    expect(job.history.map((event) => event.status)).toEqual(['scheduled', 'pending', 'processing', 'completed']);
    expect(job.history[1]).toMatchObject({ status: 'pending', reason: 'run now by an operator' });
    expect(Date.parse(job.runAt)).toBeLessThan(Date.now());
    const stored = await storedInState(id, 'completed');
    expect(stored.history[1]).toMatchObject({ status: 'pending', reason: 'run now by an operator' });
  });

  it('cuts a retry\'s backoff short', async () => {
    const { id } = await queue.add('patient', {});
    await inState(id, 'retrying');
    await queue.runNow(id);
    const job = await inState(id, 'completed');
    expect(job.result).toBe('at last');
    expect(job.attempts).toBe(2);
  });

  it('refuses a job that is not scheduled or retrying, and an unknown one', async () => {
    const { id } = await queue.add('echo', { n: 1 });
    await inState(id, 'completed');
    await expect(queue.runNow(id)).rejects.toMatchObject({ code: 'INVALID_STATE', status: 'completed' });
    await expect(queue.runNow('01900000-0000-7000-8000-000000000000')).rejects.toMatchObject({ code: 'JOB_NOT_FOUND' });
  });
});

describe('discarding dead jobs', () => {
  it('takes one out of the dead-letter stream as discarded, counted, kept for its retention and recorded in PostgreSQL', async () => {
    const [id] = (await deadJobs('doomed', 1)) as [string];
    const before = (await queueStats(system.redis, system.worker.layouts, ['default'])).default;
    await deadLetters.discard(id);
    const job = await queue.getJob(id);
    expect(job?.status).toBe('discarded');
    expect(job?.history.at(-1)).toMatchObject({ status: 'discarded', reason: 'discarded by an operator' });
    expect((await deadLetters.list({ limit: 100 })).jobs.map((dead) => dead.id)).not.toContain(id);
    const after = (await queueStats(system.redis, system.worker.layouts, ['default'])).default;
    expect(after?.counts.dead).toBe((before?.counts.dead ?? 0) - 1);
    expect(after?.counts.discarded).toBe((before?.counts.discarded ?? 0) + 1);
    const place = system.worker.layouts.all('default').find(({ index, count }) => partitionOfId(id)?.index === index && count === 4);
    const ttl = await system.redis.pttl(place?.keys.job(id) ?? '');
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(RETENTION_MS);
    const stored = await storedInState(id, 'discarded');
    expect(stored.finishedAt).not.toBeNull();
    expect(stored.history.at(-1)).toMatchObject({ status: 'discarded', reason: 'discarded by an operator' });
    await expect(deadLetters.discard(id)).rejects.toMatchObject({ code: 'INVALID_STATE', status: 'discarded' });
    await expect(deadLetters.retry(id)).rejects.toMatchObject({ code: 'INVALID_STATE' });
  });

  it('discards by filter across every partition, only the type asked for, after counting them', async () => {
    const gone = await deadJobs('doomed-too', 6);
    const kept = await deadJobs('doomed', 2);
    expect(new Set(gone.map((id) => partitionOfId(id)?.index)).size).toBeGreaterThan(1);
    expect(await deadLetters.count({ type: 'doomed-too' })).toBe(6);
    expect(await deadLetters.discardAll({ queue: 'default', type: 'doomed-too' })).toBe(6);
    expect(await deadLetters.count({ type: 'doomed-too' })).toBe(0);
    for (const id of gone) expect((await queue.getJob(id))?.status).toBe('discarded');
    for (const id of kept) expect((await queue.getJob(id))?.status).toBe('dead');
    expect(await deadLetters.discardAll({ type: 'doomed-too' })).toBe(0);
  });

  it('refuses a job that is not dead, and an unknown one', async () => {
    const { id } = await queue.add('echo', { n: 2 }, { delay: 3_600_000 });
    await expect(deadLetters.discard(id)).rejects.toMatchObject({ code: 'INVALID_STATE', status: 'scheduled' });
    await expect(deadLetters.discard('01900000-0000-7000-8000-000000000000')).rejects.toMatchObject({ code: 'JOB_NOT_FOUND' });
    await queue.cancel(id);
  });
});

describe('why a job waits', () => {
  it('names the due time of a scheduled job and of a retry', async () => {
    const runAt = new Date(Date.now() + 3_600_000);
    const { id } = await queue.add('echo', { n: 3 }, { runAt });
    expect(await queue.waiting(id)).toEqual({ reason: 'scheduled', until: runAt.toISOString(), message: `Scheduled to run at ${runAt.toISOString()}.` });
    const retry = await queue.add('patient', {});
    const retrying = await inState(retry.id, 'retrying');
    const waiting = await queue.waiting(retry.id);
    expect(waiting).toMatchObject({ reason: 'retry_backoff', until: retrying.runAt });
    await queue.cancel(id);
    await queue.cancel(retry.id);
  });

  it('names a paused queue, then the line once it is resumed', async () => {
    const admin = new QueueAdmin(system.redis, system.worker.layouts, config.queue.queues);
    await admin.pause('default');
    const { id } = await queue.add('echo', { n: 4 });
    expect(await queue.waiting(id)).toMatchObject({ reason: 'paused', message: 'Queue default is paused: no worker takes its jobs until it is resumed.' });
    await admin.resume('default');
    await inState(id, 'completed');
    expect(await queue.waiting(id)).toBeNull();
  });

  it('names a type no live worker serves', async () => {
    const { id } = await queue.add('orphan', {});
    const waiting = await waitFor('the job to wait for a worker of its type', async () => {
      const found = await queue.waiting(id);
      return found?.reason === 'unserved' ? found : null;
    });
    expect(waiting.message).toMatch(/^No live worker serves job type "orphan" on queue default; it has waited since /);
    await queue.cancel(id);
  });

  it('gives a ready job\'s partition\'s depth', async () => {
    // A queue no worker reads, of two partitions: its jobs stay in line.
    const queueConfig = { ...config.queue, queues: ['default', 'idle'], partitions: { ...config.queue.partitions, idle: 2 } };
    const idle = new Queue({ redis: system.redis, redisConfig: config.redis, queueConfig, registry: served });
    const added = await idle.addBulk(Array.from({ length: 6 }, (_, n) => ({ type: 'echo', payload: { n }, queue: 'idle' })));
    const first = added[0] as { id: string };
    const waiting = await idle.waiting(first.id);
    expect(waiting).toMatchObject({ reason: 'in_line', depth: 3 });
    expect(waiting?.message).toBe(`Waiting in line for a free worker: 3 jobs pending in partition ${(partitionOfId(first.id)?.index ?? 0) + 1} of 2 of queue idle.`);
    for (const { id } of added) await idle.cancel(id);
  });

  it('is null for a job that is not waiting, and for an unknown one', async () => {
    const { id } = await queue.add('echo', { n: 5 });
    await inState(id, 'completed');
    expect(await queue.waiting(id)).toBeNull();
    expect(await queue.waiting('01900000-0000-7000-8000-000000000000')).toBeNull();
  });
});

describe('actions on many jobs', () => {
  it('reports each id of a list as done, conflict or not found', async () => {
    const actions = new JobActions(queue, deadLetters);
    const [dead] = (await deadJobs('doomed', 1)) as [string];
    const { id: scheduled } = await queue.add('echo', { n: 6 }, { delay: 3_600_000 });
    const unknown = '01900000-0000-7000-8000-000000000000';
    expect(await actions.onIds('discard', [dead, scheduled, unknown])).toEqual([
      { id: dead, outcome: 'done' },
      { id: scheduled, outcome: 'conflict', status: 'scheduled' },
      { id: unknown, outcome: 'not_found' },
    ]);
    expect(await actions.onIds('cancel', [scheduled, dead])).toEqual([
      { id: scheduled, outcome: 'done' },
      { id: dead, outcome: 'conflict', status: 'discarded' },
    ]);
    await expect(actions.onIds('retry', Array.from({ length: 1001 }, () => unknown))).rejects.toMatchObject({ code: 'INVALID_JOB' });
  });

  it('counts, then acts on, every job matching a listing filter, and not on jobs added after it started', async () => {
    const actions = new JobActions(queue, deadLetters);
    const scheduled = await queue.addBulk(Array.from({ length: 5 }, (_, n) => ({ type: 'echo', payload: { n }, delay: 3_600_000 })));
    await Promise.all(scheduled.map(({ id }) => storedInState(id, 'scheduled')));
    const filter = { queue: 'default', type: 'echo', status: 'scheduled' };
    expect(await actions.countMatching(database.db, 'cancel', filter)).toBe(5);
    await expect(actions.countMatching(database.db, 'cancel', { status: 'completed' })).rejects.toThrow(/cancel applies to pending, scheduled, retrying jobs only/);
    const first = await actions.onMatching(database.db, 'cancel', filter);
    expect(first).toEqual({ done: 5, conflict: 0, notFound: 0, next: null });
    for (const { id } of scheduled) expect((await queue.getJob(id))?.status).toBe('cancelled');
    // A run resumed from a position made before a job was added does not reach that job.
    const position = { createdBefore: new Date(Date.now() - 1), after: null };
    const later = await queue.add('echo', { n: 9 }, { delay: 3_600_000 });
    await storedInState(later.id, 'scheduled');
    expect(await actions.onMatching(database.db, 'cancel', filter, position)).toMatchObject({ done: 0, next: null });
    expect((await queue.getJob(later.id))?.status).toBe('scheduled');
    await queue.cancel(later.id);
  });
});
