/**
 * How close the rate of starts stays to a rate limit, whatever the number of workers. For 1, 3 and 6
 * worker processes: a backlog of BACKLOG jobs, a limit of 100 starts a second, and the jobs completed
 * over MEASURE_MS, after WARM_UP_MS (which the limit's first burst falls in), from the queue's counters.
 * Two limits, each run on its own Redis prefix:
 *
 *   - the job type's (`metered`, bench/rate-limited-jobs.ts, in `sluice worker` processes), whose held
 *     jobs wait parked and are let go as the window has room;
 *   - the queue's (`PUT /queues/:name/limits`, through QueueAdmin), on `noop` jobs in stock workers,
 *     which read no more than may start.
 *
 *   npx tsx --conditions=sluice-source bench/rate-limit.ts [--seconds 30] [--workers 1,3,6]
 *
 * Uses this machine's Redis and PostgreSQL (REDIS_URL / DATABASE_URL) under prefixes and schemas of its
 * own, removed at the end of each run.
 */
import { randomUUID } from 'node:crypto';
import { availableParallelism, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { closeRedis, createRedis, JobTypeRegistry, loadConfig, Queue, QueueAdmin, queueKeys, QueueLayouts, waitForRedis, type SluiceConfig } from '@sluice/core';
import { createJobRegistry } from '@sluice/jobs';
import { createTestDatabase, dropRedisKeys, envFor } from '../test/support/context';
import { ServiceProcess } from '../test/support/processes';
import { RATE, types } from './rate-limited-jobs';

const { values: options } = parseArgs({ options: { seconds: { type: 'string', default: '30' }, workers: { type: 'string', default: '1,3,6' } } });
const MEASURE_MS = Number(options.seconds) * 1000;
const WARM_UP_MS = 3000;
const LIMIT_PER_SECOND = (RATE.max * 1000) / RATE.perMs;
/** More than the run can start, so the workers never run out. */
const BACKLOG = Math.ceil((LIMIT_PER_SECOND * (MEASURE_MS + WARM_UP_MS)) / 1000 * 1.2);

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

interface Measured {
  limit: 'type' | 'queue';
  workers: number;
  perSecond: number;
}

async function run(limit: 'type' | 'queue', workerCount: number): Promise<Measured> {
  const id = randomUUID().slice(0, 8);
  const config: SluiceConfig = loadConfig({
    REDIS_URL: process.env.REDIS_URL, DATABASE_URL: process.env.DATABASE_URL, REDIS_PREFIX: `bench-rate-${id}`, DATABASE_SCHEMA: `bench_rate_${id}`, CONCURRENCY: '50',
  });
  const database = await createTestDatabase(config);
  const redis = createRedis(config.redis);
  const workers: ServiceProcess[] = [];
  try {
    await waitForRedis(redis, 5000);
    const registry = limit === 'type' ? new JobTypeRegistry(types) : createJobRegistry();
    const queue = new Queue({ redis, redisConfig: config.redis, queueConfig: config.queue, registry });
    if (limit === 'queue') await new QueueAdmin(redis, new QueueLayouts(redis, config.redis.prefix, config.queue.partitions), config.queue.queues).setLimits('default', { rate: RATE });
    const env = { ...envFor(config), CONCURRENCY: '50' };
    for (let n = 1; n <= workerCount; n += 1) {
      const name = `bench-${id}-${n}`;
      workers.push(limit === 'type'
        ? ServiceProcess.start(name, 'packages/cli/src/main.ts', { ...env, WORKER_NAME: name }, ['worker', 'bench/rate-limited-jobs.ts'])
        : ServiceProcess.start(name, 'apps/worker/src/main.ts', { ...env, WORKER_NAME: name }));
    }
    await Promise.all(workers.map((worker) => worker.waitForOutput('worker started')));
    const type = limit === 'type' ? 'metered' : 'noop';
    for (let added = 0; added < BACKLOG; added += 1000) await queue.addBulk(Array.from({ length: Math.min(1000, BACKLOG - added) }, () => ({ type, payload: {} })));
    const counts = queueKeys(config.redis.prefix, 'default').counts;
    const completed = async (): Promise<[number, number]> => [Number((await redis.hget(counts, 'completed')) ?? 0), performance.now()];
    await sleep(WARM_UP_MS);
    const [from, fromAt] = await completed();
    await sleep(MEASURE_MS);
    const [to, toAt] = await completed();
    if (to - from >= BACKLOG - from - 1) throw new Error('the backlog ran out before the measurement ended');
    return { limit, workers: workerCount, perSecond: ((to - from) * 1000) / (toAt - fromAt) };
  } finally {
    await Promise.all(workers.map((worker) => worker.stop('SIGTERM')));
    await dropRedisKeys(config);
    await closeRedis(redis);
    await database.drop();
  }
}

async function main(): Promise<void> {
  const counts = String(options.workers).split(',').map(Number);
  console.log(`limit ${RATE.max} per ${RATE.perMs} ms (${LIMIT_PER_SECOND}/s); backlog ${BACKLOG}; completed over ${MEASURE_MS / 1000} s after ${WARM_UP_MS / 1000} s`);
  const loadBefore = loadavg()[0] ?? Number.NaN;
  for (const limit of ['type', 'queue'] as const) {
    for (const workers of counts) {
      const { perSecond } = await run(limit, workers);
      const off = ((perSecond - LIMIT_PER_SECOND) / LIMIT_PER_SECOND) * 100;
      console.log(`${`${limit} limit, ${workers} worker process${workers === 1 ? '' : 'es'}`.padEnd(34)} ${perSecond.toFixed(2)}/s  (${off >= 0 ? '+' : ''}${off.toFixed(2)}% of the limit)`);
    }
  }
  console.log(`load average (1 min): ${loadBefore.toFixed(1)} at the start, ${(loadavg()[0] ?? Number.NaN).toFixed(1)} at the end, ${availableParallelism()} CPUs`);
}

await main();
