/**
 * Throughput while Sluice recovers from a worker crash. Two worker processes (`apps/worker`) at
 * CONCURRENCY=50 share one queue with a backlog of `sleep` jobs. Once a fifth of the jobs are done
 * and one worker has a full set of jobs in flight, it is killed with SIGKILL and a replacement (a
 * consumer of its own name, as a supervisor would start) is launched at once. The jobs it was running
 * stay pending under the dead consumer until a live worker's reclaim pass takes them over, once they
 * have been idle for VISIBILITY_TIMEOUT_MS (5 s here; passes run every quarter of it).
 *
 *   npx tsx --conditions=sluice-source bench/crash-recovery.ts                               # 20,000 jobs of 20 ms, one kill
 *   npx tsx --conditions=sluice-source bench/crash-recovery.ts --second-kill --jobs 60000    # and a kill that makes suspects
 *
 * A job whose entry has been delivered twice and is found stalled again is a "suspect": it runs
 * alone, so that a job that kills its worker takes no others with it. One kill makes none: the jobs
 * it interrupts are delivered once, and their takeover is their second delivery. `--second-kill`
 * also kills the worker that took them over, once it runs at least `--second-kill-at` (10) of them,
 * so that those become suspects.
 *
 * Prints, from the (first) kill: completed jobs per second over the next 60 s or until every job is
 * done, and each of those seconds; for each kill, how long until every job it interrupted had
 * completed; from the start: the time until every job completed in Redis and until PostgreSQL held
 * them all; the suspects run alone and the most waiting at once, from the workers' reclaim log lines
 * (a killed worker's last lines may be lost); jobs by how often they were started, from the history.
 *
 * Uses REDIS_URL / DATABASE_URL under a prefix and schema of its own, removed at the end. Only the
 * public API and worker processes, so it runs unchanged against earlier versions of Sluice.
 */
import { parseArgs } from 'node:util';
import { closeRedis, createRedis, loadConfig, Queue, queueKeys, waitForRedis, WORKER_GROUP } from '@sluice/core';
import { createJobRegistry } from '@sluice/jobs';
import { createTestDatabase, dropRedisKeys, envFor } from '../test/support/context';
import { WorkerPool } from '../test/support/worker-pool';

const { values: options } = parseArgs({
  options: {
    jobs: { type: 'string', default: '20000' },
    concurrency: { type: 'string', default: '50' },
    'sleep-ms': { type: 'string', default: '20' },
    'visibility-timeout-ms': { type: 'string', default: '5000' },
    /** Share of the jobs completed before the kill. */
    'kill-at': { type: 'string', default: '0.2' },
    'window-s': { type: 'string', default: '60' },
    'second-kill': { type: 'boolean', default: false },
    /** Reclaimed jobs the second victim must be running when it is killed. */
    'second-kill-at': { type: 'string', default: '10' },
  },
});
const JOBS = Number(options.jobs);
const CONCURRENCY = Number(options.concurrency);
const SLEEP_MS = Number(options['sleep-ms']);
const VISIBILITY_TIMEOUT_MS = Number(options['visibility-timeout-ms']);
const KILL_AT = Math.floor(JOBS * Number(options['kill-at']));
const WINDOW_MS = Number(options['window-s']) * 1000;
const SECOND_KILL_AT = Number(options['second-kill-at']);
const BATCH = 1000;
const SAMPLE_MS = 50;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const seconds = (ms: number): string => (ms / 1000).toFixed(1);

const config = loadConfig({
  REDIS_URL: process.env.REDIS_URL, DATABASE_URL: process.env.DATABASE_URL, REDIS_PREFIX: `bench-crash-${process.pid}`,
  DATABASE_SCHEMA: `bench_crash_${process.pid}`, LOG_LEVEL: 'warn',
});
const keys = queueKeys(config.redis.prefix, config.queue.queues[0] ?? 'default');
const database = await createTestDatabase(config);
const redis = createRedis(config.redis);
await waitForRedis(redis, 5000);
const queue = new Queue({ redis, redisConfig: config.redis, queueConfig: config.queue, registry: createJobRegistry() });
const settings = { CONCURRENCY: String(CONCURRENCY), VISIBILITY_TIMEOUT_MS: String(VISIBILITY_TIMEOUT_MS), LOG_LEVEL: 'info' };
const pool = new WorkerPool({ file: 'apps/worker/src/main.ts', env: { ...envFor(config), ...settings }, size: 2, name: `crash${process.pid}`, maxRestarts: 2 });

