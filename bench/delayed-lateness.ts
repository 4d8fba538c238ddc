/**
 * How late delayed jobs start. Submits 1,000 `noop` jobs up front whose run times are spread over
 * 10 s, runs them on two worker processes, and measures for each job its `processing` time minus its
 * `runAt`. The baseline is the same number of immediately-due jobs arriving over 10 s, which shows
 * what the stream and the workers cost on their own, without the delayed set and its promoter. A
 * last run has the baseline's jobs wait 20 ms each: delays shorter than the promoter's longest sleep.
 *
 *   npx tsx --conditions=sluice-source bench/delayed-lateness.ts
 *
 * Uses this machine's Redis and PostgreSQL (REDIS_URL / DATABASE_URL) under a prefix and schema of
 * its own, removed at the end.
 */
import { randomUUID } from 'node:crypto';
import { availableParallelism, loadavg } from 'node:os';
import { closeRedis, createRedis, loadConfig, Queue, waitForRedis, type Job } from '@sluice/core';
import { createJobRegistry } from '@sluice/jobs';
import { createTestDatabase, dropRedisKeys, envFor, waitFor, type TestDatabase } from '../test/support/context';
import { ServiceProcess } from '../test/support/processes';
import { percentile } from './percentile';

const JOBS = 1000;
const LEAD_MS = 1000;
const SPREAD_MS = 10_000;
const WORKERS = 2;
const TARGET_P99_MS = 50;
/** Shorter than the promoter's longest sleep (100 ms), so such a job can arrive while it sleeps. */
const SHORT_DELAY_MS = 20;

const id = randomUUID().slice(0, 8);
const config = loadConfig({
  REDIS_URL: process.env.REDIS_URL,
  DATABASE_URL: process.env.DATABASE_URL,
  REDIS_PREFIX: `bench-delayed-${id}`,
  DATABASE_SCHEMA: `bench_delayed_${id}`,
});

interface Timing {
  /** processing − runAt */
  lateMs: number;
  /** pending (promoted into the stream) − runAt; 0 for jobs that were due on submission */
  promotedMs: number;
  /** processing − pending */
  pickUpMs: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
const ms = (iso: string): number => new Date(iso).getTime();

function timingOf(job: Job): Timing {
  const pending = job.history.findLast((event) => event.status === 'pending');
  const processing = job.history.find((event) => event.status === 'processing');
  if (!pending || !processing) throw new Error(`job ${job.id} has no pending or processing event: ${JSON.stringify(job.history)}`);
  const runAt = ms(job.runAt);
  return { lateMs: ms(processing.at) - runAt, promotedMs: ms(pending.at) - runAt, pickUpMs: ms(processing.at) - ms(pending.at) };
}

interface Summary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  early: number;
}

function summarize(values: readonly number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    count: sorted.length,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) ?? Number.NaN,
    early: sorted.filter((value) => value < 0).length,
  };
}

const line = (label: string, s: Summary, withEarly = true): string =>
  `${label.padEnd(52)} n=${s.count}  p50=${s.p50}  p90=${s.p90}  p99=${s.p99}  max=${s.max}${withEarly ? `  early=${s.early}` : ''}`;

async function completed(queue: Queue, ids: readonly string[], timeoutMs: number): Promise<Job[]> {
  return waitFor(`${ids.length} jobs to complete`, async () => {
    const jobs = await Promise.all(ids.map((jobId) => queue.getJob(jobId)));
    return jobs.every((job) => job?.status === 'completed') ? (jobs as Job[]) : null;
  }, timeoutMs, 200);
}

/**
 * How late a plain 10 ms timer fires in this otherwise idle process, sampled until `stop` aborts: how
 * long this machine leaves a ready process waiting for a CPU, which no code of Sluice can beat.
 */
async function timerOvershoot(stop: AbortSignal): Promise<number[]> {
  const samples: number[] = [];
  while (!stop.aborted) {
    const due = performance.now() + 10;
    await sleep(10);
    samples.push(Math.round(performance.now() - due));
  }
  return samples;
}

