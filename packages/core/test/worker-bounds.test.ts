import { afterEach, describe, expect, it } from 'vitest';
import { Type } from 'typebox';
import { closeRedis, createRedis, defineJobType, type Job, JobTypeRegistry, loadConfig, NORMAL_BAND, Queue, QueueAdmin, queueKeys, QueueLayouts, type ScriptedRedis, type SluiceConfig, waitForRedis, Worker } from '@sluice/core';
import { dropRedisKeys, isolatedConfig, serversOf, singleNodeConfig, waitFor } from '../../../test/support/context';
import { HoldingProxy } from '../../../test/support/holding-proxy';
import { freePort, RedisServer } from '../../../test/support/redis-server';

const registry = new JobTypeRegistry([
  defineJobType({ name: 'stubborn', payload: Type.Object({}), timeoutMs: 100, retry: { maxAttempts: 1 } }),
  defineJobType({ name: 'quick', payload: Type.Object({}) }),
  defineJobType({ name: 'long', payload: Type.Object({}) }),
  defineJobType({ name: 'held', payload: Type.Object({}) }),
  defineJobType({ name: 'heeds', payload: Type.Object({}), timeoutMs: 100, retry: { maxAttempts: 1 } }),
]);

let releaseStubborn: () => void = () => undefined;
let releaseHeld: () => void = () => undefined;
const handlers = {
  // Ignores its signal, as a handler stuck in a library call does.
  stubborn: () => new Promise<void>((resolve) => (releaseStubborn = resolve)),
  quick: () => 'done',
  held: () => new Promise<string>((resolve) => (releaseHeld = () => resolve('held result'))),
  heeds: ({ signal }: { signal: AbortSignal }) => new Promise<void>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error))),
  long: ({ signal }: { signal: AbortSignal }) => new Promise<void>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error))),
};

interface System {
  config: SluiceConfig;
  redis: ScriptedRedis;
  queue: Queue;
  worker: Worker;
}
const systems: System[] = [];

async function startSystem(config: SluiceConfig): Promise<System> {
  const redis = createRedis(config.redis);
  await waitForRedis(redis, 5000);
  const queue = new Queue({ redis, redisConfig: config.redis, queueConfig: config.queue, registry });
  const worker = new Worker({ redis: config.redis, queue: config.queue, worker: config.worker, registry, handlers });
  await worker.start();
  const system = { config, redis, queue, worker };
  systems.push(system);
  return system;
}

afterEach(async () => {
  releaseStubborn();
  releaseHeld();
  for (const { config, redis, worker } of systems.splice(0)) {
    await worker.close(1000);
    await closeRedis(redis);
    await dropRedisKeys(config);
  }
});

function status(queue: Queue, id: string, wanted: Job['status'], timeoutMs = 10_000): Promise<Job> {
  return waitFor(`job ${id} to be ${wanted}`, async () => {
    const job = await queue.getJob(id);
    return job?.status === wanted ? job : null;
  }, timeoutMs);
}

describe('a handler that outlives its attempt', () => {
  it('keeps its slot until it returns, so the worker never runs more handlers than its concurrency, and asks to be recycled', async () => {
    const { queue, worker } = await startSystem(isolatedConfig('abandoned', { CONCURRENCY: '1', RECYCLE_AFTER_ABANDONED: '1' }));
    const recycles: number[] = [];
    worker.on('worker:recycle', ({ abandoned }) => recycles.push(abandoned));
    const stubborn = await queue.add('stubborn', {});
    const dead = await status(queue, stubborn.id, 'dead');
    expect(dead.lastError).toMatch(/timed out/);
    await waitFor('the handler to count as abandoned, a moment after its timeout', () => worker.abandonedCount === 1);
    expect(recycles).toEqual([1]);

    const quick = await queue.add('quick', {});
    // The only slot is still the stubborn handler's: the quick job must wait for it.
    await expect(status(queue, quick.id, 'processing', 1000).then(() => 'started', () => 'waited')).resolves.toBe('waited');
    expect((await queue.getJob(quick.id))?.status).toBe('pending');
    releaseStubborn();
    await status(queue, quick.id, 'completed');
    expect(worker.abandonedCount).toBe(0);
  }, 20_000);
});

