import type pg from 'pg';
import { v7 } from 'uuid';
import { jobEventsInsertBatch } from '../../src/history/job-events-repository';

/** A job id made at `ms`, as `newJobId` makes one. */
export const jobIdAt = (ms: number): string => v7({ msecs: ms });

/** How a recorded job starts and goes on. */
export interface Life {
  /** Its first status. Default `pending`. */
  first?: string;
  /** The statuses it moves through after, one second apart. */
  then?: string[];
  idempotencyKey?: string;
}

/**
 * Records a job submitted at `at` through the recorder's statement, every transition a stream entry
 * of its own, as the events stream holds them.
 */
export async function recordJob(pool: pg.Pool, job: string, at: number, life: Life = {}): Promise<void> {
  const submitted = {
    job, seq: 1, status: life.first ?? 'pending', attempt: 0, at, queue: 'default', type: 'noop', payload: '{"n":1}',
    maxAttempts: '3', priority: '0', runAt: String(at), idempotencyKey: life.idempotencyKey ?? '',
  };
  await jobEventsInsertBatch(pool, [JSON.stringify([submitted]), ...entries(job, 2, at, life.then ?? [])]);
}

/** Records more of a job's life: `statuses` from event number `seq` on. */
export async function recordEvents(pool: pg.Pool, job: string, seq: number, at: number, statuses: string[]): Promise<void> {
  await jobEventsInsertBatch(pool, entries(job, seq, at, statuses));
}

function entries(job: string, seq: number, at: number, statuses: string[]): string[] {
  return statuses.map((status, index) => JSON.stringify([{
    job, seq: seq + index, status, attempt: 1, at: at + (seq + index) * 1000, worker: 'w1',
    ...(status === 'failed' || status === 'dead' ? { error: 'boom' } : {}),
    ...(status === 'dead' ? { reason: 'exhausted' } : {}),
    ...(status === 'completed' ? { result: '{"ok":true}' } : {}),
  }]));
}

/** The partition each of a table's rows is in, by job id. */
export async function partitionsOf(pool: pg.Pool, table: 'jobs' | 'job_events'): Promise<Record<string, string[]>> {
  const key = table === 'jobs' ? 'id' : 'job_id';
  const { rows } = await pool.query<{ id: string; partitions: string[] }>(
    `SELECT ${key} AS id, array_agg(DISTINCT tableoid::regclass::text) AS partitions FROM ${table} GROUP BY ${key}`,
  );
  return Object.fromEntries(rows.map((row) => [row.id, row.partitions]));
}