/** Pending entries of the group: id, consumer, idle ms, deliveries. */
async function pending(consumer?: string): Promise<{ entryId: string; consumer: string; deliveries: number }[]> {
  const args: [string, string, string, string, number] = [keys.stream, WORKER_GROUP, '-', '+', 10_000];
  const entries = (await (consumer === undefined ? redis.xpending(...args) : redis.xpending(...args, consumer))) as [string, string, number, number][];
  return entries.map(([entryId, owner, , deliveries]) => ({ entryId, consumer: owner, deliveries }));
}

/** Job ids of stream entries still in the stream (a completed job's entry is deleted). */
async function jobIdsOf(entryIds: readonly string[]): Promise<string[]> {
  const pipeline = redis.pipeline();
  for (const entryId of entryIds) pipeline.xrange(keys.stream, entryId, entryId);
  const ids: string[] = [];
  for (const [, reply] of (await pipeline.exec()) ?? []) {
    const jobId = (reply as [string, string[]][] | null)?.[0]?.[1][1];
    if (jobId !== undefined) ids.push(jobId);
  }
  return ids;
}

async function completedCount(): Promise<number> {
  const [completed, dead] = await redis.hmget(keys.counts, 'completed', 'dead');
  return Number(completed ?? 0) + Number(dead ?? 0);
}

/** A kill: when, what it left in flight, and when the last of those jobs completed. */
interface Kill {
  name: string;
  at: number;
  jobIds: string[];
  suspects: number;
  doneAt?: number;
}

/** Kills the process in `slot`; the pool starts its replacement at once. */
async function kill(slot: number): Promise<Kill> {
  const victim = await pool.kill(slot);
  const at = performance.now();
  // What the dead consumer still owns: the attempts it was running, and finished ones whose completion had not reached Redis.
  const left = await pending(victim.name);
  return { name: victim.name, at, jobIds: await jobIdsOf(left.map((entry) => entry.entryId)), suspects: left.filter((entry) => entry.deliveries >= 2).length };
}

/** Resolves when every job of `kill` has completed (or been dead-lettered). */
async function watch(target: Kill): Promise<void> {
  let open = target.jobIds;
  while (open.length > 0) {
    await sleep(SAMPLE_MS);
    const pipeline = redis.pipeline();
    for (const id of open) pipeline.hget(keys.job(id), 'status');
    const statuses = ((await pipeline.exec()) ?? []).map(([, status]) => status);
    open = open.filter((_, i) => statuses[i] !== 'completed' && statuses[i] !== 'dead');
  }
  target.doneAt = performance.now();
}

await redis.set(keys.paused, '1');
for (let done = 0; done < JOBS; done += BATCH) {
  await queue.addBulk(Array.from({ length: Math.min(BATCH, JOBS - done) }, () => ({ type: 'sleep', payload: { ms: SLEEP_MS } })));
}
pool.start();
await pool.ready();
// The workers' recorders write the submissions' events meanwhile; let them finish first.
while ((await redis.xlen(keys.events)) > 0) await sleep(100);

const samples: { at: number; completed: number }[] = [];
let sampling = true;
const sampler = (async () => {
  while (sampling) {
    samples.push({ at: performance.now(), completed: await completedCount() });
    await sleep(SAMPLE_MS);
  }
})();
const startedAt = performance.now();
await redis.del(keys.paused);

while ((await completedCount()) < KILL_AT) await sleep(10);
const victim = pool.worker(0);
while ((await pending(victim.name)).length < CONCURRENCY) await sleep(2);
const kills = [await kill(0)];
const completedAtKill = await completedCount();
const watches = [watch(kills[0] as Kill)];

