import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Type } from 'typebox';
import {
  closeRedis, createRedis, DeadLetters, defineJobType, jobsFindWithHistory, JobTypeRegistry, partitionOfId, partitionTag, PermanentJobError, Queue, QueueAdmin,
  QueueLayouts, queuePartitions, queueStats, slotOfTag, waitForRedis, withPartition, type ScriptedRedis, type SluiceConfig,
} from '@sluice/core';
import { createTestDatabase, dropRedisKeys, isolatedConfig, serversOf, waitFor, type TestDatabase } from '../../../test/support/context';
import { startInProcess, type InProcess } from '../../../test/support/in-process';

const registry = new JobTypeRegistry([
  defineJobType({ name: 'echo', payload: Type.Object({ n: Type.Integer() }) }),
  defineJobType({ name: 'doomed', payload: Type.Object({}), retry: { maxAttempts: 1 } }),
]);
const handlers = {
  echo: ({ payload }: { payload: { n: number } }) => payload.n,
  doomed: () => {
    throw new PermanentJobError('never works');
  },
};

let database: TestDatabase;
const systems: InProcess[] = [];
const connections: ScriptedRedis[] = [];

function configWith(queues: string, label = 'partitions'): SluiceConfig {
  return isolatedConfig(label, { QUEUES: queues, CONCURRENCY: '8' });
}

async function producer(config: SluiceConfig): Promise<{ redis: ScriptedRedis; queue: Queue }> {
  const redis = createRedis(config.redis);
  connections.push(redis);
  await waitForRedis(redis, 5000);
  return { redis, queue: new Queue({ redis, redisConfig: config.redis, queueConfig: config.queue, registry }) };
}

async function streamLengths(redis: ScriptedRedis, config: SluiceConfig, count: number): Promise<number[]> {
  return Promise.all(queuePartitions(config.redis.prefix, 'default', count).map(({ keys }) => redis.xlen(keys.stream)));
}

beforeAll(async () => {
  database = await createTestDatabase(isolatedConfig('partitions-db'));
});

afterEach(async () => {
  for (const system of systems.splice(0)) await system.close();
  for (const redis of connections.splice(0)) await closeRedis(redis);
});

afterAll(async () => {
  await database.drop();
});

describe('the partitions of a queue', () => {
  it('each sit near the middle of their own slice of the cluster\'s slots, so masters holding equal ranges hold them evenly', () => {
    expect(partitionTag('default', 1, 0)).toBe('default');
    for (const count of [2, 3, 4, 6, 8, 64]) {
      const slots = Array.from({ length: count }, (_, index) => slotOfTag(partitionTag('default', count, index)));
      slots.forEach((slot, index) => expect(Math.abs(slot - ((index + 0.5) * 16384) / count)).toBeLessThanOrEqual(16384 / count / 16));
    }
    // The ranges redis-cli --cluster create gives three masters.
    const masterOf = (slot: number): number => (slot <= 5460 ? 0 : slot <= 10922 ? 1 : 2);
    const perMaster = (count: number): number[] => {
      const masters = Array.from({ length: count }, (_, index) => masterOf(slotOfTag(partitionTag('emails', count, index))));
      return [0, 1, 2].map((master) => masters.filter((held) => held === master).length);
    };
    expect(perMaster(2)).toEqual([1, 0, 1]);
    expect(perMaster(3)).toEqual([1, 1, 1]);
    expect(perMaster(4)).toEqual([1, 2, 1]);
    expect(perMaster(6)).toEqual([2, 2, 2]);
  });

  it('are named by a job id, which keeps its UUID form', () => {
    const id = withPartition('0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b', 6, 5);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(partitionOfId(id)).toEqual({ count: 6, index: 5 });
    expect(partitionOfId(withPartition(id, 1, 0))).toEqual({ count: 1, index: 0 });
  });

  it('are named by no id that does not end in four hex digits of a partition that can be, and any other asked for is refused at once', () => {
    for (const id of ['abc-001', 'abc-1ff', 'x', '', '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3fff00']) expect(partitionOfId(id)).toBeNull();
    expect(() => partitionTag('default', 0, 0)).toThrow(RangeError);
    expect(() => partitionTag('default', 65, 0)).toThrow(RangeError);
    expect(() => partitionTag('default', 4, 4)).toThrow(RangeError);
  });
});

