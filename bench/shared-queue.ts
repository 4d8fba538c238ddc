/**
 * What a worker that serves other job types costs a queue it shares: the same backlog drained by two
 * workers of its type alone, then with a third worker on the queue that serves none of its jobs and
 * hands each one it reads on. Prints jobs/s of both runs and their ratio.
 *
 *   npx tsx --conditions=sluice-source bench/shared-queue.ts                  # 2,000 sleep jobs of 5 ms
 *   npx tsx --conditions=sluice-source bench/shared-queue.ts --jobs 5000 --ms 1
 *
 * Uses REDIS_URL, under a prefix of its own, removed at the end. Workers run in this process.
 */
import { parseArgs } from 'node:util';
import { Type } from 'typebox';
import {
  closeRedis, createRedis, defineJobType, JobTypeRegistry, Queue, queueKeys, waitForRedis, Worker, type JobHandler, type JobTypeDefinition, type SluiceConfig,
} from '@sluice/core';
import { dropRedisKeys, isolatedConfig, waitFor } from '../test/support/context';

const { values: options } = parseArgs({ options: { jobs: { type: 'string', default: '2000' }, ms: { type: 'string', default: '5' } } });
const JOBS = Number(options.jobs);
const MS = Number(options.ms);

const sleep = defineJobType({ name: 'sleep', payload: Type.Object({ ms: Type.Integer() }) });
const greet = defineJobType({ name: 'greet', payload: Type.Object({}) });
const sleepHandler = ({ payload }: { payload: { ms: number } }) => new Promise<void>((resolve) => setTimeout(resolve, payload.ms));

async function drain(withOtherWorker: boolean): Promise<number> {
  const config: SluiceConfig = isolatedConfig('bench-shared-queue');
  const redis = createRedis(config.redis);
  await waitForRedis(redis, 5000);
  const keys = queueKeys(config.redis.prefix, 'default');
  const worker = (name: string, types: JobTypeDefinition[], handlers: Record<string, JobHandler<never>>) =>
    new Worker({ redis: config.redis, queue: config.queue, worker: { ...config.worker, consumerName: name }, registry: new JobTypeRegistry(types), handlers });
  const workers = [worker('sleep-1', [sleep], { sleep: sleepHandler }), worker('sleep-2', [sleep], { sleep: sleepHandler })];
  if (withOtherWorker) workers.push(worker('greeter', [greet], { greet: () => 'hi' }));
  try {
    const queue = new Queue({ redis, redisConfig: config.redis, queueConfig: config.queue, registry: new JobTypeRegistry([sleep]) });
    await redis.set(keys.paused, '1');
    for (let i = 0; i < JOBS; i += 1000) await queue.addBulk(Array.from({ length: Math.min(1000, JOBS - i) }, () => ({ type: 'sleep', payload: { ms: MS } })));
    for (const running of workers) await running.start();
    const startedAt = Date.now();
    await redis.del(keys.paused);
    await waitFor('the backlog to drain', async () => Number(await redis.hget(keys.counts, 'completed')) === JOBS, 600_000, 20);
    const seconds = (Date.now() - startedAt) / 1000;
    return JOBS / seconds;
  } finally {
    await Promise.all(workers.map((running) => running.close(1000)));
    await closeRedis(redis);
    await dropRedisKeys(config);
  }
}

const alone = await drain(false);
const shared = await drain(true);
console.log(`${JOBS} sleep jobs of ${MS} ms, two workers of their type at c=${isolatedConfig('x').worker.concurrency}`);
console.log(`alone:                         ${alone.toFixed(0)} jobs/s`);
console.log(`with a worker of another type: ${shared.toFixed(0)} jobs/s`);
console.log(`ratio: ${(shared / alone).toFixed(2)}x`);
