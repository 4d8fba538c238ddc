/**
 * Transactional enqueue against plain `Queue.addBulk`, with a stock worker process (which runs the
 * outbox relay) consuming as the jobs come:
 *
 * - the relay alone: JOBS jobs committed to the outbox first, then drained into Redis by one relay
 *   (no worker running), against the same jobs added by `addBulk` in batches of RELAY_BATCH.
 * - the relay's own delay: RELAY_PROBES jobs each committed alone, one every 10 ms, with a relay
 *   running in this process and no worker; the time from `COMMIT` returning to the job hash existing.
 * - throughput: JOBS `noop` jobs from PRODUCERS concurrent producers in batches of BATCH, each batch
 *   one `addBulk` call, or one transaction (`BEGIN`, `enqueueInTransaction`, `COMMIT`); jobs/s until
 *   the last is in Redis (for the outbox: relayed, its row deleted) and until the last has completed.
 * - latency: PACED jobs one at a time at RATE a second, each `add`ed, or enqueued in a transaction of
 *   its own; enqueue→start is the job's `processing` event minus the moment `add` (or `COMMIT`) returned.
 *
 *   npx tsx --conditions=sluice-source bench/outbox.ts
 *
 * Uses this machine's Redis and PostgreSQL (REDIS_URL / DATABASE_URL) under a prefix and schema of
 * its own, removed at the end.
 */
import { randomUUID } from 'node:crypto';
import { availableParallelism, loadavg } from 'node:os';
import { closeRedis, createRedis, loadConfig, OUTBOX_BATCH_ROWS, outboxBacklog, OutboxRelay, Queue, queueKeys, waitForRedis, type BulkJob } from '@sluice/core';
import { createJobRegistry } from '@sluice/jobs';
import { createTestDatabase, dropRedisKeys, envFor, waitFor, type TestDatabase } from '../test/support/context';
import { ServiceProcess } from '../test/support/processes';
import { percentile } from './percentile';

const JOBS = 20_000;
const BATCH = 100;
const PRODUCERS = 4;
const PACED = 1000;
const RATE = 200;
const RELAY_PROBES = 200;

const id = randomUUID().slice(0, 8);
const config = loadConfig({
  REDIS_URL: process.env.REDIS_URL,
  DATABASE_URL: process.env.DATABASE_URL,
  REDIS_PREFIX: `bench-outbox-${id}`,
  DATABASE_SCHEMA: `bench_outbox_${id}`,
  // Paced transactions that a loaded machine slows down must not wait for a connection.
  DATABASE_POOL_SIZE: '20',
});
const keys = queueKeys(config.redis.prefix, 'default');
const redis = createRedis(config.redis);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
const noops = (count: number, from: number): BulkJob[] => Array.from({ length: count }, (_, n) => ({ type: 'noop', payload: { n: from + n } }));

/** Submits one batch: into Redis, or into the outbox in a transaction of its own. */
type Submit = (jobs: BulkJob[]) => Promise<string[]>;

interface Throughput {
  inRedisPerSecond: number;
  completedPerSecond: number;
}

async function throughput(submit: Submit, inRedis: () => Promise<boolean>, completed: () => Promise<number>): Promise<Throughput> {
  const done = await completed();
  const start = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: PRODUCERS }, async () => {
    while (next < JOBS) {
      const from = next;
      next += BATCH;
      await submit(noops(BATCH, from));
    }
  }));
  await waitFor('every job to be in Redis', inRedis, 120_000, 5);
  const inRedisMs = performance.now() - start;
  await waitFor('every job to complete', async () => (await completed()) - done >= JOBS, 120_000, 20);
  const completedMs = performance.now() - start;
  return { inRedisPerSecond: Math.round(JOBS / (inRedisMs / 1000)), completedPerSecond: Math.round(JOBS / (completedMs / 1000)) };
}

/** Enqueue→start in ms of PACED jobs submitted one at a time at RATE a second. */
async function latency(queue: Queue, submitOne: () => Promise<string>): Promise<number[]> {
  const acknowledged = new Map<string, number>();
  const start = Date.now();
  await Promise.all(Array.from({ length: PACED }, async (_, n) => {
    await sleep(start + (n * 1000) / RATE - Date.now());
    const jobId = await submitOne();
    acknowledged.set(jobId, Date.now());
  }));
  const jobs = await waitFor('the paced jobs to complete', async () => {
    const found = await Promise.all([...acknowledged.keys()].map((jobId) => queue.getJob(jobId)));
    return found.every((job) => job?.status === 'completed') ? found : null;
  }, 60_000, 200);
  return jobs.map((job) => {
    const processing = job?.history.find((event) => event.status === 'processing');
    return new Date(processing?.at ?? Number.NaN).getTime() - (acknowledged.get(job?.id ?? '') ?? Number.NaN);
  }).sort((a, b) => a - b);
}

/** Jobs/s of one relay draining JOBS committed rows, and of addBulk adding as many, in batches of the relay's size. */
async function relayAlone(queue: Queue, submit: Submit, database: TestDatabase): Promise<{ relay: number; addBulk: number }> {
  for (let from = 0; from < JOBS; from += 1000) await submit(noops(1000, from));
  const relay = new OutboxRelay({ pool: database.pool, schema: config.postgres.schema, queue });
  let start = performance.now();
  while ((await relay.runOnce()) > 0);
  const relayMs = performance.now() - start;
  start = performance.now();
  for (let from = 0; from < JOBS; from += OUTBOX_BATCH_ROWS) await queue.addBulk(noops(OUTBOX_BATCH_ROWS, from));
  const addBulkMs = performance.now() - start;
  return { relay: Math.round(JOBS / (relayMs / 1000)), addBulk: Math.round(JOBS / (addBulkMs / 1000)) };
}

