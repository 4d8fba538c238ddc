/**
 * Sluice against BullMQ on the same Redis, the same machine, in one run, taking turns over several
 * rounds; prints each figure's median and the Sluice/BullMQ ratio.
 *
 *   npm run bench                 # 3 rounds of 50,000 jobs
 *   npm run bench -- --rounds 5 --jobs 20000
 *
 * Scenarios, each from the library API with no-op jobs:
 *   enqueue      bulk add in batches of 1,000 (Sluice: Queue.addBulk; BullMQ: Queue.addBulk)
 *   process      one worker process at concurrency 50 working through the enqueued jobs
 *   end-to-end   producer and that worker running at the same time
 *   latency      enqueue→start p50/p99 at a steady 1,000 jobs/s for 10 s
 *   delayed      start lateness (start − due time) p50/p99 of 5,000 jobs (--delayed-jobs) added at once,
 *                due 1 s + uniform(0..5 s) later (Sluice: `runAt`; BullMQ: `delay`), run by one
 *                worker already waiting; the round line also counts jobs that started early
 *   memory       (opt-in: --scenarios memory) Redis memory and worker RSS growth from half-way to the
 *                end of 200,000 jobs run end to end; Sluice keeps finished jobs 1 s, BullMQ removes
 *                them on completion
 * Sluice runs with its PostgreSQL history on, and a clock stops only once every job's events are in
 * PostgreSQL. Uses REDIS_URL / DATABASE_URL (this machine's servers by default), under prefixes and a
 * schema of its own, removed at the end.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Queue as BullQueue } from 'bullmq';
import { Redis } from 'ioredis';
import { closeRedis, createRedis, loadConfig, Queue, queueKeys, waitForRedis, type SluiceConfig } from '@sluice/core';
import { createJobRegistry } from '@sluice/jobs';
import { createTestDatabase, dropRedisKeys, envFor, type TestDatabase } from '../test/support/context';
import { ServiceProcess } from '../test/support/processes';

const { values: options } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    jobs: { type: 'string', default: '50000' },
    concurrency: { type: 'string', default: '50' },
    scenarios: { type: 'string', default: 'enqueue,process,end-to-end,latency,delayed' },
    'memory-jobs': { type: 'string', default: '200000' },
    'delayed-jobs': { type: 'string', default: '5000' },
  },
});
const ROUNDS = Number(options.rounds);
const JOBS = Number(options.jobs);
const CONCURRENCY = Number(options.concurrency);
const BATCH = 1000;
const SCENARIOS = new Set(options.scenarios.split(','));
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const MEMORY_JOBS = Number(options['memory-jobs']);
/** Delayed jobs are due DELAYED_LEAD_MS + uniform(0..DELAYED_SPREAD_MS) after the scenario starts: the lead leaves time to add them all. */
const DELAYED_LEAD_MS = 1000;
const DELAYED_SPREAD_MS = 5000;
/** Drawn once, so every system and round gets the same due times relative to its start. */
const DELAYED_OFFSETS = Array.from({ length: Number(options['delayed-jobs']) }, () => DELAYED_LEAD_MS + Math.round(Math.random() * DELAYED_SPREAD_MS));
/** Sluice keeps a finished job's hash this long (its shortest allowed), so the memory scenario sees steady state. */
const RETENTION_MS = 1000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
const percentile = (sorted: readonly number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 600_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** One system under test: how to enqueue, run a worker, and know that everything is done. */
interface System {
  name: string;
  setUp(): Promise<void>;
  enqueue(count: number, paced?: { perSecond: number }): Promise<void>;
  /** One no-op job due at each of `dueTimes` (epoch ms). */
  enqueueDue(dueTimes: readonly number[]): Promise<void>;
  startWorker(): Promise<ServiceProcess>;
  /** Whether `count` jobs have finished (for Sluice: with every event in PostgreSQL). */
  finished(count: number): Promise<boolean>;
  /** How long PostgreSQL took to hold every job after Redis had them all, at the last `finished` (ms). */
  historyLagMs?(): number | undefined;
  /** start − due time of every finished job, in ms, sorted; for a job due at once, enqueue→start. */
  startLateness(): Promise<number[]>;
  tearDown(): Promise<void>;
}

function sluice(): System {
  const id = randomUUID().slice(0, 8);
  const config: SluiceConfig = loadConfig({
    REDIS_URL, DATABASE_URL: process.env.DATABASE_URL, REDIS_PREFIX: `bench-sluice-${id}`, DATABASE_SCHEMA: `bench_sluice_${id}`, LOG_LEVEL: 'warn',
    JOB_RETENTION_MS: String(RETENTION_MS),
  });
  const registry = createJobRegistry();
  let redis: ReturnType<typeof createRedis>;
  let queue: Queue;
  let database: TestDatabase;
  let redisDoneAt: number | undefined;
  let historyLag: number | undefined;
  return {
    name: 'Sluice',
    async setUp() {
      database = await createTestDatabase(config);
      redis = createRedis(config.redis);
      await waitForRedis(redis, 5000);
      queue = new Queue({ redis, redisConfig: config.redis, queueConfig: config.queue, registry });
    },
    async enqueue(count, paced) {
      await enqueueInBatches(count, paced, (size) => queue.addBulk(Array.from({ length: size }, () => ({ type: 'noop', payload: {} }))));
    },
    async enqueueDue(dueTimes) {
      await inBatches(dueTimes, (batch) => queue.addBulk(batch.map((due) => ({ type: 'noop', payload: {}, runAt: new Date(due) }))));
    },
    async startWorker() {
      const worker = ServiceProcess.start('sluice-worker', 'apps/worker/src/main.ts', {
        ...envFor(config), CONCURRENCY: String(CONCURRENCY), LOG_LEVEL: 'info', WORKER_BLOCK_MS: '1000', JOB_RETENTION_MS: String(RETENTION_MS),
      });
      await worker.waitForOutput('worker started');
      return worker;
    },
    async finished(count) {
      // Done means done in PostgreSQL too: the history is part of the work. PostgreSQL is asked only
      // once Redis has them all: a count(*) every 10 ms would load the server the recorder writes to.
      const inRedis = Number(await redis.hget(queueKeys(config.redis.prefix, 'default').counts, 'completed'));
      if (inRedis < count) return false;
      redisDoneAt ??= performance.now();
      const { rows } = await database.pool.query<{ n: string }>("SELECT count(*) AS n FROM jobs WHERE status = 'completed'");
      if (Number(rows[0]?.n ?? 0) < count) return false;
      historyLag = performance.now() - redisDoneAt;
      redisDoneAt = undefined;
      return true;
    },
    historyLagMs() {
      return historyLag;
    },
    async startLateness() {
      // run_at is the due time; for a job due at once it is its enqueue time.
      const { rows } = await database.pool.query<{ ms: number }>(
        `SELECT extract(epoch FROM (p.at - j.run_at)) * 1000 AS ms FROM jobs j JOIN job_events p ON p.job_id = j.id AND p.status = 'processing' ORDER BY 1`,
      );
      return rows.map((row) => Number(row.ms));
    },
    async tearDown() {
      await closeRedis(redis);
      await dropRedisKeys(config);
      await database.drop();
    },
  };
}

/** BullMQ with its defaults; `removeOnComplete` for the memory scenario, to match Sluice's retention. */
function bullmq(options: { removeOnComplete: boolean } = { removeOnComplete: false }): System {
  const prefix = `bench-bull-${randomUUID().slice(0, 8)}`;
  let connection: Redis;
  let queue: BullQueue;
  let enqueued = 0;
  return {
    name: 'BullMQ',
    async setUp() {
      connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
      queue = new BullQueue('bench', { connection, prefix });
      await queue.waitUntilReady();
    },
    async enqueue(count, paced) {
      const opts = { removeOnComplete: options.removeOnComplete };
      await enqueueInBatches(count, paced, async (size) => {
        await queue.addBulk(Array.from({ length: size }, () => ({ name: 'noop', data: {}, opts })));
        enqueued += size;
      });
    },
    async enqueueDue(dueTimes) {
      await inBatches(dueTimes, async (batch) => {
        // BullMQ's due time is timestamp + delay; fixing the timestamp makes it exactly `due`.
        const timestamp = Date.now();
        await queue.addBulk(batch.map((due) => ({ name: 'noop', data: {}, opts: { timestamp, delay: due - timestamp } })));
        enqueued += batch.length;
      });
    },
    async startWorker() {
      const worker = ServiceProcess.start('bullmq-worker', 'bench/bullmq-worker.ts', { REDIS_URL, BULLMQ_PREFIX: prefix, QUEUE: 'bench', CONCURRENCY: String(CONCURRENCY) });
      await worker.waitForOutput('worker started');
      return worker;
    },
    async finished(count) {
      // Completed jobs are removed, so count what is no longer waiting, active or failed.
      const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'failed');
      return enqueued - Object.values(counts).reduce((sum, n) => sum + n, 0) >= count;
    },
    async startLateness() {
      const lateness: number[] = [];
      for (let start = 0; ; start += 1000) {
        const jobs = await queue.getJobs(['completed'], start, start + 999);
        for (const job of jobs) if (job.processedOn) lateness.push(job.processedOn - job.timestamp - (job.opts.delay ?? 0));
        if (jobs.length < 1000) break;
      }
      return lateness.sort((a, b) => a - b);
    },
    async tearDown() {
      await queue.obliterate({ force: true });
      await queue.close();
      connection.disconnect();
    },
  };
}