/** Delayed jobs, all submitted at once, due at LEAD_MS + uniform(0..SPREAD_MS) from now. */
async function delayedRun(queue: Queue): Promise<Timing[]> {
  const start = Date.now();
  const added = await queue.addBulk(
    Array.from({ length: JOBS }, (_, n) => ({ type: 'noop', payload: { n }, runAt: new Date(start + LEAD_MS + Math.round(Math.random() * SPREAD_MS)) })),
  );
  if (Date.now() - start >= LEAD_MS) throw new Error('submitting took longer than the lead time; some jobs were due on arrival');
  // No polling while jobs are due: the measurement should see only the workers at work.
  await sleep(start + LEAD_MS + SPREAD_MS + 500 - Date.now());
  return (await completed(queue, added.map((job) => job.id), 10_000)).map(timingOf);
}

/** Jobs due `delayMs` after their submission, each submitted on its own at a random moment of SPREAD_MS. */
async function arrivingRun(queue: Queue, delayMs: number): Promise<Timing[]> {
  const ids: string[] = [];
  await Promise.all(
    Array.from({ length: JOBS }, async (_, n) => {
      await sleep(Math.random() * SPREAD_MS);
      ids.push((await queue.add('noop', { n }, { delay: delayMs })).id);
    }),
  );
  await sleep(500);
  return (await completed(queue, ids, 10_000)).map(timingOf);
}

async function main(): Promise<void> {
  let database: TestDatabase | undefined;
  const workers: ServiceProcess[] = [];
  const redis = createRedis(config.redis);
  try {
    database = await createTestDatabase(config);
    await waitForRedis(redis, 5000);
    const queue = new Queue({ redis, redisConfig: config.redis, queueConfig: config.queue, registry: createJobRegistry() });
    // WORKER_BLOCK_MS is left at its default, as in production.
    const env = { ...envFor(config), WORKER_BLOCK_MS: String(config.worker.blockMs) };
    for (let n = 1; n <= WORKERS; n += 1) workers.push(ServiceProcess.start(`worker-${n}`, 'apps/worker/src/main.ts', { ...env, WORKER_NAME: `bench-${id}-${n}` }));
    await Promise.all(workers.map((worker) => worker.waitForOutput('worker started')));

    console.log(`${JOBS} noop jobs, ${WORKERS} worker processes, due over ${SPREAD_MS / 1000} s; lateness in ms (processing − runAt)`);
    const loadBefore = loadavg()[0] ?? Number.NaN;
    const probing = new AbortController();
    const overshoot = timerOvershoot(probing.signal);
    const delayed = await delayedRun(queue).finally(() => probing.abort());
    const baseline = await arrivingRun(queue, 0);
    const shortDelays = await arrivingRun(queue, SHORT_DELAY_MS);

    const late = summarize(delayed.map((t) => t.lateMs));
    const base = summarize(baseline.map((t) => t.lateMs));
    const short = summarize(shortDelays.map((t) => t.lateMs));
    const ratio = (a: number, b: number): string => (b > 0 ? (a / b).toFixed(1) : 'n/a');
    const verdict = (s: Summary): string => (s.p99 < TARGET_P99_MS ? 'met' : 'NOT met');
    console.log(line('delayed jobs, processing − runAt', late));
    console.log(line('  of which runAt → promoted', summarize(delayed.map((t) => t.promotedMs))));
    console.log(line('  of which promoted → processing', summarize(delayed.map((t) => t.pickUpMs))));
    console.log(line('baseline: due at once, processing − submitted', base));
    console.log(`ratio delayed / baseline: p50 ${ratio(late.p50, base.p50)}×, p99 ${ratio(late.p99, base.p99)}×`);
    console.log(line(`short delays: ${SHORT_DELAY_MS} ms, arriving like the baseline`, short));
    console.log(line('  of which runAt → promoted', summarize(shortDelays.map((t) => t.promotedMs))));
    console.log(line('10 ms timer overshoot, this process', summarize(await overshoot), false));
    console.log(`load average (1 min): ${loadBefore.toFixed(1)} at the start, ${(loadavg()[0] ?? Number.NaN).toFixed(1)} at the end, ${availableParallelism()} CPUs`);
    console.log(`target p99 < ${TARGET_P99_MS} ms: delayed jobs ${verdict(late)}, short delays ${verdict(short)}; started early: ${late.early + short.early}`);
    if (late.early + short.early > 0) process.exitCode = 1;
  } finally {
    await Promise.all(workers.map((worker) => worker.stop('SIGTERM')));
    await dropRedisKeys(config);
    await closeRedis(redis);
    await database?.drop();
  }
}

await main();