describe('a producer on a queue of several partitions', () => {
  it('spreads jobs without a key evenly, and keeps one partition key\'s jobs, and one idempotency key\'s repeats, in one partition', async () => {
    const config = configWith('default:4');
    const { redis, queue } = await producer(config);
    try {
      await queue.addBulk(Array.from({ length: 400 }, (_, n) => ({ type: 'echo', payload: { n } })));
      expect(await streamLengths(redis, config, 4)).toEqual([100, 100, 100, 100]);
      const keyed = await Promise.all(Array.from({ length: 20 }, (_, n) => queue.add('echo', { n }, { partitionKey: 'customer-7' })));
      expect(new Set(keyed.map(({ id }) => partitionOfId(id)?.index)).size).toBe(1);
      const first = await queue.add('echo', { n: 1 }, { idempotencyKey: 'once' });
      const again = await Promise.all(Array.from({ length: 8 }, () => queue.add('echo', { n: 1 }, { idempotencyKey: 'once' })));
      expect(again.every((added) => added.duplicate && added.id === first.id)).toBe(true);
      expect((await streamLengths(redis, config, 4)).reduce((sum, length) => sum + length, 0)).toBe(421);
    } finally {
      await dropRedisKeys(config);
    }
  });

  it('finds, cancels and reports a job in one read of the place its id names, and a job added before the queue had partitions too', async () => {
    const config = configWith('default:3');
    const before = await producer(isolatedConfig('partitions', { REDIS_PREFIX: config.redis.prefix, QUEUES: 'default' }));
    const { redis, queue } = await producer(config);
    try {
      const legacy = await before.queue.add('echo', { n: 1 }, { delay: 60_000 });
      const partitioned = await queue.add('echo', { n: 2 }, { delay: 60_000 });
      expect(partitionOfId(partitioned.id)?.count).toBe(3);
      expect((await queue.getJob(legacy.id))?.status).toBe('scheduled');
      expect((await queue.getJob(partitioned.id))?.status).toBe('scheduled');
      await queue.cancel(legacy.id);
      await queue.cancel(partitioned.id);
      expect((await queue.getJob(legacy.id))?.status).toBe('cancelled');
      expect((await queue.getJob(partitioned.id))?.status).toBe('cancelled');
      await queue.add('echo', { n: 3 });
      const layouts = new QueueLayouts(redis, config.redis.prefix, config.queue.partitions);
      const stats = (await queueStats(redis, layouts, ['default'])).default;
      expect(stats?.counts.pending).toBe(1);
      expect(stats?.counts.cancelled).toBe(1);
      expect(stats?.partitions.map((partition) => `${partition.index}/${partition.of}`)).toEqual(['0/3', '1/3', '2/3']);
    } finally {
      await dropRedisKeys(config);
    }
  });
});

describe('workers on a queue of several partitions', () => {
  it('run every job of every partition, with their history in PostgreSQL, one reader connection per partition', async () => {
    const config = isolatedConfig('partitions', { QUEUES: 'default:6', CONCURRENCY: '8' });
    const system = await startInProcess(config, registry, handlers, { pool: database.pool });
    systems.push(system);
    const added = await system.queue.addBulk(Array.from({ length: 300 }, (_, n) => ({ type: 'echo', payload: { n } })));
    await waitFor('every job to complete', async () => {
      const stats = (await queueStats(system.redis, system.worker.layouts, ['default'])).default;
      return stats?.counts.completed === 300;
    }, 20_000);
    // On a cluster each reader holds a socket to its partition's master: its name is counted once, wherever it is.
    const lists = await Promise.all(serversOf(system.redis).map(async (server) => String(await server.client('LIST'))));
    const readers = new Set(lists.flatMap((list) => list.split('\n')).map((line) => /name=(\S+)/.exec(line)?.[1])
      .filter((name) => name?.startsWith(`${config.worker.consumerName}:default:`)));
    expect(readers.size).toBe(6);
    await waitFor('the history of every job in PostgreSQL', async () => {
      const stored = await Promise.all(added.map(({ id }) => jobsFindWithHistory(database.db, id)));
      return stored.every((job) => job?.status === 'completed');
    }, 20_000);
  });

  it('take up the partitions of an earlier partition count, so a queue repartitioned while it holds jobs loses none', async () => {
    const config = isolatedConfig('partitions', { QUEUES: 'default:3', CONCURRENCY: '8' });
    const earlier = await producer(isolatedConfig('partitions', { REDIS_PREFIX: config.redis.prefix, QUEUES: 'default:2' }));
    const old = await earlier.queue.addBulk(Array.from({ length: 50 }, (_, n) => ({ type: 'echo', payload: { n } })));
    expect(new Set(old.map(({ id }) => partitionOfId(id)?.count))).toEqual(new Set([2]));
    const system = await startInProcess(config, registry, handlers);
    systems.push(system);
    const fresh = await system.queue.addBulk(Array.from({ length: 50 }, (_, n) => ({ type: 'echo', payload: { n } })));
    await waitFor('the jobs of both partition counts to complete', async () => {
      const jobs = await Promise.all([...old, ...fresh].map(({ id }) => system.queue.getJob(id)));
      return jobs.every((job) => job?.status === 'completed');
    }, 20_000);
    expect(system.worker.layouts.all('default').map((partition) => `${partition.index}/${partition.count}`)).toEqual(['0/3', '1/3', '2/3', '0/2', '1/2']);
  });

  it('pause, list dead jobs and retry them across every partition', async () => {
    const config = isolatedConfig('partitions', { QUEUES: 'default:4', CONCURRENCY: '8' });
    const system = await startInProcess(config, registry, handlers);
    systems.push(system);
    const layouts = system.worker.layouts;
    const dead = await system.queue.addBulk(Array.from({ length: 8 }, () => ({ type: 'doomed', payload: {} })));
    const deadLetters = new DeadLetters(system.redis, layouts, ['default']);
    await waitFor('every doomed job to be dead', async () => (await deadLetters.count({})) === 8);
    const page = await deadLetters.list({ limit: 50 });
    expect(page.jobs.map((job) => job.id).sort()).toEqual(dead.map((job) => job.id).sort());
    const admin = new QueueAdmin(system.redis, layouts, ['default']);
    await admin.pause('default');
    expect((await queueStats(system.redis, layouts, ['default'])).default?.paused).toBe(true);
    const elsewhere = dead.find(({ id }) => partitionOfId(id)?.index !== 0) as { id: string };
    await deadLetters.retry(elsewhere.id);
    expect((await system.queue.getJob(elsewhere.id))?.status).toBe('pending');
    expect(await deadLetters.retryAll({})).toBe(7);
    const stats = (await queueStats(system.redis, layouts, ['default'])).default;
    expect(stats?.counts.pending).toBe(8);
    expect(stats?.partitions.map((partition) => partition.counts.pending)).toEqual([2, 2, 2, 2]);
    await admin.resume('default');
    await waitFor('the retried jobs to die again', async () => (await deadLetters.count({})) === 8);
  });
});

