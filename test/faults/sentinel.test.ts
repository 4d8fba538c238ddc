import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Type } from 'typebox';
import {
  closeRedis, createRedis, defineJobType, JobTypeRegistry, loadConfig, Queue, RedisUnavailableError, waitForRedis, Worker, type ScriptedRedis,
  type SluiceConfig,
} from '@sluice/core';
import { isolatedConfig, waitFor } from '../support/context';
import { SENTINEL_MASTER, SentinelGroup } from '../support/sentinel-group';

const noop = defineJobType({ name: 'noop', payload: Type.Object({}) });
const registry = new JobTypeRegistry([noop]);

let group: SentinelGroup;
let config: SluiceConfig;
let redis: ScriptedRedis;
let queue: Queue;
let worker: Worker;
const completed = new Set<string>();

beforeAll(async () => {
  group = await SentinelGroup.start();
  const base = isolatedConfig('sentinel');
  // REDIS_URL names no node here: the sentinels say where the master is.
  config = loadConfig({
    REDIS_URL: 'redis://127.0.0.1:1', REDIS_SENTINELS: group.addresses, REDIS_SENTINEL_MASTER: SENTINEL_MASTER, REDIS_PREFIX: base.redis.prefix,
    WORKER_BLOCK_MS: '200', LOG_LEVEL: 'silent',
  });
  redis = createRedis(config.redis);
  redis.on('error', () => undefined);
  await waitForRedis(redis, 10_000);
  queue = new Queue({ redis, redisConfig: config.redis, queueConfig: config.queue, registry });
  worker = new Worker({ redis: config.redis, queue: config.queue, worker: config.worker, registry, handlers: { noop: () => 'done' } });
  worker.on('job:completed', ({ id }) => completed.add(id));
  await worker.start();
}, 60_000);

afterAll(async () => {
  await worker?.close(1000);
  if (redis) await closeRedis(redis);
  await group?.stop();
});

/** Submits until Redis takes the job: during a failover the producer answers 503 (RedisUnavailableError), briefly. */
async function submitThroughFailover(): Promise<{ id: string; refusals: number }> {
  let refusals = 0;
  const id = await waitFor('a submission to be taken', async () => {
    try {
      return (await queue.add('noop', {})).id;
    } catch (error) {
      if (!(error instanceof RedisUnavailableError)) throw error;
      refusals += 1;
      return null;
    }
  }, 30_000, 100);
  return { id, refusals };
}

describe('Redis behind Sentinel', () => {
  it('finds the master through the sentinels, and follows a failover: the producer answers again and the worker carries on by itself', async () => {
    const before = await Promise.all(Array.from({ length: 20 }, () => queue.add('noop', {}).then((job) => job.id)));
    await waitFor('the jobs before the failover to complete', () => before.every((id) => completed.has(id)), 10_000);
    expect(await group.masterPort()).toBe(group.master.port);

    await group.master.kill();
    const first = await submitThroughFailover();
    await waitFor('the sentinels to promote the replica', async () => (await group.masterPort()) === group.replica.port, 30_000, 100);

    const after = [first.id, ...(await Promise.all(Array.from({ length: 20 }, () => queue.add('noop', {}).then((job) => job.id))))];
    await waitFor('the jobs after the failover to complete on the new master', () => after.every((id) => completed.has(id)), 30_000);
    expect(await redis.call('ROLE')).toEqual(expect.arrayContaining(['master']));
  }, 90_000);
});
