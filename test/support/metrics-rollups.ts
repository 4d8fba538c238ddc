import type pg from 'pg';

const HOUR_MS = 3_600_000;

/** A minute's rollup of one queue and type, as the recorder writes it to job_metrics; counts default to 0, histograms to none. */
export interface MinuteRollup {
  minute: Date;
  queue: string;
  type: string;
  completed?: number;
  failed?: number;
  dead?: number;
  runMsBuckets?: number[];
  waitMsBuckets?: number[];
  depth?: number | null;
}

const added = (a: readonly number[], b: readonly number[]): number[] =>
  Array.from({ length: Math.max(a.length, b.length) }, (_, bucket) => (a[bucket] ?? 0) + (b[bucket] ?? 0));

/**
 * Writes `rows` as minute rows and, as the recorder does, their hour rows: per hour, queue and type
 * the minutes' counts summed, histograms added bucket by bucket and the deepest depth. The hours
 * must have no rows yet.
 */
export async function insertRollups(pool: pg.Pool, rows: readonly MinuteRollup[]): Promise<void> {
  const hours = new Map<string, MinuteRollup>();
  for (const row of rows) {
    const minute = new Date(Math.floor(row.minute.getTime() / HOUR_MS) * HOUR_MS);
    const key = JSON.stringify([minute, row.queue, row.type]);
    const hour = hours.get(key) ?? { minute, queue: row.queue, type: row.type, depth: null };
    hours.set(key, {
      ...hour,
      completed: (hour.completed ?? 0) + (row.completed ?? 0),
      failed: (hour.failed ?? 0) + (row.failed ?? 0),
      dead: (hour.dead ?? 0) + (row.dead ?? 0),
      runMsBuckets: added(hour.runMsBuckets ?? [], row.runMsBuckets ?? []),
      waitMsBuckets: added(hour.waitMsBuckets ?? [], row.waitMsBuckets ?? []),
      depth: row.depth == null ? hour.depth : Math.max(hour.depth ?? 0, row.depth),
    });
  }
  const written = [...rows.map((row) => ['minute', row] as const), ...[...hours.values()].map((row) => ['hour', row] as const)];
  for (const [resolution, row] of written) {
    await pool.query(
      `INSERT INTO job_metrics (resolution, minute, queue, type, completed, failed, dead, run_ms_buckets, wait_ms_buckets, depth)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [resolution, row.minute, row.queue, row.type, row.completed ?? 0, row.failed ?? 0, row.dead ?? 0, row.runMsBuckets ?? [], row.waitMsBuckets ?? [], row.depth ?? null],
    );
  }
}
