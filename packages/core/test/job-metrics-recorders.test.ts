import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Type } from 'typebox';
import { defineJobType, HistoryRecorder, JobTypeRegistry } from '@sluice/core';
import { createTestDatabase, isolatedConfig, waitFor, type TestDatabase } from '../../../test/support/context';
import { startInProcess, type InProcess } from '../../../test/support/in-process';

/**
 * The rollups as the stock pieces write them: a worker runs the jobs of a queue of two partitions,
 * and two recorders drain its events, taking the partitions' leases as they come and handing them
 * over when one stops. Every attempt is counted once, with its run and wait times, in its minute's
 * row and in its hour's.
 */
const config = isolatedConfig('job-metrics-recorders', { QUEUES: 'default:2' });
const JOBS = 300;
const registry = new JobTypeRegistry([defineJobType({ name: 'tally', payload: Type.Object({ n: Type.Integer() }) })]);
let database: TestDatabase;
let system: InProcess;

beforeAll(async () => {
  database = await createTestDatabase(config);
  system = await startInProcess(config, registry, { tally: () => undefined });
});
afterAll(async () => {
  await system?.close();
  await database?.drop();
});

const recorder = (owner: string) => new HistoryRecorder({
  redis: system.redis, pool: database.pool, prefix: config.redis.prefix, queues: config.queue.queues, layouts: system.worker.layouts, owner, leaseMs: 1000,
});

/** What the rows of `resolution` add up to: the minute rows, or the hour rows summing them. */
async function rolledUp(resolution: 'minute' | 'hour' = 'minute'): Promise<{ completed: number; runs: number; waits: number }> {
  const { rows } = await database.pool.query<{ completed: number; runs: number; waits: number }>(
    `SELECT coalesce(sum(completed), 0)::int AS completed,
            coalesce(sum((SELECT sum(n) FROM unnest(run_ms_buckets) AS n)), 0)::int AS runs,
            coalesce(sum((SELECT sum(n) FROM unnest(wait_ms_buckets) AS n)), 0)::int AS waits
     FROM job_metrics WHERE type = 'tally' AND resolution = $1`,
    [resolution],
  );
  return rows[0] ?? { completed: 0, runs: 0, waits: 0 };
}

describe('job metrics written by two recorders', () => {
  it('count every attempt once, however the recorders share and hand over the partitions', async () => {
    const [first, second] = [recorder('first'), recorder('second')];
    first.start();
    second.start();
    const half = Array.from({ length: JOBS / 2 }, (_, n) => ({ type: 'tally', payload: { n } }));
    await system.queue.addBulk(half);
    await waitFor('the first half to be rolled up', async () => (await rolledUp()).completed === JOBS / 2, 20_000);
    // One recorder stops (draining what it holds and giving up its leases); the other takes over.
    await first.stop();
    await system.queue.addBulk(half.map(({ payload }) => ({ type: 'tally', payload: { n: payload.n + JOBS / 2 } })));
    await waitFor('every job to be rolled up', async () => (await rolledUp()).completed === JOBS, 20_000);
    await second.stop();
    expect(await rolledUp()).toEqual({ completed: JOBS, runs: JOBS, waits: JOBS });
    expect(await rolledUp('hour')).toEqual({ completed: JOBS, runs: JOBS, waits: JOBS });
    const { rows } = await database.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM jobs WHERE status = 'completed'");
    expect(rows[0]?.n).toBe(JOBS);
  });
});
