import type pg from 'pg';
import { FAILED_EVENT, FINISHED_STATES } from '../job-state';
import type { RecordedEvent } from './events';

/** The state a batch leaves a job in: the newest values each field received. */
interface JobUpdate {
  id: string;
  seq: number;
  status: string | null;
  attempts: number;
  atMs: number;
  finishedAtMs: number | null;
  lastError: string | null;
  result: string | null;
}

const toDate = (ms: number | null): Date | null => (ms === null ? null : new Date(ms));

/**
 * Writes a batch of events in one transaction and three statements, however many jobs it touches:
 * new `jobs` rows, the `job_events` rows, and each job's newest state. Every statement is
 * idempotent, so a batch written twice (a recorder crashed before deleting it from Redis) changes
 * nothing the second time, and an older batch never overwrites a newer state.
 */
export async function jobEventsInsertBatch(pool: pg.Pool, events: readonly RecordedEvent[]): Promise<void> {
  if (events.length === 0) return;
  const client = await pool.connect();
  // A checked-out client emits 'error' when its connection dies, and the pool no longer listens:
  // without a listener that would crash the process. The query in flight rejects all the same,
  // which is how the failure reaches the caller; the broken client is then discarded, not reused.
  let broken: Error | undefined;
  const onConnectionError = (error: Error): void => {
    broken = error;
  };
  client.on('error', onConnectionError);
  try {
    await client.query('BEGIN');
    await jobsInsertCreated(client, events);
    await client.query(
      `INSERT INTO job_events (job_id, seq, status, attempt, worker, error, next_at, reason, at)
       SELECT * FROM unnest($1::uuid[], $2::int[], $3::text[], $4::int[], $5::text[], $6::text[], $7::timestamptz[], $8::text[], $9::timestamptz[])
       ON CONFLICT (job_id, seq) DO NOTHING`,
      [
        events.map((e) => e.jobId),
        events.map((e) => e.seq),
        events.map((e) => e.status),
        events.map((e) => e.attempt),
        events.map((e) => e.worker),
        events.map((e) => e.error),
        events.map((e) => toDate(e.nextAtMs)),
        events.map((e) => e.reason),
        events.map((e) => new Date(e.atMs)),
      ],
    );
    await jobsApplyUpdates(client, collapse(events));
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.off('error', onConnectionError);
    client.release(broken);
  }
}

async function jobsInsertCreated(client: pg.PoolClient, events: readonly RecordedEvent[]): Promise<void> {
  const created = events.filter((e) => e.snapshot !== null);
  if (created.length === 0) return;
  const insert = async (rows: readonly RecordedEvent[], keepIdempotencyKey: boolean): Promise<Set<string>> => {
    const { rows: inserted } = await client.query<{ id: string }>(
      `INSERT INTO jobs (id, queue, type, payload, status, max_attempts, priority, idempotency_key, run_at, created_at, updated_at, last_seq)
       SELECT id, queue, type, payload, status, max_attempts, priority, idempotency_key, run_at, created_at, created_at, seq
       FROM unnest($1::uuid[], $2::text[], $3::text[], $4::jsonb[], $5::text[], $6::int[], $7::int[], $8::text[], $9::timestamptz[], $10::timestamptz[], $11::int[])
         AS t(id, queue, type, payload, status, max_attempts, priority, idempotency_key, run_at, created_at, seq)
       ON CONFLICT DO NOTHING
       RETURNING id`,
      [
        rows.map((e) => e.jobId),
        rows.map((e) => e.snapshot?.queue),
        rows.map((e) => e.snapshot?.type),
        rows.map((e) => e.snapshot?.payload),
        rows.map((e) => e.status),
        rows.map((e) => e.snapshot?.maxAttempts),
        rows.map((e) => e.snapshot?.priority),
        rows.map((e) => (keepIdempotencyKey ? e.snapshot?.idempotencyKey : null)),
        rows.map((e) => new Date(e.snapshot?.runAtMs ?? e.atMs)),
        rows.map((e) => new Date(e.atMs)),
        rows.map((e) => e.seq),
      ],
    );
    return new Set(inserted.map((row) => row.id));
  };
  const inserted = await insert(created, true);
  const skipped = created.filter((e) => !inserted.has(e.jobId));
  // A row skipped for its idempotency key (held by an older job in PostgreSQL after Redis forgot the
  // key) is stored without the key rather than lost; one skipped because the row exists stays skipped.
  if (skipped.length > 0) await insert(skipped, false);
}

async function jobsApplyUpdates(client: pg.PoolClient, updates: readonly JobUpdate[]): Promise<void> {
  if (updates.length === 0) return;
  await client.query(
    `UPDATE jobs SET
       status = COALESCE(v.status, jobs.status),
       attempts = v.attempts,
       updated_at = v.at,
       finished_at = CASE WHEN v.status IS NULL THEN jobs.finished_at ELSE v.finished_at END,
       last_error = COALESCE(v.last_error, jobs.last_error),
       result = COALESCE(v.result, jobs.result),
       last_seq = v.seq
     FROM unnest($1::uuid[], $2::int[], $3::text[], $4::int[], $5::timestamptz[], $6::timestamptz[], $7::text[], $8::jsonb[])
       AS v(id, seq, status, attempts, at, finished_at, last_error, result)
     WHERE jobs.id = v.id AND jobs.last_seq < v.seq`,
    [
      updates.map((u) => u.id),
      updates.map((u) => u.seq),
      updates.map((u) => u.status),
      updates.map((u) => u.attempts),
      updates.map((u) => new Date(u.atMs)),
      updates.map((u) => toDate(u.finishedAtMs)),
      updates.map((u) => u.lastError),
      updates.map((u) => u.result),
    ],
  );
}

/** Folds a batch into one update per job, in event order. */
function collapse(events: readonly RecordedEvent[]): JobUpdate[] {
  const byJob = new Map<string, JobUpdate>();
  for (const event of [...events].sort((a, b) => a.seq - b.seq)) {
    const update = byJob.get(event.jobId) ?? {
      id: event.jobId, seq: 0, status: null, attempts: 0, atMs: 0, finishedAtMs: null, lastError: null, result: null,
    };
    if (event.seq < update.seq) continue;
    update.seq = event.seq;
    update.attempts = event.attempt;
    update.atMs = event.atMs;
    if (event.status !== FAILED_EVENT) {
      update.status = event.status;
      update.finishedAtMs = (FINISHED_STATES as readonly string[]).includes(event.status) ? event.atMs : null;
    }
    if (event.error !== null) update.lastError = event.error;
    if (event.result !== null) update.result = event.result;
    byJob.set(event.jobId, update);
  }
  return [...byJob.values()];
}
