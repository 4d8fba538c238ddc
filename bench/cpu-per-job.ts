/**
 * CPU time per job, split by process: Redis (the server REDIS_URL names), PostgreSQL (all its
 * processes) and one Sluice worker.
 * A figure that the machine's other load hardly moves, unlike jobs/s, so it compares two versions
 * of Sluice run minutes apart.
 *
 *   npx tsx --conditions=sluice-source bench/cpu-per-job.ts                      # 50,000 jobs, processing only
 *   npx tsx --conditions=sluice-source bench/cpu-per-job.ts --jobs 100000 --end-to-end
 *   npx tsx --conditions=sluice-source bench/cpu-per-job.ts --payload-fields 8 --without-payload-index
 *
 * Processing only (the default): the jobs are enqueued, and their first events recorded, with the
 * queue paused; the worker's start-up is left out too. The count starts when the queue resumes and
 * stops once PostgreSQL holds every job completed. With --end-to-end the jobs are enqueued (bulk,
 * 1,000 at a time, from this process) while the worker runs, and the count covers everything but
 * this process. Uses REDIS_URL / DATABASE_URL, under a prefix and schema of its own, removed at the end.
 * Linux only (reads /proc). PostgreSQL is counted twice: all of its processes (autovacuum and the WAL
 * writer included, but so is whatever else the server is doing), and the backends serving the
 * worker's connections alone, which another load on a shared server does not move.
 *
 * --payload-fields N gives each job a payload of a user id and N string fields, all different from
 * job to job, as the payload index has to take them in (an empty payload costs it nothing);
 * --without-payload-index runs the worker with HISTORY_PAYLOAD_INDEX=false, for the same run without it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { closeRedis, createRedis, loadConfig, Queue, queueKeys, waitForRedis } from '@sluice/core';
import { createJobRegistry } from '@sluice/jobs';
import { createTestDatabase, dropRedisKeys, envFor } from '../test/support/context';
import { ServiceProcess } from '../test/support/processes';

const { values: options } = parseArgs({
  options: {
    jobs: { type: 'string', default: '50000' },
    concurrency: { type: 'string', default: '50' },
    'end-to-end': { type: 'boolean', default: false },
    'payload-fields': { type: 'string', default: '0' },
    'without-payload-index': { type: 'boolean', default: false },
  },
});
const JOBS = Number(options.jobs);
const BATCH = 1000;
/** Linux's USER_HZ, the unit of /proc/<pid>/stat's CPU times. */
const TICKS_PER_SECOND = 100;

/** CPU seconds so far of every process whose command name starts with `name`, or of one `pid`. */
function cpuSeconds(match: { name: string } | { pid: number }): number {
  let total = 0;
  for (const pid of readdirSync('/proc').filter((entry) => /^\d+$/.test(entry))) {
    try {
      if ('pid' in match ? Number(pid) !== match.pid : !readFileSync(`/proc/${pid}/comm`, 'utf8').startsWith(match.name)) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total += (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
    } catch {
      // The process ended while being read.
    }
  }
  return total;
}

const config = loadConfig({
  REDIS_URL: process.env.REDIS_URL, DATABASE_URL: process.env.DATABASE_URL, REDIS_PREFIX: `bench-cpu-${process.pid}`,
  DATABASE_SCHEMA: `bench_cpu_${process.pid}`, LOG_LEVEL: 'warn', JOB_RETENTION_MS: '1000',
});
const keys = queueKeys(config.redis.prefix, 'default');
const database = await createTestDatabase(config);
const redis = createRedis(config.redis);
await waitForRedis(redis, 5000);
const queue = new Queue({ redis, redisConfig: config.redis, queueConfig: config.queue, registry: createJobRegistry() });
const PAYLOAD_FIELDS = Number(options['payload-fields']);
const payloadOf = (n: number): Record<string, unknown> =>
  PAYLOAD_FIELDS === 0 ? {} : { userId: n, ...Object.fromEntries(Array.from({ length: PAYLOAD_FIELDS }, (_, field) => [`field${field}`, `value-${n}-${field}`])) };
const enqueue = async (): Promise<void> => {
  for (let done = 0; done < JOBS; done += BATCH) {
    await queue.addBulk(Array.from({ length: Math.min(BATCH, JOBS - done) }, (_, n) => ({ type: 'noop', payload: payloadOf(done + n) })));
  }
};

await redis.set(keys.paused, '1');
if (!options['end-to-end']) await enqueue();
const APP_NAME = `bench-cpu-worker-${process.pid}`;
const worker = ServiceProcess.start('worker', 'apps/worker/src/main.ts', {
  ...envFor(config), CONCURRENCY: options.concurrency, LOG_LEVEL: 'info', JOB_RETENTION_MS: '1000', PGAPPNAME: APP_NAME,
  HISTORY_PAYLOAD_INDEX: options['without-payload-index'] ? 'false' : 'true',
});
await worker.waitForOutput('worker started');
// The paused worker's recorder writes the submissions' events meanwhile; wait for it to finish.
while ((await redis.xlen(keys.events)) > 0) await new Promise((resolve) => setTimeout(resolve, 100));
await new Promise((resolve) => setTimeout(resolve, 1000));

const pid = worker.child.pid as number;
/** The server processes serving the worker's connections, found by the application name it connects with. */
const backends = async (): Promise<number[]> =>
  (await database.pool.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [APP_NAME])).rows.map((row) => row.pid);
const workerBackends = new Set(await backends());
// The server this run talks to, by its pid: other Redis servers on the machine (a test's cluster) must not count.
const redisPid = Number(/process_id:(\d+)/.exec(await redis.info('server'))?.[1]);
const read = () => ({
  redis: cpuSeconds({ pid: redisPid }), postgres: cpuSeconds({ name: 'postgres' }), worker: cpuSeconds({ pid }),
  backends: [...workerBackends].reduce((sum, backend) => sum + cpuSeconds({ pid: backend }), 0),
});
const before = read();
const started = performance.now();
await redis.del(keys.paused);
if (options['end-to-end']) await enqueue();
for (;;) {
  if (Number(await redis.hget(keys.counts, 'completed')) >= JOBS) {
    const { rows } = await database.pool.query<{ n: string }>("SELECT count(*) AS n FROM jobs WHERE status = 'completed'");
    if (Number(rows[0]?.n) >= JOBS) break;
  }
  await new Promise((resolve) => setTimeout(resolve, 20));
}
const seconds = (performance.now() - started) / 1000;
// A connection opened during the run started from zero CPU, so all of it counts.
for (const backend of await backends()) workerBackends.add(backend);
const after = read();

const perJob = (name: keyof typeof before): number => ((after[name] - before[name]) * 1e6) / JOBS;
const figures = { redis: perJob('redis'), postgres: perJob('postgres'), worker: perJob('worker') };
console.log(`${JOBS} no-op jobs, ${options['end-to-end'] ? 'end to end' : 'processing only'}, one worker at c=${options.concurrency}, ` +
  `${PAYLOAD_FIELDS} payload fields, ${options['without-payload-index'] ? 'without' : 'with'} the payload index`);
console.log(`jobs/s ${Math.round(JOBS / seconds)}; CPU µs per job: ${Object.entries(figures).map(([name, us]) => `${name} ${us.toFixed(1)}`).join(', ')}, ` +
  `total ${(figures.redis + figures.postgres + figures.worker).toFixed(1)}; PostgreSQL backends of the worker ${perJob('backends').toFixed(1)}`);

await worker.stop();
await closeRedis(redis);
await dropRedisKeys(config);
await database.drop();
