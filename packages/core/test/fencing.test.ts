import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Type } from 'typebox';
import {
  closeRedis, createRedis, defineJobType, JobTypeRegistry, NORMAL_BAND, Queue, queueKeys, waitForRedis, Worker, WORKER_GROUP, type Job, type ScriptedRedis,
} from '@sluice/core';
import { JobTransitions, typeList, type StartedJob } from '../src/job-runner';
import { dropRedisKeys, isolatedConfig, waitFor } from '../../../test/support/context';

/**
 * A worker that stalls past the visibility timeout (a GC pause, a blocked event loop, a partition)
 * is taken over by another; when it wakes it must not change the job again. The stalled worker is
 * played here by a `JobTransitions` of its own, which is exactly what a worker calls: it starts the
 * job, then goes silent while a real worker reclaims and runs it.
 */
const config = isolatedConfig('fencing', { CONCURRENCY: '2', VISIBILITY_TIMEOUT_MS: '1000', MAX_DELIVERIES: '10' });
const keys = queueKeys(config.redis.prefix, 'default');
const registry = new JobTypeRegistry([defineJobType({ name: 'held', payload: Type.Object({}) })]);

let finishLive: () => void = () => undefined;
const handlers = {
  held: async () => {
    await new Promise<void>((resolve) => (finishLive = resolve));
    return 'live result';
  },
};

let redis: ScriptedRedis;
let queue: Queue;
let live: Worker | undefined;
const stale: { name: string; transitions: JobTransitions } = { name: 'stalled-worker', transitions: undefined as unknown as JobTransitions };

beforeAll(async () => {
  redis = createRedis(config.redis);
  await waitForRedis(redis, 5000);
  queue = new Queue({ redis, redisConfig: config.redis, queueConfig: config.queue, registry });
  await redis.xgroup('CREATE', keys.stream, WORKER_GROUP, '0', 'MKSTREAM');
  stale.transitions = new JobTransitions(redis, keys, stale.name, config.queue, { served: typeList(registry.names()), elsewhere: () => ',' });
});

afterEach(async () => {
  finishLive();
  await live?.close(1000);
  live = undefined;
});

afterAll(async () => {
  await closeRedis(redis);
  await dropRedisKeys(config);
});

/** Adds a job and starts it as the stalled worker; returns the attempt that worker holds. */
async function startAsStalledWorker(): Promise<StartedJob> {
  const { id } = await queue.add('held', {});
  const read = (await redis.xreadgroup('GROUP', WORKER_GROUP, stale.name, 'COUNT', 1, 'STREAMS', keys.stream, '>')) as [string, [string, string[]][]][];
  const [entryId] = read[0]?.[1][0] ?? [];
  const [started] = await stale.transitions.start('default', [{ band: NORMAL_BAND, entryId: entryId as string, jobId: id }], Date.now());
  expect(started?.id).toBe(id);
  return started as StartedJob;
}

/** Starts a real worker and waits until it has taken the stalled worker's job over. */
async function takenOver(job: StartedJob): Promise<Job> {
  live = new Worker({ redis: config.redis, queue: config.queue, worker: { ...config.worker, consumerName: 'live-worker' }, registry, handlers });
  await live.start();
  return waitFor('the live worker to take the job over', async () => {
    const current = await queue.getJob(job.id);
    return current?.attempts === job.attempt + 1 && current.status === 'processing' ? current : null;
  }, 10_000, 20);
}

async function entryOwner(entryId: string): Promise<string | undefined> {
  const pending = (await redis.xpending(keys.stream, WORKER_GROUP, '-', '+', 10)) as [string, string, number, number][];
  return pending.find(([id]) => id === entryId)?.[1];
}

async function completedByLiveWorker(id: string): Promise<Job> {
  finishLive();
  return waitFor('the live worker to complete the job', async () => {
    const job = await queue.getJob(id);
    return job?.status === 'completed' ? job : null;
  });
}

describe('fencing: a worker taken over after a stall cannot change the job again', () => {
  it('refuses its heartbeat, which would take the entry back from the live worker', async () => {
    const job = await startAsStalledWorker();
    await takenOver(job);
    expect(await stale.transitions.heartbeat([job], Date.now())).toEqual([job]);
    expect(await entryOwner(job.entryId)).toBe('live-worker');
    const done = await completedByLiveWorker(job.id);
    expect(done.result).toBe('live result');
  });

  it('refuses its failure, so the live worker\'s completion stands', async () => {
    const job = await startAsStalledWorker();
    await takenOver(job);
    expect(await stale.transitions.fail(job, undefined, new Error('stale failure'), Date.now(), Math.random)).toBeNull();
    const running = await queue.getJob(job.id);
    expect(running).toMatchObject({ status: 'processing', attempts: job.attempt + 1 });
    // The entry is still the live attempt's: nothing acknowledged it.
    expect(await entryOwner(job.entryId)).toBe('live-worker');
    const done = await completedByLiveWorker(job.id);
    expect(done.history.map((event) => event.status)).toEqual(['pending', 'processing', 'processing', 'completed']);
    expect(done.history.at(-1)?.worker).toBe('live-worker');
  });

  it('refuses its completion, its progress and its release', async () => {
    const job = await startAsStalledWorker();
    await takenOver(job);
    expect(await stale.transitions.complete(job, JSON.stringify('stale result'), Date.now())).toBe(false);
    expect(await stale.transitions.progress(job, { stale: true }, Date.now())).toBe(false);
    expect(await stale.transitions.release(job, Date.now())).toBe(false);
    const running = await queue.getJob(job.id);
    expect(running).toMatchObject({ status: 'processing', attempts: job.attempt + 1, progress: null });
    expect(await entryOwner(job.entryId)).toBe('live-worker');
    const done = await completedByLiveWorker(job.id);
    expect(done.result).toBe('live result');
    expect(done.history.filter((event) => event.status === 'pending')).toHaveLength(1);
  });

  it('still drops an entry no attempt runs from any more', async () => {
    const job = await startAsStalledWorker();
    await takenOver(job);
    await completedByLiveWorker(job.id);
    // The live attempt acknowledged the entry; a late stale failure changes nothing and leaves nothing pending.
    expect(await stale.transitions.fail(job, undefined, new Error('late'), Date.now(), Math.random)).toBeNull();
    expect((await queue.getJob(job.id))?.status).toBe('completed');
    expect(await entryOwner(job.entryId)).toBeUndefined();
  });
});
