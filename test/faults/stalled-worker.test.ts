import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeRedis, createRedis, jobsFindWithHistory, Queue, waitForRedis, type Job, type ScriptedRedis } from '@sluice/core';
import { createJobRegistry } from '@sluice/jobs';
import { createTestDatabase, dropRedisKeys, envFor, isolatedConfig, waitFor, type TestDatabase } from '../support/context';
import { ServiceProcess } from '../support/processes';

/**
 * A worker process that stalls (here SIGSTOP: a GC pause, a blocked event loop or a partition look
 * the same from outside) for longer than the visibility timeout is taken over by another. When it
 * wakes, its heartbeat and its late outcome must both be refused: the live worker's attempt wins.
 */
const config = isolatedConfig('stalled-worker', { VISIBILITY_TIMEOUT_MS: '1000' });
const workers = new Map<string, ServiceProcess>();
let database: TestDatabase;
let redis: ScriptedRedis;
let queue: Queue;

beforeAll(async () => {
  database = await createTestDatabase(config);
  redis = createRedis(config.redis);
  await waitForRedis(redis, 5000);
  queue = new Queue({ redis, redisConfig: config.redis, queueConfig: config.queue, registry: createJobRegistry() });
  for (const name of ['stalled-a', 'stalled-b']) {
    workers.set(name, ServiceProcess.start(name, 'apps/worker/src/main.ts', { ...envFor(config), VISIBILITY_TIMEOUT_MS: '1000', WORKER_NAME: name }));
  }
  await Promise.all([...workers.values()].map((worker) => worker.waitForOutput('worker started')));
}, 60_000);

afterAll(async () => {
  for (const worker of workers.values()) worker.child.kill('SIGCONT');
  await Promise.all([...workers.values()].map((worker) => worker.stop('SIGKILL')));
  if (redis) await closeRedis(redis);
  await dropRedisKeys(config);
  await database?.drop();
});

describe('a worker that stalls past the visibility timeout', () => {
  it('cannot complete the job the live worker took over, nor take its entry back, when it wakes', async () => {
    // Long enough that the stalled worker's handler finishes after it wakes, before the live one's.
    const { id } = await queue.add('sleep', { ms: 4000 });
    const first = await waitFor('the job to start', async () => {
      const job = await queue.getJob(id);
      return job?.status === 'processing' ? job : null;
    });
    const stalledName = first.history.at(-1)?.worker as string;
    const stalled = workers.get(stalledName) as ServiceProcess;
    stalled.child.kill('SIGSTOP');
    const takenOver = await waitFor('another worker to take the job over', async () => {
      const job = await queue.getJob(id);
      return job?.attempts === 2 ? job : null;
    }, 10_000);
    const liveName = takenOver.history.at(-1)?.worker;
    expect(liveName).not.toBe(stalledName);
    stalled.child.kill('SIGCONT');

    const done = await waitFor('the job to complete', async () => {
      const job = await queue.getJob(id);
      return job?.status === 'completed' ? job : null;
    }, 15_000);
    expect(done.history.map((event) => [event.status, event.attempt, event.worker])).toEqual([
      ['pending', 0, undefined],
      ['processing', 1, stalledName],
      ['processing', 2, liveName],
      ['completed', 2, liveName],
    ]);
    await stalled.waitForOutput('refused: the attempt is no longer current');
    const recorded: Job = await waitFor('PostgreSQL to hold the completion', async () => {
      const job = await jobsFindWithHistory(database.db, id);
      return job?.status === 'completed' ? job : null;
    });
    expect(recorded.history.map((event) => event.status)).toEqual(['pending', 'processing', 'processing', 'completed']);
  }, 40_000);
});
