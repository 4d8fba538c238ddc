import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeRedis, createRedis, Queue, queueKeys, waitForRedis, WORKER_GROUP, type ScriptedRedis } from '@sluice/core';
import { createJobRegistry } from '@sluice/jobs';
import { createTestDatabase, dropRedisKeys, envFor, isolatedConfig, waitFor, type TestDatabase } from '../support/context';
import { WorkerPool } from '../support/worker-pool';

const JOBS = 5000;
const BATCH = 1000;
const WORKERS = 3;
const MAX_KILLS = 10;
const KILL_EVERY_MS = 1000;
// A batch reclaimed from one victim can land on the next one just before it dies, so one job can be in
// flight at several kills (four has been seen); a delivery limit above the number of kills keeps the
// poison rule, which has a test of its own, from ending a job here.
const settings = { CONCURRENCY: '10', VISIBILITY_TIMEOUT_MS: '1000', MAX_DELIVERIES: String(MAX_KILLS + 1) };

const config = isolatedConfig('chaos', settings);
const keys = queueKeys(config.redis.prefix, config.queue.queues[0] ?? 'default');
let database: TestDatabase;
let redis: ScriptedRedis;
let queue: Queue;
const pool = new WorkerPool({
  file: 'apps/worker/src/main.ts',
  env: { ...envFor(config), ...settings },
  size: WORKERS,
  name: 'chaos',
  maxRestarts: MAX_KILLS,
});

beforeAll(async () => {
  database = await createTestDatabase(config);
  redis = createRedis(config.redis);
  await waitForRedis(redis, 5000);
  queue = new Queue({ redis, redisConfig: config.redis, queueConfig: config.queue, registry: createJobRegistry() });
});

afterAll(async () => {
  await pool.stop();
  if (redis) await closeRedis(redis);
  await dropRedisKeys(config);
  await database?.drop();
});

/** Ids of the entries the group has handed to `consumer` and not yet seen acknowledged. */
async function pendingOf(consumer: string): Promise<string[]> {
  const entries = (await redis.xpending(keys.stream, WORKER_GROUP, '-', '+', 10_000, consumer)) as [string, ...unknown[]][];
  return entries.map(([entryId]) => entryId);
}

/** How many of the jobs are in each status, as their Redis hashes say. */
async function statusesInRedis(ids: readonly string[]): Promise<Record<string, number>> {
  const pipeline = redis.pipeline();
  for (const id of ids) pipeline.hget(keys.job(id), 'status');
  const tally: Record<string, number> = {};
  for (const [, status] of (await pipeline.exec()) ?? []) {
    const key = typeof status === 'string' ? status : 'missing';
    tally[key] = (tally[key] ?? 0) + 1;
  }
  return tally;
}

function randomSleepMs(): number {
  return 5 + Math.floor(Math.random() * 196);
}

describe('chaos: workers killed with SIGKILL one after another while they work', () => {
  it(`completes all ${JOBS} jobs, and reruns no more jobs than were in flight at the kills`, async () => {
    const startedAt = Date.now();
    pool.start();
    await pool.ready();

    const ids: string[] = [];
    for (let offset = 0; offset < JOBS; offset += BATCH) {
      const added = await queue.addBulk(Array.from({ length: BATCH }, () => ({ type: 'sleep', payload: { ms: randomSleepMs() } })));
      ids.push(...added.map((job) => job.id));
    }

    const inFlightAtKills: number[] = [];
    while (inFlightAtKills.length < MAX_KILLS) {
      // Spaces the kills out so that each victim's jobs can be reclaimed between them.
      await new Promise((resolve) => setTimeout(resolve, KILL_EVERY_MS));
      // A completed job's entry is deleted from the stream, so an empty stream means nothing is left to run.
      if ((await redis.xlen(keys.stream)) === 0) break;
      const slot = inFlightAtKills.length % WORKERS;
      await pool.worker(slot).waitForOutput('worker started');
      // Counted on both sides of the kill: the victim may read more entries between the first count
      // and its death, and a starved victim's entries may already be near the visibility timeout and
      // be reclaimed by others right after it. Otherwise a dead consumer's entries stay its own.
      const before = await pendingOf(pool.worker(slot).name);
      const victim = await pool.kill(slot);
      inFlightAtKills.push(new Set([...before, ...(await pendingOf(victim.name))]).size);
    }

    await waitFor('every job finished in Redis', async () => (await redis.xlen(keys.stream)) === 0, 60_000, 100);
    expect(await statusesInRedis(ids)).toEqual({ completed: JOBS });
    // Up to the recorder lease (10 s) passes before a killed recorder's events are taken over.
    await waitFor('every job completed in PostgreSQL', async () => {
      const { rows } = await database.pool.query<{ status: string; n: number }>('SELECT status, count(*)::int AS n FROM jobs GROUP BY status');
      const tally = Object.fromEntries(rows.map((row) => [row.status, row.n]));
      if (tally.completed === JOBS) return true;
      throw new Error(`PostgreSQL has ${JSON.stringify(tally)}; ${await redis.xlen(keys.events)} events wait in Redis`);
    }, 40_000, 250);
    const durationMs = Date.now() - startedAt;

    const { rows: stored } = await database.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM jobs WHERE id = ANY($1::uuid[])', [ids]);
    expect(stored).toEqual([{ n: JOBS }]);
    expect(await redis.xlen(keys.dlq)).toBe(0);

    const { rows: runs } = await database.pool.query<{ runs: number; n: number }>(
      `SELECT runs, count(*)::int AS n FROM (
         SELECT j.id, count(e.seq) FILTER (WHERE e.status = 'processing')::int AS runs
         FROM jobs j LEFT JOIN job_events e ON e.job_id = j.id GROUP BY j.id
       ) per_job GROUP BY runs ORDER BY runs`,
    );
    expect(runs.find((row) => row.runs === 0)).toBeUndefined();
    const extraRuns = runs.reduce((sum, row) => sum + (row.runs - 1) * row.n, 0);
    const inFlight = inFlightAtKills.reduce((sum, n) => sum + n, 0);

    console.log(
      `chaos: ${JOBS} jobs, ${WORKERS} workers × ${settings.CONCURRENCY}, ${inFlightAtKills.length} kills, ` +
        `in flight at the kills ${inFlight} (${inFlightAtKills.join(', ')}), extra runs ${extraRuns} ` +
        `(jobs by runs: ${runs.map((row) => `${row.runs}×${row.n}`).join(', ')}), ${(durationMs / 1000).toFixed(1)} s`,
    );
    expect(inFlightAtKills.length).toBeGreaterThanOrEqual(3);
    expect(inFlight).toBeGreaterThan(0);
    expect(extraRuns).toBeLessThanOrEqual(inFlight);
  }, 90_000);
});
