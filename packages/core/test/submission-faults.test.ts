import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Type } from 'typebox';
import { closeRedis, createRedis, defineJobType, JobTypeRegistry, NORMAL_BAND, Queue, queueKeys, waitForRedis, type ScriptedRedis } from '@sluice/core';
import { dropRedisKeys, isolatedConfig } from '../../../test/support/context';

const config = isolatedConfig('submission-faults', { QUEUES: 'good,broken' });
const registry = new JobTypeRegistry([defineJobType({ name: 'noop', payload: Type.Object({}) })]);
const good = queueKeys(config.redis.prefix, 'good');
const broken = queueKeys(config.redis.prefix, 'broken');

let redis: ScriptedRedis;
let queue: Queue;

beforeAll(async () => {
  redis = createRedis(config.redis);
  await waitForRedis(redis, 5000);
  queue = new Queue({ redis, redisConfig: config.redis, queueConfig: config.queue, registry });
});

afterAll(async () => {
  await closeRedis(redis);
  await dropRedisKeys(config);
});

describe('submissions when part of Redis fails', () => {
  it('fails only the jobs of the queue whose script failed, not those added to other queues in the same turn', async () => {
    // Any reply error of one queue's call will do: its stream key holds a string.
    await redis.set(broken.stream, 'not a stream');
    const [toGood, toBroken] = await Promise.allSettled([queue.add('noop', {}, { queue: 'good' }), queue.add('noop', {}, { queue: 'broken' })]);
    expect(toBroken.status).toBe('rejected');
    expect(toGood.status).toBe('fulfilled');
    const added = (toGood as PromiseFulfilledResult<{ id: string }>).value;
    expect((await queue.getJob(added.id))?.status).toBe('pending');
    await redis.del(broken.stream);
  });

  it('adds a job once when its enqueue call is sent twice, as a client does after a reconnect lost the reply', async () => {
    const before = await redis.xlen(good.stream);
    const counts = Number((await redis.hget(good.counts, 'pending')) ?? 0);
    const jobId = '01900000-0000-7000-8000-000000000001';
    const now = Date.now();
    const call = () => redis.enqueueJobs(14, good.events, good.counts, good.throughput(now), ...good.lanes, good.delayed, good.job(jobId), good.idempotency('resent'),
      now, 'good', 60_000, '', '', '', jobId, 'noop', '{}', 3, 0, NORMAL_BAND, now, 'resent', '', '', '');
    const first = await call();
    const again = await call();
    expect(first).toEqual([[1, jobId, 'pending']]);
    expect(again).toEqual([[1, jobId, 'pending']]);
    expect(await redis.xlen(good.stream)).toBe(before + 1);
    expect(Number(await redis.hget(good.counts, 'pending'))).toBe(counts + 1);
    expect((await queue.getJob(jobId))?.history).toHaveLength(1);
  });
});