/** Hands `items` to `add` BATCH at a time, one batch after another. */
async function inBatches<T>(items: readonly T[], add: (batch: readonly T[]) => Promise<unknown>): Promise<void> {
  for (let done = 0; done < items.length; done += BATCH) await add(items.slice(done, done + BATCH));
}

async function enqueueInBatches(count: number, paced: { perSecond: number } | undefined, add: (size: number) => Promise<unknown>): Promise<void> {
  if (!paced) {
    for (let done = 0; done < count; done += BATCH) await add(Math.min(BATCH, count - done));
    return;
  }
  // One job every 1000/perSecond ms, submitted on a fixed schedule so slow answers do not slow the rate.
  const started = Date.now();
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < count; i += 1) {
    const due = started + (i * 1000) / paced.perSecond;
    const wait = due - Date.now();
    if (wait > 1) await sleep(wait);
    pending.push(add(1));
  }
  await Promise.all(pending);
}

interface Figures {
  enqueue?: number;
  process?: number;
  endToEnd?: number;
  /** At the end of end to end: PostgreSQL holding every job after Redis had them all (ms). */
  historyLagMs?: number;
  latencyP50?: number;
  latencyP99?: number;
  /** Delayed jobs' start − due time (ms). */
  delayedP50?: number;
  delayedP99?: number;
  /** Delayed jobs that started before their due time; should be 0. */
  delayedEarly?: number;
  /** Redis used_memory growth (MiB) from half-way to the end of the memory scenario. */
  redisGrowthMiB?: number;
  /** Worker RSS growth (MiB) over the same stretch. */
  rssGrowthMiB?: number;
  redisMiB?: number;
  rssMiB?: number;
}