if (options['second-kill']) {
  // The worker that takes over the first victim's jobs, killed while it runs at least SECOND_KILL_AT
  // of them: they become suspects. Reclaim passes take as many entries as the worker has free slots,
  // so it may take several passes, or none, before one holds that many.
  const deadline = performance.now() + 4 * VISIBILITY_TIMEOUT_MS;
  while (performance.now() < deadline) {
    const held = new Map<string, number>();
    for (const entry of await pending()) {
      if (entry.deliveries >= 2 && entry.consumer !== victim.name) held.set(entry.consumer, (held.get(entry.consumer) ?? 0) + 1);
    }
    const slot = [0, 1].find((candidate) => (held.get(pool.worker(candidate).name) ?? 0) >= SECOND_KILL_AT);
    if (slot !== undefined) {
      kills.push(await kill(slot));
      watches.push(watch(kills[1] as Kill));
      break;
    }
    await sleep(2);
  }
}

while ((await completedCount()) < JOBS) await sleep(SAMPLE_MS);
const doneAt = performance.now();
await Promise.all(watches);
let historyAt = Number.NaN;
const historyDeadline = performance.now() + 120_000;
while (Number.isNaN(historyAt) && performance.now() < historyDeadline) {
  const { rows } = await database.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM jobs WHERE status = 'completed'");
  if ((rows[0]?.n ?? 0) >= JOBS) historyAt = performance.now();
  else await sleep(100);
}
sampling = false;
await sampler;

const killedAt = (kills[0] as Kill).at;
const windowEnd = Math.min(killedAt + WINDOW_MS, doneAt);
const countAt = (at: number): number => samples.findLast((sample) => sample.at <= at)?.completed ?? 0;
const perSecond: number[] = [];
for (let from = killedAt; from + 1000 <= windowEnd; from += 1000) perSecond.push(countAt(from + 1000) - countAt(from));

const { rows: runs } = await database.pool.query<{ runs: number; n: number }>(
  `SELECT runs, count(*)::int AS n FROM (
     SELECT j.id, count(e.seq) FILTER (WHERE e.status = 'processing')::int AS runs
     FROM jobs j LEFT JOIN job_events e ON e.job_id = j.id GROUP BY j.id
   ) per_job GROUP BY runs ORDER BY runs`,
);
interface ReclaimLine {
  claimed: number;
  isolated: boolean;
  poisoned: number;
  suspects: number;
}
const reclaims = pool.started.flatMap((worker) => worker.output).filter((line) => line.includes('reclaimed stalled jobs')).flatMap((line): ReclaimLine[] => {
  try {
    return [JSON.parse(line) as ReclaimLine];
  } catch {
    return []; // cut short by a kill
  }
});

console.log(`${JOBS} sleep jobs of ${SLEEP_MS} ms, 2 workers at c=${CONCURRENCY}, VISIBILITY_TIMEOUT_MS=${VISIBILITY_TIMEOUT_MS}, ${kills.length} kill(s)`);
console.log(`before the kill: ${Math.round(completedAtKill / ((killedAt - startedAt) / 1000))} jobs/s over ${seconds(killedAt - startedAt)} s`);
console.log(`after the kill: ${Math.round((countAt(windowEnd) - countAt(killedAt)) / ((windowEnd - killedAt) / 1000))} jobs/s over ${seconds(windowEnd - killedAt)} s` +
  ` (slowest whole second ${perSecond.length > 0 ? Math.min(...perSecond) : '-'}; per second: ${perSecond.join(' ')})`);
for (const [i, target] of kills.entries()) {
  console.log(`kill ${i + 1} at ${seconds(target.at - startedAt)} s: ${target.jobIds.length} jobs in flight (${target.suspects} already redelivered once),` +
    ` all completed ${seconds((target.doneAt ?? Number.NaN) - target.at)} s after the kill`);
}
console.log(`total: every job completed after ${seconds(doneAt - startedAt)} s, in PostgreSQL after ${seconds(historyAt - startedAt)} s`);
console.log(`suspects run alone: ${reclaims.filter((pass) => pass.isolated).length}; most waiting at one pass: ${Math.max(0, ...reclaims.map((pass) => pass.suspects))};` +
  ` jobs taken by each reclaim pass: ${reclaims.map((pass) => pass.claimed).join(' ') || '-'}; poisoned: ${reclaims.reduce((sum, pass) => sum + pass.poisoned, 0)};` +
  ` jobs by times started: ${runs.map((row) => `${row.runs}×${row.n}`).join(', ')}`);

await pool.stop();
await closeRedis(redis);
await dropRedisKeys(config);
await database.drop();
