import { afterEach, describe, expect, it } from 'vitest';
import { Type } from 'typebox';
import {
  closeRedis, createRedis, defineJobType, JobTypeRegistry, Queue, queueKeys, waitForRedis, Worker, WORKER_GROUP, type Job, type ScriptedRedis,
  type SluiceConfig,
} from '@sluice/core';
import { dropRedisKeys, isolatedConfig, waitFor } from '../../../test/support/context';

const registry = new JobTypeRegistry([
  defineJobType({ name: 'held', payload: Type.Object({}) }),
  defineJobType({ name: 'quick', payload: Type.Object({}) }),
]);
const releases: (() => void)[] = [];
const handlers = {
  held: () => new Promise<void>((resolve) => releases.push(resolve)),
  quick: () => 'done',
};

interface System {
  config: SluiceConfig;
  redis: ScriptedRedis;
  queue: Queue;
  worker?: Worker;
}
const systems: System[] = [];

async function connect(config: SluiceConfig): Promise<System> {
  const redis = createRedis(config.redis);
  await waitForRedis(redis, 5000);
  const system: System = { config, redis, queue: new Queue({ redis, redisConfig: config.redis, queueConfig: config.queue, registry }) };
  systems.push(system);
  return system;
}

async function startWorker(system: System): Promise<Worker> {
  const { config } = system;
  system.worker = new Worker({ redis: config.redis, queue: config.queue, worker: config.worker, registry, handlers });
  await system.worker.start();
  return system.worker;
}

afterEach(async () => {
  for (const release of releases.splice(0)) release();
  for (const { config, redis, worker } of systems.splice(0)) {
    await worker?.close(1000);
    await closeRedis(redis);
    await dropRedisKeys(config);
  }
});

function status(queue: Queue, id: string, wanted: Job['status']): Promise<Job> {
  return waitFor(`job ${id} to be ${wanted}`, async () => {
    const job = await queue.getJob(id);
    return job?.status === wanted ? job : null;
  });
}

describe('sharing a worker between queues', () => {
  it('gives a busy queue every slot a quiet queue does not use: a quiet queue waits for work holding one', async () => {
    // A long blocking read, so the quiet queue is surely waiting in it.
    const system = await connect(isolatedConfig('fair-slots', { QUEUES: 'busy,quiet', CONCURRENCY: '4', WORKER_BLOCK_MS: '5000' }));
    await startWorker(system);
    const jobs = await system.queue.addBulk(Array.from({ length: 4 }, () => ({ type: 'held', payload: {}, queue: 'busy' })));
    // Splitting 4 slots evenly would hold the busy queue to 2; the quiet queue's read needs only 1.
    // Well within the quiet queue's blocking read, after which it would give its slot up anyway.
    await waitFor('three busy jobs to run at once', () => releases.length >= 3, 3000);
    const running = await Promise.all(jobs.map(({ id }) => system.queue.getJob(id)));
    expect(running.filter((job) => job?.status === 'processing').length).toBeGreaterThanOrEqual(3);
  });

  it('holds back only the queue of a suspect running alone: the worker\'s other queues go on', async () => {
    const system = await connect(isolatedConfig('suspect-per-queue', { QUEUES: 'a,b', CONCURRENCY: '4', VISIBILITY_TIMEOUT_MS: '1000', MAX_DELIVERIES: '5' }));
    const keys = queueKeys(system.config.redis.prefix, 'a');
    await system.redis.xgroup('CREATE', keys.stream, WORKER_GROUP, '0', 'MKSTREAM');
    const suspect = await system.queue.add('held', {}, { queue: 'a' });
    // Delivered to a consumer that died, then claimed by another that died too: redelivered once, a suspect.
    const read = (await system.redis.xreadgroup('GROUP', WORKER_GROUP, 'ghost-1', 'COUNT', 1, 'STREAMS', keys.stream, '>')) as [string, [string, string[]][]][];
    const entryId = read[0]?.[1][0]?.[0] as string;
    await system.redis.xclaim(keys.stream, WORKER_GROUP, 'ghost-2', 0, entryId);
    const worker = await startWorker(system);
    await status(system.queue, suspect.id, 'processing');
    expect(worker.runningCount).toBe(1);
    // While the suspect runs alone in queue a, queue b's jobs still start and finish.
    const other = await system.queue.add('quick', {}, { queue: 'b' });
    await status(system.queue, other.id, 'completed');
    expect((await system.queue.getJob(suspect.id))?.status).toBe('processing');
    for (const release of releases.splice(0)) release();
    await status(system.queue, suspect.id, 'completed');
  });
});