describe('handlers that heed their timeout', () => {
  it('are not counted as abandoned, so many timing out at once do not recycle the worker', async () => {
    const { queue, worker } = await startSystem(isolatedConfig('heeded', { CONCURRENCY: '2', RECYCLE_AFTER_ABANDONED: '2' }));
    const recycles: number[] = [];
    worker.on('worker:recycle', ({ abandoned }) => recycles.push(abandoned));
    const jobs = await queue.addBulk([{ type: 'heeds', payload: {} }, { type: 'heeds', payload: {} }]);
    await Promise.all(jobs.map(({ id }) => status(queue, id, 'dead')));
    // Past the grace an aborted handler has before it counts as abandoned: nothing may be counted.
    await expect(waitFor('a recycle', () => recycles.length > 0 || worker.abandonedCount > 0, 2000)).rejects.toThrow(/Timed out/);
  });
});

describe('pausing a queue', () => {
  it('starts no job once paused, not even one a blocking read was already waiting for', async () => {
    // A blocking read far longer than the test: the worker is sure to be waiting in it when the job arrives.
    const config = isolatedConfig('pause-read', { WORKER_BLOCK_MS: '60000' });
    const { redis, queue } = await startSystem(config);
    const keys = queueKeys(config.redis.prefix, 'default');
    const admin = new QueueAdmin(redis, new QueueLayouts(redis, config.redis.prefix, config.queue.partitions), config.queue.queues);
    await waitForBlockingRead(redis, config);
    await admin.pause('default');
    const { id } = await queue.add('quick', {});
    // The read returns the entry; the start script finds the queue paused and hands the job back:
    // the entry read is acknowledged, and the job waits under a new one.
    const group = await waitFor('the worker to read the entry and hand it back', async () => {
      const [fields] = (await redis.xinfo('GROUPS', keys.stream)) as (string | number)[][];
      const info = Object.fromEntries((fields ?? []).flatMap((value, index, all) => (index % 2 === 0 ? [[value, all[index + 1]]] : [])));
      return Number(info['entries-read']) >= 1 && Number(info.pending) === 0 ? info : null;
    }, 10_000);
    expect(await redis.hget(keys.job(id), 'sid')).not.toBe(group['last-delivered-id']);
    const held = await queue.getJob(id);
    expect(held?.status).toBe('pending');
    expect(held?.history.map((event) => event.status)).toEqual(['pending']);
    await admin.resume('default');
    await status(queue, id, 'completed');
  });
});

// On a server of the test's own even in the cluster project: the test makes it a replica of a master
// that is not there, which would take a node out of the cluster every test of the run shares.
describe('a Redis that cannot write for a moment', () => {
  it('does not turn a success into a failure: the completion is sent again once Redis writes again', async () => {
    const { server, config, redis, worker, queue } = await startOnPrivateRedis('readonly');
    try {
      const { id } = await queue.add('held', {});
      await status(queue, id, 'processing');
      // A replica of a master that is not there: every write answers READONLY, as during a failover.
      const admin = createRedis(config.redis);
      admin.on('error', () => undefined);
      await waitForRedis(admin, 5000);
      await admin.replicaof('127.0.0.1', String(await freePort()));
      const errors: string[] = [];
      worker.on('worker:error', ({ error }) => errors.push(error));
      releaseHeld();
      await waitFor('the completion to be refused with READONLY', () => errors.some((error) => error.startsWith('READONLY')));
      await waitForRedis(admin, 5000);
      await admin.replicaof('NO', 'ONE');
      admin.disconnect();
      const done = await status(queue, id, 'completed');
      expect(done.result).toBe('held result');
      expect(done.history.map((event) => event.status)).toEqual(['pending', 'processing', 'completed']);
    } finally {
      await worker.close(1000);
      redis.disconnect();
      await server.stop();
    }
  }, 30_000);
});