describe('the dead-letter listing of a queue of several partitions', () => {
  it('pages through entries of equal ids in different partitions without losing or repeating one', async () => {
    const config = isolatedConfig('partitions', { QUEUES: 'default:4', CONCURRENCY: '8' });
    const system = await startInProcess(config, registry, handlers);
    systems.push(system);
    const layouts = system.worker.layouts;
    const deadLetters = new DeadLetters(system.redis, layouts, ['default']);
    const dead = await system.queue.addBulk(Array.from({ length: 8 }, () => ({ type: 'doomed', payload: {} })));
    await waitFor('every doomed job to be dead', async () => (await deadLetters.count({})) === 8);
    // Separate streams often give entries the same id; here every partition's two entries get the same two
    // (later than any a stream gave already, as XADD requires).
    const later = Date.now() + 60_000;
    for (const { keys } of layouts.all('default')) {
      const entries = await system.redis.xrange(keys.dlq, '-', '+');
      for (const [index, [entryId, fields]] of entries.entries()) {
        const sameId = `${later}-${index}`;
        await system.redis.xdel(keys.dlq, entryId);
        await system.redis.xadd(keys.dlq, sameId, ...fields);
        await system.redis.hset(keys.job(fields[1] ?? ''), 'dlqId', sameId);
      }
    }
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 10; page += 1) {
      const listed = await deadLetters.list({ limit: 3, ...(cursor !== undefined && { cursor }) });
      seen.push(...listed.jobs.map((job) => job.id));
      if (listed.nextCursor === null) break;
      cursor = listed.nextCursor;
    }
    expect(seen.sort()).toEqual(dead.map((job) => job.id).sort());
  });
});

describe('a worker already running when a producer starts using another partition count', () => {
  it('starts reading the new partitions by itself, within a publication interval', async () => {
    const config = isolatedConfig('partitions', { QUEUES: 'default:2', CONCURRENCY: '8' });
    const system = await startInProcess(config, registry, handlers);
    systems.push(system);
    const later = await producer(isolatedConfig('partitions', { REDIS_PREFIX: config.redis.prefix, QUEUES: 'default:4' }));
    const added = await later.queue.addBulk(Array.from({ length: 40 }, (_, n) => ({ type: 'echo', payload: { n } })));
    expect(new Set(added.map(({ id }) => partitionOfId(id)?.count))).toEqual(new Set([4]));
    await waitFor('the jobs in the new partitions to complete', async () => {
      const jobs = await Promise.all(added.map(({ id }) => system.queue.getJob(id)));
      return jobs.every((job) => job?.status === 'completed');
    }, 20_000);
    expect(system.worker.layouts.all('default')).toHaveLength(6);
  });
});
