/**
 * Exactly one job per tick: N scheduler processes (each a Scheduler with a producer of its own, as
 * in every worker and API) run S schedules of a fast everyMs on a queue of four partitions for a
 * while; one process is killed (SIGKILL) half way. Then every job the schedules made is read back
 * and the ticks are counted: expected (from each schedule's first tick to its last), jobs created,
 * ticks with more than one job (duplicates), ticks with none (missed), and how late each job was
 * added after its tick.
 *
 *   npx tsx --conditions=sluice-source bench/schedules.ts                       # 4 processes, 20 schedules of 1 s, 30 s
 *   npx tsx --conditions=sluice-source bench/schedules.ts --processes 8 --schedules 50 --every-ms 1000 --seconds 60
 *
 * Uses REDIS_URL, under a prefix of its own, removed at the end. No worker runs: the jobs stay pending.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Type } from 'typebox';
import {
  closeRedis, createRedis, defineJobType, JobTypeRegistry, loadConfig, Queue, queuePartitions, Scheduler, waitForRedis, type SluiceConfig,
} from '@sluice/core';
import { dropRedisKeys, isolatedConfig, waitFor } from '../test/support/context';

const { values: options } = parseArgs({
  options: {
    processes: { type: 'string', default: '4' },
    schedules: { type: 'string', default: '20' },
    'every-ms': { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '30' },
    child: { type: 'string' },
  },
});
const PARTITIONS = 4;
const registry = new JobTypeRegistry([defineJobType({ name: 'tick', payload: Type.Object({}) })]);

/** A scheduler process: runs until SIGTERM. */
async function runChild(prefix: string): Promise<void> {
  const config = loadConfig({ ...process.env, REDIS_PREFIX: prefix, QUEUES: `default:${PARTITIONS}`, LOG_LEVEL: 'silent' });
  const redis = createRedis(config.redis);
  await waitForRedis(redis, 5000);
  const scheduler = new Scheduler({ redis, prefix, queue: new Queue({ redis, redisConfig: config.redis, queueConfig: config.queue, registry }) });
  scheduler.start();
  process.send?.('ready');
  process.once('SIGTERM', () => void scheduler.stop().then(() => closeRedis(redis)).then(() => process.exit(0)));
}

function startChild(prefix: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--conditions=sluice-source', '--import', 'tsx', fileURLToPath(import.meta.url), '--child', prefix], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: process.env,
  });
  return new Promise((resolve, reject) => {
    child.once('message', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`a scheduler process exited with ${code} before it started`)));
  });
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

async function main(): Promise<void> {
  const processes = Number(options.processes);
  const scheduleCount = Number(options.schedules);
  const everyMs = Number(options['every-ms']);
  const seconds = Number(options.seconds);
  const config: SluiceConfig = isolatedConfig('bench-schedules', { QUEUES: `default:${PARTITIONS}` });
  const redis = createRedis(config.redis);
  await waitForRedis(redis, 5000);
  const queue = new Queue({ redis, redisConfig: config.redis, queueConfig: config.queue, registry });
  const children = await Promise.all(Array.from({ length: processes }, () => startChild(config.redis.prefix)));
  try {
    const names = Array.from({ length: scheduleCount }, (_, i) => `bench-${i}`);
    for (const name of names) await queue.schedule({ name, everyMs, job: { type: 'tick', payload: {} } });
    await new Promise((resolve) => setTimeout(resolve, (seconds * 1000) / 2));
    children[0]?.kill('SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, (seconds * 1000) / 2));
    for (const name of names) await queue.schedules.pause(name);
    // A claim the killed process held is driven again once its lease (30 s) ends.
    await waitFor('no run in flight', async () => (await queue.schedules.list({ limit: 100 })).schedules.every((schedule) => schedule.inFlight === 0), 60_000, 200);

    const jobs: { schedule: string; tick: number; createdAt: number }[] = [];
    for (const { keys } of queuePartitions(config.redis.prefix, 'default', PARTITIONS)) {
      const entries = await redis.xrange(keys.stream, '-', '+');
      const pipeline = redis.pipeline();
      for (const [, fields] of entries) pipeline.hmget(keys.job(fields[1] as string), 'schedule', 'scheduleTick', 'createdAt');
      for (const [, values] of (await pipeline.exec()) ?? []) {
        const [schedule, tick, createdAt] = values as [string, string, string];
        jobs.push({ schedule, tick: Number(tick), createdAt: Number(createdAt) });
      }
    }
    let expected = 0;
    let duplicates = 0;
    let missed = 0;
    for (const name of names) {
      const ticks = jobs.filter((job) => job.schedule === name).map((job) => job.tick).sort((a, b) => a - b);
      if (ticks.length === 0) continue;
      const span = ((ticks.at(-1) as number) - (ticks[0] as number)) / everyMs + 1;
      const distinct = new Set(ticks).size;
      expected += span;
      duplicates += ticks.length - distinct;
      missed += span - distinct;
    }
    const lateness = jobs.map((job) => job.createdAt - job.tick).sort((a, b) => a - b);
    console.log(`${processes} scheduler processes (one killed at ${seconds / 2} s), ${scheduleCount} schedules every ${everyMs} ms, ${seconds} s, queue of ${PARTITIONS} partitions`);
    console.log(`ticks expected (first to last tick of each schedule): ${expected}`);
    console.log(`jobs created:                                         ${jobs.length}`);
    console.log(`ticks with more than one job (duplicates):            ${duplicates}`);
    console.log(`ticks with no job (missed):                           ${missed}`);
    console.log(`job added after its tick, ms: p50 ${percentile(lateness, 50)}, p99 ${percentile(lateness, 99)}, max ${lateness.at(-1) ?? 0}`);
  } finally {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await closeRedis(redis);
    await dropRedisKeys(config);
  }
}

if (options.child !== undefined) await runChild(options.child);
else await main();
