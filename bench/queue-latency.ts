/**
 * What reading a queue's latency costs (oldest-waiting.lua, run by queueStats for GET /stats, GET /queues,
 * the stats stream each second and each scrape), as the queue grows: does anything in it go with the
 * number of jobs? For each case, on a queue of one partition with no worker, the median time over
 * READS calls of the script alone and of the whole queueStats read, and both against the first case's.
 *
 *   - 1,000 waiting: the baseline;
 *   - JOBS waiting in the stream;
 *   - JOBS read by a consumer (all pending but the last, which still waits);
 *   - JOBS added, all but the last cancelled while waiting (their entries deleted: tombstones a read
 *     past the group's last-delivered id could walk);
 *   - JOBS grouped jobs waiting their turn in 1,000 groups.
 *
 *   npx tsx --conditions=sluice-source bench/queue-latency.ts [--jobs 100000] [--reads 300]
 *
 * Uses this machine's Redis (REDIS_URL) under a prefix of its own per case, removed at the end of each.
 */
import { randomUUID } from 'node:crypto';
import { availableParallelism, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import {
  closeRedis, createRedis, loadConfig, Queue, queueKeys, QueueLayouts, queueStats, waitForRedis, WORKER_GROUP, type BulkJob, type ScriptedRedis,
} from '@sluice/core';
import { createJobRegistry } from '@sluice/jobs';
import { dropRedisKeys } from '../test/support/context';

const { values: options } = parseArgs({ options: { jobs: { type: 'string', default: '100000' }, reads: { type: 'string', default: '300' } } });
const JOBS = Number(options.jobs);
const READS = Number(options.reads);
const BASELINE_JOBS = 1000;

type Case = 'waiting' | 'read by a consumer' | 'cancelled but the last' | 'grouped';

interface Measured {
  label: string;
  scriptUs: number;
  statsUs: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

async function timedUs(action: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < READS; i += 1) {
    const started = process.hrtime.bigint();
    await action();
    times.push(Number(process.hrtime.bigint() - started) / 1000);
  }
  return median(times);
}

async function fill(queue: Queue, count: number, grouped: boolean): Promise<string[]> {
  const ids: string[] = [];
  for (let added = 0; added < count; added += 1000) {
    const batch: BulkJob[] = Array.from({ length: Math.min(1000, count - added) }, (_, n) => ({ type: 'noop', payload: {}, ...(grouped && { group: `g${(added + n) % 1000}` }) }));
    ids.push(...(await queue.addBulk(batch)).map((job) => job.id));
  }
  return ids;
}

async function prepare(redis: ScriptedRedis, queue: Queue, prefix: string, kind: Case, count: number): Promise<void> {
  const ids = await fill(queue, count, kind === 'grouped');
  const { stream } = queueKeys(prefix, 'default');
  if (kind === 'read by a consumer') {
    await redis.xgroup('CREATE', stream, WORKER_GROUP, '0', 'MKSTREAM');
    for (let read = 0; read < count - 1; read += 1000) await redis.xreadgroup('GROUP', WORKER_GROUP, 'bench-reader', 'COUNT', Math.min(1000, count - 1 - read), 'STREAMS', stream, '>');
  }
  if (kind === 'cancelled but the last') {
    for (let from = 0; from < ids.length - 1; from += 1000) await Promise.all(ids.slice(from, Math.min(from + 1000, ids.length - 1)).map((id) => queue.cancel(id)));
  }
}

async function run(kind: Case, count: number): Promise<Measured> {
  const id = randomUUID().slice(0, 8);
  const config = loadConfig({ REDIS_URL: process.env.REDIS_URL, REDIS_PREFIX: `bench-latency-${id}` });
  const redis = createRedis(config.redis);
  try {
    await waitForRedis(redis, 5000);
    const queue = new Queue({ redis, redisConfig: config.redis, queueConfig: config.queue, registry: createJobRegistry() });
    await prepare(redis, queue, config.redis.prefix, kind, count);
    const layouts = new QueueLayouts(redis, config.redis.prefix, config.queue.partitions);
    const keys = queueKeys(config.redis.prefix, 'default');
    const latency = (await queueStats(redis, layouts, ['default'])).default?.latencyMs ?? -1;
    if (latency <= 0) throw new Error(`${kind}: expected a job waiting, latency ${latency}`);
    return {
      label: `${count.toLocaleString('en-US')} ${kind}`,
      scriptUs: await timedUs(() => redis.oldestWaiting(keys.bands.length + 2, ...keys.bands, keys.fair, keys.fairTags, WORKER_GROUP, 100)),
      statsUs: await timedUs(() => queueStats(redis, layouts, ['default'])),
    };
  } finally {
    await dropRedisKeys(config);
    await closeRedis(redis);
  }
}

async function main(): Promise<void> {
  console.log(`median of ${READS} reads each, one partition, no worker, Redis on loopback`);
  const loadBefore = loadavg()[0] ?? Number.NaN;
  const results = [await run('waiting', BASELINE_JOBS)];
  for (const kind of ['waiting', 'read by a consumer', 'cancelled but the last', 'grouped'] as const) results.push(await run(kind, JOBS));
  const [baseline] = results as [Measured];
  console.log('| queue | oldest-waiting.lua (µs) | × baseline | whole queueStats (µs) | × baseline |');
  console.log('|---|---|---|---|---|');
  for (const { label, scriptUs, statsUs } of results) {
    console.log(`| ${label} | ${scriptUs.toFixed(0)} | ${(scriptUs / baseline.scriptUs).toFixed(2)} | ${statsUs.toFixed(0)} | ${(statsUs / baseline.statsUs).toFixed(2)} |`);
  }
  console.log(`load average (1 min): ${loadBefore.toFixed(1)} at the start, ${(loadavg()[0] ?? Number.NaN).toFixed(1)} at the end, ${availableParallelism()} CPUs`);
}

await main();
