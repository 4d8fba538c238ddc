/**
 * How long a job waits to start while a flood of other jobs is queued, with and without priorities.
 * A flood of FLOOD `sleep` jobs (2 ms each) is added at once; then URGENT `noop` jobs arrive one every
 * URGENT_EVERY_MS, while the flood is still queued, and each one's wait is measured: its `processing`
 * event minus its creation. Three runs on the same two worker processes:
 *
 *   - idle: the urgent jobs alone, on an empty queue (the floor);
 *   - flood, one band: flood and urgent jobs all of priority 0 (a queue without priorities);
 *   - flood, bands: the flood of priority -500 (lowest band), the urgent jobs of 500 (highest).
 *
 *   npx tsx --conditions=sluice-source bench/priority.ts
 *
 * Uses this machine's Redis and PostgreSQL (REDIS_URL / DATABASE_URL) under a prefix and schema of
 * its own, removed at the end.
 */
import { randomUUID } from 'node:crypto';
import { availableParallelism, loadavg } from 'node:os';
import { closeRedis, createRedis, loadConfig, Queue, queueKeys, waitForRedis, type Job } from '@sluice/core';
import { createJobRegistry } from '@sluice/jobs';
import { createTestDatabase, dropRedisKeys, envFor, waitFor, type TestDatabase } from '../test/support/context';
import { ServiceProcess } from '../test/support/processes';
import { percentile } from './percentile';

const FLOOD = 40_000;
const URGENT = 200;
const URGENT_EVERY_MS = 15;
const WORKERS = 2;
const CONCURRENCY = 20;

const id = randomUUID().slice(0, 8);
const config = loadConfig({
  REDIS_URL: process.env.REDIS_URL,
  DATABASE_URL: process.env.DATABASE_URL,
  REDIS_PREFIX: `bench-priority-${id}`,
  DATABASE_SCHEMA: `bench_priority_${id}`,
});
const keys = queueKeys(config.redis.prefix, 'default');

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

interface Run {
  label: string;
  waits: number[];
  /** Flood jobs still waiting when the last urgent job was added: the flood outlasted the run. */
  floodLeft: number;
}

function waitOf(job: Job): number {
  const processing = job.history.find((event) => event.status === 'processing');
  if (!processing) throw new Error(`job ${job.id} has no processing event`);
  return new Date(processing.at).getTime() - new Date(job.createdAt).getTime();
}

async function run(queue: Queue, redis: ReturnType<typeof createRedis>, label: string, flood: number | undefined, urgent: number): Promise<Run> {
  if (flood !== undefined) {
    for (let added = 0; added < FLOOD; added += 1000) {
      await queue.addBulk(Array.from({ length: 1000 }, () => ({ type: 'sleep', payload: { ms: 2 }, priority: flood })));
    }
  }
  const ids: string[] = [];
  for (let n = 0; n < URGENT; n += 1) {
    const next = Date.now() + URGENT_EVERY_MS;
    ids.push((await queue.add('noop', { n }, { priority: urgent })).id);
    await sleep(next - Date.now());
  }
  const floodLeft = Number((await redis.hget(keys.counts, 'pending')) ?? 0);
  await waitFor('the flood and the urgent jobs to finish', async () => Number((await redis.hget(keys.counts, 'pending')) ?? 0) === 0
    && Number((await redis.hget(keys.counts, 'processing')) ?? 0) === 0, 300_000, 250);
  const jobs = await Promise.all(ids.map((jobId) => queue.getJob(jobId)));
  return { label, waits: jobs.map((job) => waitOf(job as Job)), floodLeft };
}

function line({ label, waits, floodLeft }: Run): string {
  const sorted = [...waits].sort((a, b) => a - b);
  return `${label.padEnd(46)} n=${sorted.length}  p50=${percentile(sorted, 50)}  p90=${percentile(sorted, 90)}  p99=${percentile(sorted, 99)}  max=${sorted.at(-1)}  flood left=${floodLeft}`;
}

async function main(): Promise<void> {
  let database: TestDatabase | undefined;
  const workers: ServiceProcess[] = [];
  const redis = createRedis(config.redis);
  try {
    database = await createTestDatabase(config);
    await waitForRedis(redis, 5000);
    const queue = new Queue({ redis, redisConfig: config.redis, queueConfig: config.queue, registry: createJobRegistry() });
    const env = { ...envFor(config), WORKER_BLOCK_MS: String(config.worker.blockMs), CONCURRENCY: String(CONCURRENCY) };
    for (let n = 1; n <= WORKERS; n += 1) workers.push(ServiceProcess.start(`worker-${n}`, 'apps/worker/src/main.ts', { ...env, WORKER_NAME: `bench-${id}-${n}` }));
    await Promise.all(workers.map((worker) => worker.waitForOutput('worker started')));

    console.log(`${WORKERS} worker processes × ${CONCURRENCY}; flood: ${FLOOD} sleep jobs of 2 ms added at once; ${URGENT} noop jobs, one every ${URGENT_EVERY_MS} ms`);
    console.log('wait in ms of the noop jobs (processing − created):');
    const loadBefore = loadavg()[0] ?? Number.NaN;
    const idle = await run(queue, redis, 'idle queue, priority 0', undefined, 0);
    const oneBand = await run(queue, redis, 'flood of priority 0, noop of priority 0', 0, 0);
    const bands = await run(queue, redis, 'flood of priority -500, noop of priority 500', -500, 500);
    for (const result of [idle, oneBand, bands]) console.log(line(result));
    const p = (result: Run, q: number): number => percentile([...result.waits].sort((a, b) => a - b), q);
    console.log(`with bands against one band: p50 ${(p(bands, 50) / p(oneBand, 50)).toFixed(4)}×, p99 ${(p(bands, 99) / p(oneBand, 99)).toFixed(4)}×`);
    console.log(`with bands against the idle queue: p50 ${(p(bands, 50) / Math.max(1, p(idle, 50))).toFixed(1)}×, p99 ${(p(bands, 99) / Math.max(1, p(idle, 99))).toFixed(1)}×`);
    console.log(`load average (1 min): ${loadBefore.toFixed(1)} at the start, ${(loadavg()[0] ?? Number.NaN).toFixed(1)} at the end, ${availableParallelism()} CPUs`);
    if (oneBand.floodLeft === 0 || bands.floodLeft === 0) console.log('the flood drained before the last noop job was added: make FLOOD larger on this machine');
  } finally {
    await Promise.all(workers.map((worker) => worker.stop('SIGTERM')));
    await dropRedisKeys(config);
    await closeRedis(redis);
    await database?.drop();
  }
}

await main();