describe('closing a worker', () => {
  // On REDIS_URL's node even in the cluster project: the worker's traffic must pass the proxy, and a
  // cluster connection goes to whichever nodes the cluster names, round any proxy.
  it('starts no job that a read in flight when the stop began brings back: it goes back to the stream', async () => {
    const config = singleNodeConfig('close-in-flight', { WORKER_BLOCK_MS: '5000' });
    const proxy = await HoldingProxy.start(Number(new URL(config.redis.url).port || 6379));
    try {
      const redis = createRedis(config.redis);
      await waitForRedis(redis, 5000);
      const worker = new Worker({ redis: { ...config.redis, url: `redis://127.0.0.1:${proxy.port}` }, queue: config.queue, worker: config.worker, registry, handlers });
      const system = { config, redis, queue: new Queue({ redis, redisConfig: config.redis, queueConfig: config.queue, registry }), worker };
      systems.push(system);
      await worker.start();
      const keys = queueKeys(config.redis.prefix, 'default');
      await waitForBlockingRead(redis, config);
      // The job's id is chosen here, so that the start call naming it can be held on its way to Redis.
      const jobId = '01900000-0000-7000-8000-00000000c105';
      const held = proxy.holdOnClientData(keys.job(jobId), 10_000);
      const now = Date.now();
      await system.redis.enqueueJobs(14, keys.events, keys.counts, keys.throughput(now), ...keys.lanes, keys.delayed, keys.job(jobId), keys.job(jobId),
        now, 'default', 60_000, '', '', '', jobId, 'quick', '{}', 3, 0, NORMAL_BAND, now, '', '', '', '');
      await held;
      const closed = worker.close(1000);
      proxy.release();
      await closed;
      const job = await system.queue.getJob(jobId);
      expect(job?.status).toBe('pending');
      expect(job?.history.map((event) => event.status)).toEqual(['pending', 'processing', 'pending']);
      expect(job?.history.at(-1)?.error).toBe('interrupted: its worker shut down');
    } finally {
      await proxy.close();
    }
  });

  // On a server of the test's own even in the cluster project: it kills that server, and every test of the run shares the cluster.
  it('ends within its bounds while Redis is down', async () => {
    const { server, redis, worker, queue } = await startOnPrivateRedis('close-down');
    try {
      const { id } = await queue.add('long', {});
      await status(queue, id, 'processing');
      await server.kill();
      const startedAt = Date.now();
      await worker.close(300);
      // 300 ms for the job, then each step that needs Redis gives up after its own bound.
      expect(Date.now() - startedAt).toBeLessThan(10_000);
    } finally {
      redis.disconnect();
      await server.stop();
    }
  }, 30_000);
});

/** A worker and a producer on a Redis server of the test's own, to kill or turn into a replica. */
async function startOnPrivateRedis(label: string) {
  const server = await RedisServer.start();
  const config = loadConfig({ ...envOf(singleNodeConfig(label)), REDIS_URL: server.url });
  const redis = createRedis(config.redis);
  redis.on('error', () => undefined);
  const worker = new Worker({ redis: config.redis, queue: config.queue, worker: config.worker, registry, handlers });
  await waitForRedis(redis, 5000);
  await worker.start();
  return { server, config, redis, worker, queue: new Queue({ redis, redisConfig: config.redis, queueConfig: config.queue, registry }) };
}

/** Resolves once the worker of `config` waits in its blocking read of the default queue. */
async function waitForBlockingRead(redis: ScriptedRedis, config: SluiceConfig): Promise<void> {
  await waitFor('the worker to wait in its blocking read', async () => {
    // On a cluster, the read waits on the node of the queue's slot.
    const lists = await Promise.all(serversOf(redis).map(async (server) => String(await server.client('LIST'))));
    const clients = lists.join('\n').split('\n');
    return clients.some((client) => client.includes(`name=${config.worker.consumerName}:default `) && / flags=b /.test(client));
  });
}

function envOf(config: SluiceConfig): Record<string, string> {
  return { REDIS_PREFIX: config.redis.prefix, DATABASE_SCHEMA: config.postgres.schema, WORKER_BLOCK_MS: '200', LOG_LEVEL: 'silent' };
}
