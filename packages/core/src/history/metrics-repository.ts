import { sql, type SQL } from 'drizzle-orm';
import type pg from 'pg';
import type { Database } from './db.js';
import { addBuckets, quantileOf } from './latency-histogram.js';

/** The `type` of a queue's own row in job_metrics, the one holding its sampled depth: no job type is empty. */
export const QUEUE_DEPTH_TYPE = '';

/** Records a queue's depth (pending jobs) sampled in `minute` (ms, a whole minute); a later sample of the minute replaces it. */
export async function jobMetricsDepthRecord(pool: pg.Pool, minute: number, queue: string, depth: number): Promise<void> {
  await pool.query(
    `INSERT INTO job_metrics (minute, queue, type, depth) VALUES ($1, $2, $3, $4)
     ON CONFLICT (minute, queue, type) DO UPDATE SET depth = excluded.depth`,
    [new Date(minute), queue, QUEUE_DEPTH_TYPE, depth],
  );
}

/** Most points one answer of `jobMetricsHistory` holds. */
export const METRICS_HISTORY_MAX_POINTS = 1500;

/** Which rollups to read: a queue and type or all of them, over [from, to), merged into steps. */
export interface MetricsHistoryFilter {
  queue?: string;
  type?: string;
  from: Date;
  to: Date;
  /** Width of a point, in ms: a whole number of minutes. */
  stepMs: number;
}

/** Percentiles of durations in ms (within 4.5%: see latency-histogram.ts); null where nothing was timed. */
export interface DurationPercentiles {
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

/** One step of the metrics history. */
export interface MetricsPoint {
  /** Start of the step. */
  at: string;
  completed: number;
  failed: number;
  dead: number;
  runMs: DurationPercentiles;
  waitMs: DurationPercentiles;
  /** The deepest the queues matched were in the step (pending jobs, sampled once a minute); null without a sample. */
  depth: number | null;
}

/** The first step's start: `from` rounded down to a whole step since the epoch, so that steps stay put as time goes on. */
export function metricsHistoryStart(from: Date, stepMs: number): number {
  return Math.floor(from.getTime() / stepMs) * stepMs;
}

type SlotRow = { slot: number; completed: number; failed: number; dead: number };
type DepthRow = { slot: number; depth: number };
type BucketRow = { slot: number; kind: 'run' | 'wait'; bucket: number; n: number };

/**
 * The rollups of `filter`, one point per step from `from` (rounded down to a step) to `to`, every
 * step present, zero where nothing happened. Counts and histograms are added across the minutes,
 * queues and types of a step, so its percentiles are those of all of its attempts, not an average.
 */
export async function jobMetricsHistory(db: Database, filter: MetricsHistoryFilter): Promise<MetricsPoint[]> {
  const start = metricsHistoryStart(filter.from, filter.stepMs);
  const steps = Math.ceil((filter.to.getTime() - start) / filter.stepMs);
  const slot = sql`floor((extract(epoch FROM minute) * 1000 - ${start}) / ${filter.stepMs})::int`;
  const where = (rows: 'jobs' | 'depth'): SQL => {
    const conditions = [sql`minute >= ${new Date(start).toISOString()}::timestamptz AND minute < ${filter.to.toISOString()}::timestamptz`];
    if (filter.queue !== undefined) conditions.push(sql`queue = ${filter.queue}`);
    if (rows === 'depth') conditions.push(sql`type = ${QUEUE_DEPTH_TYPE} AND depth IS NOT NULL`);
    else conditions.push(filter.type === undefined ? sql`type <> ${QUEUE_DEPTH_TYPE}` : sql`type = ${filter.type}`);
    return sql.join(conditions, sql` AND `);
  };
  const [counts, depths, buckets] = await Promise.all([
    db.execute<SlotRow>(sql`SELECT ${slot} AS slot, sum(completed)::int AS completed, sum(failed)::int AS failed, sum(dead)::int AS dead
      FROM job_metrics WHERE ${where('jobs')} GROUP BY 1`),
    db.execute<DepthRow>(sql`SELECT slot, max(depth)::int AS depth FROM (
        SELECT ${slot} AS slot, minute, sum(depth) AS depth FROM job_metrics WHERE ${where('depth')} GROUP BY 1, 2) AS minutes
      GROUP BY 1`),
    db.execute<BucketRow>(sql`SELECT slot, kind, bucket, sum(n)::int AS n FROM (
        SELECT ${slot} AS slot, 'run' AS kind, (b.i - 1)::int AS bucket, b.n FROM job_metrics, unnest(run_ms_buckets) WITH ORDINALITY AS b(n, i) WHERE ${where('jobs')} AND b.n > 0
        UNION ALL
        SELECT ${slot} AS slot, 'wait' AS kind, (b.i - 1)::int AS bucket, b.n FROM job_metrics, unnest(wait_ms_buckets) WITH ORDINALITY AS b(n, i) WHERE ${where('jobs')} AND b.n > 0
      ) AS samples GROUP BY 1, 2, 3`),
  ]);
  const points = Array.from({ length: steps }, (_, index) => ({
    at: new Date(start + index * filter.stepMs).toISOString(), completed: 0, failed: 0, dead: 0, run: [] as number[], wait: [] as number[], depth: null as number | null,
  }));
  for (const row of counts.rows) Object.assign(points[row.slot] ?? {}, { completed: row.completed, failed: row.failed, dead: row.dead });
  for (const row of depths.rows) {
    const point = points[row.slot];
    if (point) point.depth = row.depth;
  }
  for (const row of buckets.rows) {
    const point = points[row.slot];
    if (point) addBuckets(point[row.kind], [...Array<number>(row.bucket).fill(0), row.n]);
  }
  return points.map(({ run, wait, ...point }) => ({ ...point, runMs: percentiles(run), waitMs: percentiles(wait) }));
}

function percentiles(buckets: readonly number[]): DurationPercentiles {
  return { p50: quantileOf(buckets, 0.5), p95: quantileOf(buckets, 0.95), p99: quantileOf(buckets, 0.99) };
}