/** Ms from COMMIT to the job in Redis, RELAY_PROBES times, with a relay of this process running. */
async function relayDelay(queue: Queue, submit: Submit, database: TestDatabase): Promise<number[]> {
  const relay = new OutboxRelay({ pool: database.pool, schema: config.postgres.schema, queue });
  relay.start();
  const delays: number[] = [];
  try {
    for (let n = 0; n < RELAY_PROBES; n += 1) {
      const [jobId] = await submit(noops(1, n));
      const committed = performance.now();
      await waitFor('the job to reach Redis', async () => (await redis.exists(keys.job(jobId as string))) === 1, 10_000, 0);
      delays.push(performance.now() - committed);
      await sleep(10);
    }
  } finally {
    await relay.stop();
  }
  return delays.sort((a, b) => a - b);
}

async function main(): Promise<void> {
  let database: TestDatabase | undefined;
  let worker: ServiceProcess | undefined;
  try {
    database = await createTestDatabase(config);
    const { pool } = database;
    await waitForRedis(redis, 5000);
    const queue = new Queue({ redis, redisConfig: config.redis, queueConfig: config.queue, registry: createJobRegistry(), schema: config.postgres.schema });
    const inTransaction: Submit = async (jobs) => {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const added = await queue.enqueueInTransaction(client, jobs);
        await client.query('COMMIT');
        return added.map((job) => job.id);
      } finally {
        client.release();
      }
    };
    const direct: Submit = async (jobs) => (await queue.addBulk(jobs)).map((job) => job.id);
    const completed = async (): Promise<number> => Number((await redis.hget(keys.counts, 'completed')) ?? 0);

    const ratio = (a: number, b: number): string => (a / b).toFixed(2);
    const loadBefore = loadavg()[0] ?? Number.NaN;
    const alone = await relayAlone(queue, inTransaction, database);
    console.log(`${JOBS} jobs committed first, then drained by one relay (no worker): ${alone.relay} jobs/s; addBulk of ${OUTBOX_BATCH_ROWS} at a time: ${alone.addBulk} jobs/s; relay / addBulk ${ratio(alone.relay, alone.addBulk)}×`);
    const delays = await relayDelay(queue, inTransaction, database);
    const inMs = (value: number): string => value.toFixed(1);
    console.log(`relay's own delay, COMMIT → job in Redis, ${RELAY_PROBES} single-job commits 10 ms apart (ms): p50=${inMs(percentile(delays, 50))}  p95=${inMs(percentile(delays, 95))}  max=${inMs(delays.at(-1) ?? Number.NaN)}`);
    // Those jobs are not to be run: the worker starts on an empty queue.
    await dropRedisKeys(config);
    worker = ServiceProcess.start('worker', 'apps/worker/src/main.ts', { ...envFor(config), CONCURRENCY: '50', WORKER_NAME: `bench-outbox-${id}` });
    await worker.waitForOutput('worker started');

    console.log(`${JOBS} noop jobs in batches of ${BATCH} from ${PRODUCERS} producers; one stock worker process at concurrency 50 with its outbox relay`);
    // addBulk has put every job in Redis by the time it returns.
    const plain = await throughput(direct, async () => true, completed);
    const outbox = await throughput(inTransaction, async () => (await outboxBacklog(pool)).rows === 0, completed);
    console.log(`Queue.addBulk:           in Redis ${plain.inRedisPerSecond} jobs/s, completed ${plain.completedPerSecond} jobs/s`);
    console.log(`enqueueInTransaction:    in Redis ${outbox.inRedisPerSecond} jobs/s, completed ${outbox.completedPerSecond} jobs/s`);
    console.log(`outbox / direct:         in Redis ${ratio(outbox.inRedisPerSecond, plain.inRedisPerSecond)}×, completed ${ratio(outbox.completedPerSecond, plain.completedPerSecond)}×`);

    console.log(`${PACED} jobs one at a time at ${RATE}/s; enqueue→start in ms (processing event − add or COMMIT returned)`);
    const directLatency = await latency(queue, async () => (await queue.add('noop', {})).id);
    const outboxLatency = await latency(queue, async () => (await inTransaction(noops(1, 0)))[0] as string);
    const summary = (sorted: number[]): string => `p50=${percentile(sorted, 50)}  p95=${percentile(sorted, 95)}  p99=${percentile(sorted, 99)}  max=${sorted.at(-1)}`;
    console.log(`Queue.add:               ${summary(directLatency)}`);
    console.log(`enqueueInTransaction:    ${summary(outboxLatency)}`);
    console.log(`added by the outbox:     p50 +${percentile(outboxLatency, 50) - percentile(directLatency, 50)} ms, p95 +${percentile(outboxLatency, 95) - percentile(directLatency, 95)} ms`);
    const relayTrouble = worker.output.filter((outputLine) => outputLine.includes('outbox relay'));
    console.log(`the worker's relay logged ${relayTrouble.length} warnings${relayTrouble.length > 0 ? `:\n${relayTrouble.join('\n')}` : ''}`);
    console.log(`load average (1 min): ${loadBefore.toFixed(1)} at the start, ${(loadavg()[0] ?? Number.NaN).toFixed(1)} at the end, ${availableParallelism()} CPUs`);
  } finally {
    await worker?.stop('SIGTERM');
    await dropRedisKeys(config);
    await closeRedis(redis);
    await database?.drop();
  }
}

await main();
