import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Type } from 'typebox';
import { closeRedis, createRedis, defineJobType, JobTypeRegistry, Queue, waitForRedis, type ScriptedRedis } from '@sluice/core';
import { createTestDatabase, dropRedisKeys, envFor, isolatedConfig, waitFor, type TestDatabase } from '../support/context';
import { ServiceProcess } from '../support/processes';

const config = isolatedConfig('recycle');
let database: TestDatabase;
let redis: ScriptedRedis;
let worker: ServiceProcess | undefined;

beforeAll(async () => {
  database = await createTestDatabase(config);
  redis = createRedis(config.redis);
  await waitForRedis(redis, 5000);
});

afterAll(async () => {
  await worker?.stop('SIGKILL');
  if (redis) await closeRedis(redis);
  await dropRedisKeys(config);
  await database?.drop();
});

describe('a worker process whose handlers never return', () => {
  it('stops gracefully and exits 0 once RECYCLE_AFTER_ABANDONED handlers outlive their attempts, for its supervisor to replace it', async () => {
    worker = ServiceProcess.start('stubborn', 'test/fixtures/stubborn-worker.ts', { ...envFor(config), CONCURRENCY: '4', RECYCLE_AFTER_ABANDONED: '2' });
    await worker.waitForOutput('worker started');
    const queue = new Queue({
      redis, redisConfig: config.redis, queueConfig: config.queue,
      registry: new JobTypeRegistry([defineJobType({ name: 'stubborn', payload: Type.Object({}) })]),
    });
    const jobs = await queue.addBulk([{ type: 'stubborn', payload: {}, maxAttempts: 1 }, { type: 'stubborn', payload: {}, maxAttempts: 1 }]);
    const exited = await waitFor('the worker to exit', () => (worker?.child.exitCode === null ? null : { code: worker?.child.exitCode }), 20_000);
    expect(exited.code).toBe(0);
    expect(worker.output.join('\n')).toContain('too many handlers still running past their attempts');
    for (const { id } of jobs) expect((await queue.getJob(id))?.status).toBe('dead');
  }, 40_000);

  it('still stops gracefully when a SIGTERM arrives during the recycling stop', async () => {
    worker = ServiceProcess.start('stubborn-term', 'test/fixtures/stubborn-worker.ts', { ...envFor(config), CONCURRENCY: '4', RECYCLE_AFTER_ABANDONED: '2' });
    await worker.waitForOutput('worker started');
    const queue = new Queue({
      redis, redisConfig: config.redis, queueConfig: config.queue,
      registry: new JobTypeRegistry([
        defineJobType({ name: 'stubborn', payload: Type.Object({}) }), defineJobType({ name: 'slow', payload: Type.Object({ ms: Type.Integer() }) }),
      ]),
    });
    // The slow job keeps the stop busy, so the SIGTERM lands while it is under way.
    const slow = await queue.add('slow', { ms: 1500 });
    await waitFor('the slow job to start', async () => (await queue.getJob(slow.id))?.status === 'processing');
    await queue.addBulk([{ type: 'stubborn', payload: {}, maxAttempts: 1 }, { type: 'stubborn', payload: {}, maxAttempts: 1 }]);
    await worker.waitForOutput('too many handlers still running past their attempts');
    worker.child.kill('SIGTERM');
    const exited = await waitFor('the worker to exit', () => (worker?.child.exitCode === null ? null : { code: worker?.child.exitCode }), 20_000);
    expect(exited.code).toBe(0);
    expect(worker.output.join('\n')).not.toContain('second signal');
    expect((await queue.getJob(slow.id))?.status).toBe('completed');
  }, 40_000);
});
