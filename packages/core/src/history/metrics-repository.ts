import { sql, type SQL } from 'drizzle-orm';
import type pg from 'pg';
import type { Database } from './db.js';
import { addBuckets, quantileOf } from './latency-histogram.js';
import type { MetricsResolution } from './schema.js';

/** The `type` of a queue's own row in job_metrics, the one holding its sampled depth: no job type is empty. */
export const QUEUE_DEPTH_TYPE = '';

const HOUR_MS = 3_600_000;

/**
 * Records a queue's depth (pending jobs) sampled in `minute` (ms, a whole minute): on the minute's
 * row, where a later sample of the minute replaces it, and on its hour's row, which keeps the most of
 * all the samples taken in the hour.
 */
export async function jobMetricsDepthRecord(pool: pg.Pool, minute: number, queue: string, depth: number): Promise<void> {
  await pool.query(
    `INSERT INTO job_metrics AS m (resolution, minute, queue, type, depth) VALUES ('minute', $1, $3, $4, $5), ('hour', $2, $3, $4, $5)
     ON CONFLICT (resolution, minute, queue, type) DO UPDATE SET depth = CASE m.resolution WHEN 'hour' THEN greatest(m.depth, excluded.depth) ELSE excluded.depth END`,
    [new Date(minute), new Date(Math.floor(minute / HOUR_MS) * HOUR_MS), queue, QUEUE_DEPTH_TYPE, depth],
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

type CountRow = { key: string | number; completed: number; failed: number; dead: number };
type BucketRow = { key: string | number; kind: 'run' | 'wait'; bucket: number; n: number };
type DepthRow = { slot: number; depth: number };

/** Counts and merged histograms of a group of rollups. */
interface Totals {
  completed: number;
  failed: number;
  dead: number;
  run: number[];
  wait: number[];
}

const minutesWithin = (resolution: MetricsResolution, from: number, to: number): SQL =>
  sql`(resolution = ${resolution} AND minute >= ${new Date(from).toISOString()}::timestamptz AND minute < ${new Date(to).toISOString()}::timestamptz)`;

/**
 * The rows that sum the events of the minutes in [from, to), each event once. With `hourly`, the
 * whole hours of the range are read from their hour rows, 60 times fewer than their minute rows,
 * and only the minutes before the first whole hour and from the last one on from minute rows; as an
 * hour row is the sum of its minute rows, the totals are the same, but a read can no longer tell the
 * minutes of an hour apart, which a step of whole hours does not need to.
 */
function rowsOfMinutes(from: number, to: number, hourly: boolean): SQL {
  const firstHour = Math.ceil(from / HOUR_MS) * HOUR_MS;
  const lastHour = Math.floor(to / HOUR_MS) * HOUR_MS;
  if (!hourly || firstHour >= lastHour) return minutesWithin('minute', from, to);
  return sql`(${minutesWithin('hour', firstHour, lastHour)} OR ${minutesWithin('minute', from, firstHour)} OR ${minutesWithin('minute', lastHour, to)})`;
}

/** The job rows (not the depth rows) of `filter` from `start` on, queue and type as it says, hour rows where `hourly` allows. */
function jobRows(filter: Omit<MetricsHistoryFilter, 'stepMs'>, start: number, hourly: boolean): SQL {
  const conditions = [rowsOfMinutes(start, filter.to.getTime(), hourly)];
  if (filter.queue !== undefined) conditions.push(sql`queue = ${filter.queue}`);
  conditions.push(filter.type === undefined ? sql`type <> ${QUEUE_DEPTH_TYPE}` : sql`type = ${filter.type}`);
  return sql.join(conditions, sql` AND `);
}

/** The rows matching `where`, added up per value of `key`: counts summed, histograms merged. */
async function totalsBy(db: Database, key: SQL, where: SQL): Promise<Map<string | number, Totals>> {
  const [counts, buckets] = await Promise.all([
    db.execute<CountRow>(sql`SELECT ${key} AS key, sum(completed)::int AS completed, sum(failed)::int AS failed, sum(dead)::int AS dead
      FROM job_metrics WHERE ${where} GROUP BY 1`),
    db.execute<BucketRow>(sql`SELECT key, kind, bucket, sum(n)::int AS n FROM (
        SELECT ${key} AS key, 'run' AS kind, (b.i - 1)::int AS bucket, b.n FROM job_metrics, unnest(run_ms_buckets) WITH ORDINALITY AS b(n, i) WHERE ${where} AND b.n > 0
        UNION ALL
        SELECT ${key} AS key, 'wait' AS kind, (b.i - 1)::int AS bucket, b.n FROM job_metrics, unnest(wait_ms_buckets) WITH ORDINALITY AS b(n, i) WHERE ${where} AND b.n > 0
      ) AS samples GROUP BY 1, 2, 3`),
  ]);
  const totals = new Map<string | number, Totals>();
  for (const row of counts.rows) totals.set(row.key, { completed: row.completed, failed: row.failed, dead: row.dead, run: [], wait: [] });
  for (const row of buckets.rows) {
    const group = totals.get(row.key);
    if (group) addBuckets(group[row.kind], [...Array<number>(row.bucket).fill(0), row.n]);
  }
  return totals;
}

/**
 * The rollups of `filter`, one point per step from `from` (rounded down to a step) to `to`, every
 * step present, zero where nothing happened. Counts and histograms are added across the minutes,
 * queues and types of a step, so its percentiles are those of all of its attempts, not an average.
 * A step of whole hours starts on an hour, so it reads hour rows (see `rowsOfMinutes`); its depth
 * is then the sum of each queue's deepest sample in the hour, which is the deepest the queues were
 * together when one queue is read, and at most that many over several.
 */
export async function jobMetricsHistory(db: Database, filter: MetricsHistoryFilter): Promise<MetricsPoint[]> {
  const start = metricsHistoryStart(filter.from, filter.stepMs);
  const steps = Math.ceil((filter.to.getTime() - start) / filter.stepMs);
  const hourly = filter.stepMs % HOUR_MS === 0;
  const slot = sql`floor((extract(epoch FROM minute) * 1000 - ${start}) / ${filter.stepMs})::int`;
  const depthRows = sql.join([
    rowsOfMinutes(start, filter.to.getTime(), hourly),
    ...(filter.queue === undefined ? [] : [sql`queue = ${filter.queue}`]),
    sql`type = ${QUEUE_DEPTH_TYPE} AND depth IS NOT NULL`,
  ], sql` AND `);
  const [totals, depths] = await Promise.all([
    totalsBy(db, slot, jobRows(filter, start, hourly)),
    // Queues' depths add up minute (or hour) by minute; a step shows its deepest.
    db.execute<DepthRow>(sql`SELECT slot, max(depth)::int AS depth FROM (
        SELECT ${slot} AS slot, minute, sum(depth) AS depth FROM job_metrics WHERE ${depthRows} GROUP BY 1, 2) AS minutes
      GROUP BY 1`),
  ]);
  const depthOf = new Map(depths.rows.map((row) => [row.slot, row.depth]));
  return Array.from({ length: steps }, (_, index) => ({
    at: new Date(start + index * filter.stepMs).toISOString(),
    ...summary(totals.get(index)),
    depth: depthOf.get(index) ?? null,
  }));
}

/**
 * Per job type, the totals of the rollups of `queue` (or all queues) over [from, to), most completed
 * first: the range's whole hours from hour rows, its edges from minute rows.
 */
export async function jobMetricsByType(db: Database, filter: Omit<MetricsHistoryFilter, 'stepMs' | 'type'>): Promise<TypeMetrics[]> {
  const totals = await totalsBy(db, sql`type`, jobRows(filter, filter.from.getTime(), true));
  return [...totals].map(([type, group]) => ({ type: String(type), ...summary(group) })).sort((a, b) => b.completed - a.completed || a.type.localeCompare(b.type));
}

/** One job type's totals over a range. */
export interface TypeMetrics extends Omit<MetricsPoint, 'at' | 'depth'> {
  type: string;
}

function summary(totals: Totals | undefined): Omit<MetricsPoint, 'at' | 'depth'> {
  const { completed = 0, failed = 0, dead = 0, run = [], wait = [] } = totals ?? {};
  return { completed, failed, dead, runMs: percentiles(run), waitMs: percentiles(wait) };
}

function percentiles(buckets: readonly number[]): DurationPercentiles {
  return { p50: quantileOf(buckets, 0.5), p95: quantileOf(buckets, 0.95), p99: quantileOf(buckets, 0.99) };
}
