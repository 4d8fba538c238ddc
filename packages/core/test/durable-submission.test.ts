import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Type } from 'typebox';
import { Redis } from 'ioredis';
import { closeRedis, createRedis, defineJobType, JobTypeRegistry, NotReplicatedError, Queue, queueKeys, waitForRedis, type ScriptedRedis, type SluiceConfig } from '@sluice/core';
import { singleNodeConfig, waitFor } from '../../../test/support/context';
import { RedisServer } from '../../../test/support/redis-server';

// A master and a replica of this file's own: the test stops the replica, which no shared server may lose.
// The replica loads straight from the master's socket: a sync to disk would leave dump.rdb in the working directory.
const WAIT_TIMEOUT_MS = 300;
const registry = new JobTypeRegistry([defineJobType({ name: 'noop', payload: Type.Object({}) })]);

let master: RedisServer;
let replica: RedisServer;
let config: SluiceConfig;
let redis: ScriptedRedis;
let replicatedRedis: ScriptedRedis;
let queue: Queue;

async function linkedReplicas(server: RedisServer): Promise<number> {
  const probe = new Redis(server.url, { maxRetriesPerRequest: 0, retryStrategy: () => null });
  try {
    // A replica counts once its first sync is over: WAIT counts none before.
    return (await probe.info('replication')).match(/^slave\d+:.*state=online/gm)?.length ?? 0;
  } finally {
    probe.disconnect();
  }
}

beforeAll(async () => {
  master = await RedisServer.start();
  replica = await RedisServer.start(['--replicaof', '127.0.0.1', String(master.port), '--repl-diskless-load', 'on-empty-db']);
  await waitFor('the replica to be linked to its master', async () => (await linkedReplicas(master)) === 1, 10_000, 50);
  config = singleNodeConfig('durable-submission', {
    REDIS_URL: master.url, REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT_MS: String(WAIT_TIMEOUT_MS),
  });
  redis = createRedis(config.redis);
  replicatedRedis = createRedis(config.redis);
  await Promise.all([waitForRedis(redis, 5000), waitForRedis(replicatedRedis, 5000)]);
  queue = new Queue({ redis, replicatedRedis, redisConfig: config.redis, queueConfig: config.queue, registry });
});

afterAll(async () => {
  await closeRedis(redis);
  await closeRedis(replicatedRedis);
  await replica.stop();
  await master.stop();
});

describe('REDIS_WAIT_REPLICAS: a submission is answered once replicas have it', () => {
  it('answers only once the replica holds the job, so a failover to it keeps every job that was answered', async () => {
    // Waiting long enough that a loaded machine's replica always answers in time.
    const patient = new Queue({ redis, replicatedRedis, redisConfig: { ...config.redis, waitTimeoutMs: 10_000 }, queueConfig: config.queue, registry });
    const reader = new Redis(replica.url, { maxRetriesPerRequest: 0 });
    try {
      for (let i = 0; i < 20; i += 1) {
        const { id } = await patient.add('noop', {});
        // Read at once from the replica, with no wait: WAIT already saw it there.
        expect(await reader.hget(queueKeys(config.redis.prefix, 'default').job(id), 'status')).toBe('pending');
      }
    } finally {
      reader.disconnect();
    }
  });

  it('refuses with NOT_REPLICATED, saying what to do, when the replica does not confirm within the timeout', async () => {
    await replica.stop();
    await waitFor('the master to see its replica gone', async () => (await linkedReplicas(master)) === 0, 10_000, 50);
    const started = Date.now();
    const error = await queue.add('noop', {}, { idempotencyKey: 'kept-once' }).then(() => null, (caught: unknown) => caught);
    expect(error).toBeInstanceOf(NotReplicatedError);
    expect((error as NotReplicatedError).code).toBe('NOT_REPLICATED');
    expect((error as Error).message).toContain('only 0 of 1 replicas confirmed it within 300 ms');
    expect((error as Error).message).toContain('same Idempotency-Key');
    expect(Date.now() - started).toBeGreaterThanOrEqual(WAIT_TIMEOUT_MS - 20);
    // The master has the job: sent again with the same key, it is found, not added twice.
    const again = await queue.add('noop', {}, { idempotencyKey: 'kept-once' }).then(() => null, (caught: unknown) => caught);
    expect(again).toBeInstanceOf(NotReplicatedError);
    const keys = queueKeys(config.redis.prefix, 'default');
    expect(await redis.hget(keys.counts, 'pending')).toBe('21');
  });

  it('answers every submission that waits behind an unanswered WAIT with NOT_REPLICATED in time, and holds up nothing else', async () => {
    const started = Date.now();
    const submissions: Promise<unknown>[] = [];
    for (let i = 0; i < 5; i += 1) {
      submissions.push(queue.add('noop', {}, { idempotencyKey: `waiting-${i}` }).then(() => null, (caught: unknown) => caught));
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    // The job reads of the same producer go on meanwhile, on its other connection.
    const readStarted = Date.now();
    expect(await queue.getJob('01900000-0000-7000-8000-000000000000')).toBeNull();
    expect(Date.now() - readStarted).toBeLessThan(WAIT_TIMEOUT_MS);
    const errors = await Promise.all(submissions);
    expect(errors.map((error) => (error as { code?: string }).code)).toEqual(Array(5).fill('NOT_REPLICATED'));
    // The first waits alone; the others wait for it, then together: two timeouts, not five.
    expect(Date.now() - started).toBeLessThan(4 * WAIT_TIMEOUT_MS);
  });

  it('waits once per node, not once per partition, for a queue of several partitions', async () => {
    const partitioned = singleNodeConfig('durable-submission', {
      REDIS_URL: master.url, REDIS_PREFIX: config.redis.prefix, QUEUES: 'default:6', REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT_MS: String(WAIT_TIMEOUT_MS),
    });
    const producer = new Queue({ redis, replicatedRedis, redisConfig: partitioned.redis, queueConfig: partitioned.queue, registry });
    const started = Date.now();
    const errors = await Promise.all(Array.from({ length: 12 }, () => producer.add('noop', {}).then(() => null, (caught: unknown) => caught)));
    expect(errors.map((error) => (error as { code?: string }).code)).toEqual(Array(12).fill('NOT_REPLICATED'));
    expect(Date.now() - started).toBeLessThan(3 * WAIT_TIMEOUT_MS);
  });
});
