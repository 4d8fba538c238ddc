/**
 * Fair groups against a flood. One group (`flood`) has FLOOD jobs waiting, added first, and nine others
 * SMALL each, added after it; WORKERS stock worker processes of CONCURRENCY slots then run them all
 * (`sleep` jobs of JOB_MS). Three runs, each on its own Redis prefix:
 *
 *   - no groups: the same jobs without `group`, which start in the order they were added;
 *   - groups: every job names its group, the queue takes the groups in turn;
 *   - groups with a cap: the same, and the queue's groupConcurrency set to CAP.
 *
 * For each: when the last of the nine groups' jobs completed (ms after the first job started), how many
 * of the flood's jobs had started by then (the figure the machine's speed does not change), and the
 * most jobs of one group that ran at once (from each job's start and end in Redis).
 *
 *   npx tsx --conditions=sluice-source bench/groups.ts [--flood 10000] [--small 100] [--cap 5]
 *
 * Uses this machine's Redis and PostgreSQL (REDIS_URL / DATABASE_URL) under prefixes and schemas of its
 * own, removed at the end of each run.
 */
import { randomUUID } from 'node:crypto';
import { availableParallelism, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { closeRedis, createRedis, loadConfig, Queue, QueueAdmin, queueKeys, QueueLayouts, waitForRedis, type BulkJob, type SluiceConfig } from '@sluice/core';
import { createJobRegistry } from '@sluice/jobs';
import { createTestDatabase, dropRedisKeys, envFor } from '../test/support/context';
import { ServiceProcess } from '../test/support/processes';

const { values: options } = parseArgs({ options: { flood: { type: 'string', default: '10000' }, small: { type: 'string', default: '100' }, cap: { type: 'string', default: '5' } } });
const FLOOD = Number(options.flood);
const SMALL = Number(options.small);
const CAP = Number(options.cap);
const SMALL_GROUPS = Array.from({ length: 9 }, (_, n) => `tenant-${n + 1}`);
const WORKERS = 2;
const CONCURRENCY = 10;
const JOB_MS = 5;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

type Mode = 'no groups' | 'groups' | 'groups with a cap';

interface Measured {
  mode: Mode;
  nineDoneMs: number;
  floodStartedBefore: number;
  allDoneMs: number;
  mostAtOnce: Map<string, number>;
}

/** The most intervals of one group open at once: an end at the same ms as a start comes first. */
function mostAtOnce(intervals: readonly [number, number][]): number {
  const edges = intervals.flatMap(([start, end]) => [[start, 1], [end, -1]] as [number, number][]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let open = 0;
  let most = 0;
  for (const [, change] of edges) {
    open += change;
    most = Math.max(most, open);
  }
  return most;
}

async function run(mode: Mode): Promise<Measured> {
  const id = randomUUID().slice(0, 8);
  const config: SluiceConfig = loadConfig({
    REDIS_URL: process.env.REDIS_URL, DATABASE_URL: process.env.DATABASE_URL, REDIS_PREFIX: `bench-groups-${id}`, DATABASE_SCHEMA: `bench_groups_${id}`,
  });
  const database = await createTestDatabase(config);
  const redis = createRedis(config.redis);
  const workers: ServiceProcess[] = [];
  try {
    await waitForRedis(redis, 5000);
    const queue = new Queue({ redis, redisConfig: config.redis, queueConfig: config.queue, registry: createJobRegistry() });
    if (mode === 'groups with a cap') {
      await new QueueAdmin(redis, new QueueLayouts(redis, config.redis.prefix, config.queue.partitions), config.queue.queues).setLimits('default', { groupConcurrency: CAP });
    }
    const groupOf = new Map<string, string>();
    const add = async (group: string, count: number): Promise<void> => {
      for (let added = 0; added < count; added += 1000) {
        const batch: BulkJob[] = Array.from({ length: Math.min(1000, count - added) }, () => ({ type: 'sleep', payload: { ms: JOB_MS }, ...(mode !== 'no groups' && { group }) }));
        for (const job of await queue.addBulk(batch)) groupOf.set(job.id, group);
      }
    };
    await add('flood', FLOOD);
    for (const group of SMALL_GROUPS) await add(group, SMALL);

    const env = { ...envFor(config), CONCURRENCY: String(CONCURRENCY) };
    for (let n = 1; n <= WORKERS; n += 1) workers.push(ServiceProcess.start(`bench-${id}-${n}`, 'apps/worker/src/main.ts', { ...env, WORKER_NAME: `bench-${id}-${n}` }));
    const counts = queueKeys(config.redis.prefix, 'default').counts;
    while (Number((await redis.hget(counts, 'completed')) ?? 0) < groupOf.size) await sleep(100);

    const keys = queueKeys(config.redis.prefix, 'default');
    const ids = [...groupOf.keys()];
    const pipeline = redis.pipeline();
    for (const jobId of ids) pipeline.hmget(keys.job(jobId), 'startedAt', 'finishedAt');
    const times = ((await pipeline.exec()) ?? []).map(([, fields]) => (fields as string[]).map(Number) as [number, number]);
    const byGroup = new Map<string, [number, number][]>();
    ids.forEach((jobId, index) => {
      const group = groupOf.get(jobId) as string;
      byGroup.set(group, [...(byGroup.get(group) ?? []), times[index] as [number, number]]);
    });
    const startedAt = Math.min(...times.map(([start]) => start));
    const nineDone = Math.max(...SMALL_GROUPS.flatMap((group) => (byGroup.get(group) ?? []).map(([, end]) => end)));
    return {
      mode,
      nineDoneMs: nineDone - startedAt,
      floodStartedBefore: (byGroup.get('flood') ?? []).filter(([start]) => start < nineDone).length,
      allDoneMs: Math.max(...times.map(([, end]) => end)) - startedAt,
      mostAtOnce: new Map([...byGroup].map(([group, intervals]) => [group, mostAtOnce(intervals)])),
    };
  } finally {
    await Promise.all(workers.map((worker) => worker.stop('SIGTERM')));
    await dropRedisKeys(config);
    await closeRedis(redis);
    await database.drop();
  }
}

async function main(): Promise<void> {
  console.log(`${FLOOD} jobs of one group, then ${SMALL} of each of nine others; ${WORKERS} worker processes × ${CONCURRENCY} slots; sleep jobs of ${JOB_MS} ms; cap ${CAP}`);
  const loadBefore = loadavg()[0] ?? Number.NaN;
  console.log('| run | nine groups done (ms) | flood jobs started by then | all done (ms) | most at once, flood | most at once, any of the nine |');
  console.log('|---|---|---|---|---|---|');
  for (const mode of ['no groups', 'groups', 'groups with a cap'] as const) {
    const measured = await run(mode);
    const nineMost = Math.max(...SMALL_GROUPS.map((group) => measured.mostAtOnce.get(group) ?? 0));
    console.log(`| ${mode} | ${measured.nineDoneMs} | ${measured.floodStartedBefore} | ${measured.allDoneMs} | ${measured.mostAtOnce.get('flood') ?? 0} | ${nineMost} |`);
  }
  console.log(`load average (1 min): ${loadBefore.toFixed(1)} at the start, ${(loadavg()[0] ?? Number.NaN).toFixed(1)} at the end, ${availableParallelism()} CPUs`);
}

await main();