async function redisUsedMiB(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0) / 1_048_576;
}

function rssMiB(pid: number | undefined): number {
  const status = pid === undefined ? '' : readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

async function round(make: (options?: { removeOnComplete: boolean }) => System): Promise<Figures> {
  const figures: Figures = {};
  if (SCENARIOS.has('enqueue') || SCENARIOS.has('process')) {
    const system = make();
    await system.setUp();
    let started = performance.now();
    await system.enqueue(JOBS);
    figures.enqueue = JOBS / ((performance.now() - started) / 1000);
    if (SCENARIOS.has('process')) {
      const worker = await system.startWorker();
      started = performance.now();
      await until(`${system.name} to process ${JOBS} jobs`, () => system.finished(JOBS));
      figures.process = JOBS / ((performance.now() - started) / 1000);
      await worker.stop();
    }
    await system.tearDown();
  }
  if (SCENARIOS.has('end-to-end')) {
    const system = make();
    await system.setUp();
    const worker = await system.startWorker();
    const started = performance.now();
    await system.enqueue(JOBS);
    await until(`${system.name} to finish ${JOBS} jobs end to end`, () => system.finished(JOBS));
    figures.endToEnd = JOBS / ((performance.now() - started) / 1000);
    const lag = system.historyLagMs?.();
    if (lag !== undefined) figures.historyLagMs = lag;
    await worker.stop();
    await system.tearDown();
  }
  if (SCENARIOS.has('memory')) {
    const system = make({ removeOnComplete: true });
    await system.setUp();
    const worker = await system.startWorker();
    const probe = new Redis(REDIS_URL);
    const half = MEMORY_JOBS / 2;
    await system.enqueue(half);
    await until(`${system.name} to finish the first half`, () => system.finished(half));
    await sleep(RETENTION_MS + 500);
    const [redisHalf, rssHalf] = [await redisUsedMiB(probe), rssMiB(worker.child.pid)];
    await system.enqueue(half);
    await until(`${system.name} to finish the second half`, () => system.finished(MEMORY_JOBS));
    await sleep(RETENTION_MS + 500);
    const [redisEnd, rssEnd] = [await redisUsedMiB(probe), rssMiB(worker.child.pid)];
    Object.assign(figures, { redisGrowthMiB: redisEnd - redisHalf, rssGrowthMiB: rssEnd - rssHalf, redisMiB: redisEnd, rssMiB: rssEnd });
    probe.disconnect();
    await worker.stop();
    await system.tearDown();
  }
  if (SCENARIOS.has('latency')) {
    const system = make();
    await system.setUp();
    const worker = await system.startWorker();
    await system.enqueue(10_000, { perSecond: 1000 });
    await until(`${system.name} to finish the paced jobs`, () => system.finished(10_000));
    const latencies = await system.startLateness();
    figures.latencyP50 = percentile(latencies, 50);
    figures.latencyP99 = percentile(latencies, 99);
    await worker.stop();
    await system.tearDown();
  }
  if (SCENARIOS.has('delayed')) Object.assign(figures, await delayedScenario(make()));
  return figures;
}

/** The delayed scenario: every job added up front with its due time, the worker already waiting. */
async function delayedScenario(system: System): Promise<Pick<Figures, 'delayedP50' | 'delayedP99' | 'delayedEarly'>> {
  await system.setUp();
  const worker = await system.startWorker();
  const start = Date.now();
  await system.enqueueDue(DELAYED_OFFSETS.map((offset) => start + offset));
  if (Date.now() - start >= DELAYED_LEAD_MS) throw new Error(`${system.name}: adding the delayed jobs took longer than the lead time; some were due on arrival`);
  // No polling while jobs are due: the measurement should see only the worker at work.
  await sleep(start + DELAYED_LEAD_MS + DELAYED_SPREAD_MS - Date.now());
  await until(`${system.name} to finish the delayed jobs`, () => system.finished(DELAYED_OFFSETS.length));
  const lateness = await system.startLateness();
  await worker.stop();
  await system.tearDown();
  return { delayedP50: percentile(lateness, 50), delayedP99: percentile(lateness, 99), delayedEarly: lateness.filter((ms) => ms < 0).length };
}

const results: Record<'Sluice' | 'BullMQ', Figures[]> = { Sluice: [], BullMQ: [] };
for (let r = 1; r <= ROUNDS; r += 1) {
  for (const [name, make] of [['Sluice', sluice], ['BullMQ', bullmq]] as const) {
    const figures = await round(make);
    results[name].push(figures);
    console.log(`round ${r} ${name}: ${JSON.stringify(Object.fromEntries(Object.entries(figures).map(([k, v]) => [k, Math.round(v * 10) / 10])))}`);
  }
}

const rows: [string, keyof Figures, 'higher' | 'lower'][] = [
  ['bulk enqueue (jobs/s)', 'enqueue', 'higher'],
  [`processing, 1 worker, c=${CONCURRENCY} (jobs/s)`, 'process', 'higher'],
  ['end to end (jobs/s)', 'endToEnd', 'higher'],
  ['history in PostgreSQL after the last job, end to end (ms)', 'historyLagMs', 'lower'],
  ['enqueue→start p50 at 1,000/s (ms)', 'latencyP50', 'lower'],
  ['enqueue→start p99 at 1,000/s (ms)', 'latencyP99', 'lower'],
  [`delayed jobs (${DELAYED_OFFSETS.length}), start − due p50 (ms)`, 'delayedP50', 'lower'],
  [`delayed jobs (${DELAYED_OFFSETS.length}), start − due p99 (ms)`, 'delayedP99', 'lower'],
  [`Redis memory growth, jobs ${MEMORY_JOBS / 2}→${MEMORY_JOBS} (MiB)`, 'redisGrowthMiB', 'lower'],
  [`worker RSS growth, jobs ${MEMORY_JOBS / 2}→${MEMORY_JOBS} (MiB)`, 'rssGrowthMiB', 'lower'],
  [`Redis used memory at the end (MiB)`, 'redisMiB', 'lower'],
  [`worker RSS at the end (MiB)`, 'rssMiB', 'lower'],
];
console.log(`\n${JOBS} no-op jobs, ${ROUNDS} rounds, medians; Sluice with PostgreSQL history on\n`);
console.log('| figure | Sluice | BullMQ | Sluice / BullMQ |');
console.log('|---|---|---|---|');
for (const [label, key] of rows) {
  const ours = median(results.Sluice.map((figures) => figures[key] ?? Number.NaN));
  const theirs = median(results.BullMQ.map((figures) => figures[key] ?? Number.NaN));
  if (Number.isNaN(ours) && Number.isNaN(theirs)) continue;
  const digits = key.startsWith('latency') || key.startsWith('delayed') || key.endsWith('MiB') ? 1 : 0;
  // BullMQ keeps no history, so some rows have a figure for Sluice alone.
  const show = (value: number): string => (Number.isNaN(value) ? '—' : value.toFixed(digits));
  const ratio = Number.isNaN(ours / theirs) ? '—' : `${(ours / theirs).toFixed(2)}×`;
  console.log(`| ${label} | ${show(ours)} | ${show(theirs)} | ${ratio} |`);
}
process.exit(0);
