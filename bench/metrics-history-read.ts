/**
 * What reading the metrics history costs PostgreSQL, as the dashboard's History card reads it: GET
 * /stats/history (1 h in 1 m steps, 24 h in 15 m, 7 d in 1 h) and GET /stats/history/types over the
 * same range, through `jobMetricsHistory` and `jobMetricsByType`. The rollups are those of a busy
 * deployment: every minute of 7 days has a row for each of PAIRS (queue, job type) pairs, with a run
 * time histogram spread over 15 buckets up to bucket 80 (about 1 s) and a wait histogram over 15 up
 * to bucket 40, and each hour's row summing its minutes'. Prints each read's median wall time over
 * RUNS runs, per PAIRS.
 *
 *   npx tsx --conditions=sluice-source bench/metrics-history-read.ts
 *
 * Uses this machine's PostgreSQL (DATABASE_URL) under a schema of its own, removed at the end.
 */
import { randomUUID } from 'node:crypto';
import { jobMetricsByType, jobMetricsHistory, loadConfig } from '@sluice/core';
import { createTestDatabase } from '../test/support/context';
import { percentile } from './percentile';

const PAIRS = [10, 30];
const RUNS = 3;
const TYPES_PER_QUEUE = 10;
const END = Date.parse('2026-12-01T00:00:00Z');
const RANGES = [
  { range: '1 h', ms: 3_600_000, stepMs: 60_000 },
  { range: '24 h', ms: 86_400_000, stepMs: 900_000 },
  { range: '7 d', ms: 7 * 86_400_000, stepMs: 3_600_000 },
] as const;

async function medianMs(read: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let run = 0; run < RUNS; run += 1) {
    const started = performance.now();
    await read();
    times.push(performance.now() - started);
  }
  return Math.round(percentile(times.sort((a, b) => a - b), 50));
}

for (const pairs of PAIRS) {
  const config = loadConfig({ DATABASE_URL: process.env.DATABASE_URL, DATABASE_SCHEMA: `bench_metrics_read_${randomUUID().slice(0, 8)}`, LOG_LEVEL: 'silent' });
  const database = await createTestDatabase(config);
  try {
    // `+ p * 0` ties each histogram's subquery to its row: uncorrelated, PostgreSQL would draw one for all.
    await database.pool.query(
      `INSERT INTO job_metrics (minute, queue, type, completed, failed, dead, run_ms_buckets, wait_ms_buckets)
       SELECT m, 'q' || (p / $3), 't' || (p % $3), 100, 1, 0,
         ARRAY(SELECT CASE WHEN g > 65 THEN (random() * 10)::int ELSE 0 END FROM generate_series(1, 80 + p * 0) g),
         ARRAY(SELECT CASE WHEN g > 25 THEN (random() * 10)::int ELSE 0 END FROM generate_series(1, 40 + p * 0) g)
       FROM generate_series($1::timestamptz - interval '7 days', $1::timestamptz - interval '1 minute', interval '1 minute') m,
         generate_series(0, $2::int - 1) p`,
      [new Date(END).toISOString(), pairs, TYPES_PER_QUEUE],
    );
    // Each hour's row, as the recorder keeps it beside its minutes': their counts summed, their histograms added bucket by bucket.
    await database.pool.query(
      `INSERT INTO job_metrics (resolution, minute, queue, type, completed, failed, dead, run_ms_buckets, wait_ms_buckets)
       SELECT 'hour', h.hour, h.queue, h.type, h.completed, h.failed, h.dead,
         ARRAY(SELECT sum(b.n)::int FROM job_metrics m, unnest(m.run_ms_buckets) WITH ORDINALITY AS b(n, i)
           WHERE m.resolution = 'minute' AND m.minute >= h.hour AND m.minute < h.hour + interval '1 hour' AND (m.queue, m.type) = (h.queue, h.type) GROUP BY b.i ORDER BY b.i),
         ARRAY(SELECT sum(b.n)::int FROM job_metrics m, unnest(m.wait_ms_buckets) WITH ORDINALITY AS b(n, i)
           WHERE m.resolution = 'minute' AND m.minute >= h.hour AND m.minute < h.hour + interval '1 hour' AND (m.queue, m.type) = (h.queue, h.type) GROUP BY b.i ORDER BY b.i)
       FROM (SELECT date_trunc('hour', minute, 'UTC') AS hour, queue, type, sum(completed)::int AS completed, sum(failed)::int AS failed, sum(dead)::int AS dead
         FROM job_metrics GROUP BY 1, 2, 3) AS h`,
    );
    await database.pool.query('ANALYZE job_metrics');
    for (const { range, ms, stepMs } of RANGES) {
      const from = new Date(END - ms);
      const to = new Date(END);
      const history = await medianMs(() => jobMetricsHistory(database.db, { from, to, stepMs }));
      const types = await medianMs(() => jobMetricsByType(database.db, { from, to }));
      console.log(`${pairs} pairs, ${range}: /stats/history ${history} ms, /stats/history/types ${types} ms`);
    }
  } finally {
    await database.drop();
  }
}
