import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Type } from 'typebox';
import { closeRedis, createRedis, defineJobType, JobTypeRegistry, Queue, queueKeys, waitForRedis, Worker, WORKER_GROUP, type Job, type ScriptedRedis } from '@sluice/core';
import { StalledReclaimer } from '../src/maintenance/stalled-reclaimer';
import { dropRedisKeys, isolatedConfig, waitFor } from '../../../test/support/context';

const config = isolatedConfig('recovery', { CONCURRENCY: '4', VISIBILITY_TIMEOUT_MS: '1000', MAX_DELIVERIES: '3' });
const keys = queueKeys(config.redis.prefix, 'default');
const registry = new JobTypeRegistry([
  defineJobType({ name: 'work', payload: Type.Object({ ms: Type.Integer() }) }),
]);
const runs = new Map<string, number>();
const handlers = {
  work: async ({ id, payload }: { id: string; payload: { ms: number } }) => {
    runs.set(id, (runs.get(id) ?? 0) + 1);
    await new Promise((resolve) => setTimeout(resolve, payload.ms));
  },
};

let redis: ScriptedRedis;
let queue: Queue;
const workers: Worker[] = [];

function startWorker(name: string): Promise<void> {
  const worker = new Worker({ redis: config.redis, queue: config.queue, worker: { ...config.worker, consumerName: name }, registry, handlers });
  workers.push(worker);
  return worker.start();
}

async function stopWorkers(): Promise<void> {
  await Promise.all(workers.splice(0).map((worker) => worker.close(1000)));
}

beforeAll(async () => {
  redis = createRedis(config.redis);
  await waitForRedis(redis, 5000);
  queue = new Queue({ redis, redisConfig: config.redis, queueConfig: config.queue, registry });
  await redis.xgroup('CREATE', keys.stream, WORKER_GROUP, '0', 'MKSTREAM');
});

afterAll(async () => {
  await stopWorkers();
  await closeRedis(redis);
  await dropRedisKeys(config);
});

/** Takes the next entries as a consumer that then goes silent, as a crashed worker does. */
async function readAsGhost(ghost: string, count: number): Promise<void> {
  await redis.xreadgroup('GROUP', WORKER_GROUP, ghost, 'COUNT', count, 'STREAMS', keys.stream, '>');
}

async function settled(id: string): Promise<Job> {
  return waitFor(`job ${id} to settle`, async () => {
    const job = await queue.getJob(id);
    return job && ['completed', 'dead'].includes(job.status) ? job : null;
  }, 15_000, 50);
}

describe('recovery from workers that die', () => {
  it('takes over jobs a silent consumer left pending once the visibility timeout passes', async () => {
    const added = await queue.addBulk([{ type: 'work', payload: { ms: 1 } }, { type: 'work', payload: { ms: 1 } }]);
    await readAsGhost('ghost-1', 10);
    const readAt = Date.now();
    await startWorker('rescuer');
    const jobs = await Promise.all(added.map((job) => settled(job.id)));
    for (const job of jobs) {
      expect(job.status).toBe('completed');
      expect(Date.parse(job.history.find((event) => event.status === 'processing')?.at ?? '')).toBeGreaterThanOrEqual(readAt + 1000);
      expect(job.history.find((event) => event.status === 'processing')?.worker).toBe('rescuer');
    }
    const pending = (await redis.xpending(keys.stream, WORKER_GROUP)) as [number, ...unknown[]];
    expect(pending[0]).toBe(0);
  });

  it('never reclaims a long job from a live worker: heartbeats keep it', async () => {
    await startWorker('second');
    const { id } = await queue.add('work', { ms: 3000 });
    const job = await settled(id);
    expect(job.status).toBe('completed');
    expect(job.history.filter((event) => event.status === 'processing')).toHaveLength(1);
    expect(runs.get(id)).toBe(1);
  });

  it('dead-letters as poison a job whose deliveries pass the limit, leaving other jobs alone', async () => {
    await stopWorkers();
    const [poison, healthy] = await queue.addBulk([{ type: 'work', payload: { ms: 1 } }, { type: 'work', payload: { ms: 1 } }]);
    await readAsGhost('ghost-2', 1);
    // Three more deliveries to consumers that die at once: four in all, past the limit of three.
    const [entry] = (await redis.xpending(keys.stream, WORKER_GROUP, '-', '+', 10, 'ghost-2')) as [string][];
    for (const ghost of ['ghost-3', 'ghost-4', 'ghost-5']) await redis.xclaim(keys.stream, WORKER_GROUP, ghost, 0, entry?.[0] ?? '');
    await startWorker('third');
    const dead = await settled(poison?.id ?? '');
    expect(dead.status).toBe('dead');
    expect(dead.history.at(-1)).toMatchObject({ status: 'dead', reason: 'poison' });
    expect(dead.lastError).toContain('delivery limit 3');
    expect(runs.has(poison?.id ?? '')).toBe(false);
    expect((await settled(healthy?.id ?? '')).status).toBe('completed');
    const dlq = await redis.xrange(keys.dlq, '-', '+');
    expect(dlq.some(([, fields]) => fields[1] === poison?.id && fields[3] === 'poison')).toBe(true);
  });

  it('removes consumers that are gone and own nothing, and keeps those that own entries', async () => {
    await stopWorkers();
    await queue.add('work', { ms: 1 });
    await readAsGhost('holder', 1);
    await redis.xgroup('CREATECONSUMER', keys.stream, WORKER_GROUP, 'empty-ghost');
    await new Promise((resolve) => setTimeout(resolve, 60));
    const reclaimer = new StalledReclaimer({
      redis, keys, queue: 'default', consumer: 'sweeper', visibilityTimeoutMs: 60_000, maxDeliveries: 3, goneConsumerIdleMs: 50, deadLetters: config.queue,
      routing: { served: ',work,', elsewhere: () => ',' },
    });
    await reclaimer.removeGoneConsumers();
    const consumers = ((await redis.xinfo('CONSUMERS', keys.stream, WORKER_GROUP)) as (string | number)[][]).map((fields) => String(fields[1]));
    expect(consumers).toContain('holder');
    expect(consumers).not.toContain('empty-ghost');
  });
});
