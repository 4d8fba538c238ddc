import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Type } from 'typebox';
import { DeadLetters, defineJobType, type Job, jobsFindWithHistory, JobTypeRegistry, PermanentJobError, queueKeys, QueueLayouts } from '@sluice/core';
import { StalledReclaimer } from '../src/maintenance/stalled-reclaimer';
import { createTestDatabase, isolatedConfig, waitFor, type TestDatabase } from '../../../test/support/context';
import { startInProcess, type InProcess } from '../../../test/support/in-process';

const config = isolatedConfig('dead-letter-bounds', { DEAD_JOBS_MAX: '3', DEAD_JOB_RETENTION_MS: '60000', CONCURRENCY: '50' });
const keys = queueKeys(config.redis.prefix, 'default');
const registry = new JobTypeRegistry([defineJobType({ name: 'doomed', payload: Type.Object({}), retry: { maxAttempts: 1 } })]);
const handlers = {
  doomed: () => {
    throw new PermanentJobError('always');
  },
};

let database: TestDatabase;
let system: InProcess;

beforeAll(async () => {
  database = await createTestDatabase(config);
  system = await startInProcess(config, registry, handlers, { pool: database.pool });
});
afterAll(async () => {
  await system?.close();
  await database?.drop();
});

async function deadInRedis(id: string): Promise<Job> {
  return waitFor(`job ${id} to be dead`, async () => {
    const job = await system.queue.getJob(id);
    return job?.status === 'dead' ? job : null;
  });
}

describe('dead jobs in Redis are bounded', () => {
  it('keeps at most DEAD_JOBS_MAX per queue: older ones leave Redis, stream and hash, and PostgreSQL keeps them', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1) {
      const { id } = await system.queue.add('doomed', {});
      await deadInRedis(id);
      ids.push(id);
    }
    expect(await system.redis.xlen(keys.dlq)).toBe(3);
    expect(await system.queue.getJob(ids[0] as string)).toBeNull();
    expect(await system.queue.getJob(ids[1] as string)).toBeNull();
    expect((await system.queue.getJob(ids[4] as string))?.status).toBe('dead');
    expect(Number(await system.redis.hget(keys.counts, 'dead'))).toBe(3);
    for (const id of ids) {
      await waitFor(`job ${id} to be dead in PostgreSQL`, async () => (await jobsFindWithHistory(database.db, id))?.status === 'dead');
    }
  });

  it('lets dead jobs older than DEAD_JOB_RETENTION_MS leave at the next sweep, even when no other job dies', async () => {
    const reclaimer = new StalledReclaimer({
      redis: system.redis, keys, queue: 'default', consumer: 'sweeper', visibilityTimeoutMs: 30_000, maxDeliveries: 5, deadLetters: config.queue,
      routing: { served: ',doomed,', elsewhere: () => ',' },
      // A clock past the retention of every dead job now in Redis.
      now: () => Date.now() + 61_000,
    });
    expect(await reclaimer.trimDeadLetters()).toBe(3);
    expect(await system.redis.xlen(keys.dlq)).toBe(0);
    expect(Number(await system.redis.hget(keys.counts, 'dead'))).toBe(0);
  });
});

describe('retrying every dead job', () => {
  const retryConfig = isolatedConfig('retry-all-end', { CONCURRENCY: '50' });
  const retryKeys = queueKeys(retryConfig.redis.prefix, 'default');
  let retrySystem: InProcess;
  beforeAll(async () => {
    retrySystem = await startInProcess(retryConfig, registry, handlers);
  });
  afterAll(async () => {
    await retrySystem?.close();
  });

  it('sends each back once, though the worker kills them again while the retrying goes on', async () => {
    // More than one batch of the retry script, and a worker that kills each retried job at once,
    // appending it to the dead-letter stream behind the entries still to be retried.
    const bulk = () => retrySystem.queue.addBulk(Array.from({ length: 600 }, () => ({ type: 'doomed', payload: {} })));
    const jobs = [...(await bulk()), ...(await bulk())];
    await waitFor('every job to be dead', async () => Number(await retrySystem.redis.hget(retryKeys.counts, 'dead')) === jobs.length, 30_000, 50);
    const deadLetters = new DeadLetters(retrySystem.redis, new QueueLayouts(retrySystem.redis, retryConfig.redis.prefix, retryConfig.queue.partitions), retryConfig.queue.queues);
    expect(await deadLetters.retryAll({})).toBe(jobs.length);
    await waitFor('every job to be dead again', async () => Number(await retrySystem.redis.hget(retryKeys.counts, 'dead')) === jobs.length, 30_000, 50);
    const histories = await Promise.all(jobs.map(async ({ id }) => (await retrySystem.queue.getJob(id))?.history ?? []));
    const sentBack = histories.map((history) => history.filter((event) => event.reason === 'retried from the dead-letter stream').length);
    expect(sentBack.filter((times) => times !== 1)).toEqual([]);
  }, 60_000);
});
