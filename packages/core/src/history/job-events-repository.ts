import type pg from 'pg';
import { FAILED_EVENT, FINISHED_STATES } from '../job-state';
import type { JobSnapshot, RecordedEvent } from './events';

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

const isoOrNull = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

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
    const updates = collapse(events);
    const created = await jobsInsertCreated(client, events, updates);
    // One JSON document per statement: JSON.stringify is native and cheap, where the driver's
    // escaping of nine array parameters cost more than the database's work.
    await client.query(
      `INSERT INTO job_events (job_id, seq, status, attempt, worker, error, next_at, reason, at)
       SELECT job_id, seq, status, attempt, worker, error, next_at, reason, at
       FROM json_to_recordset($1::json)
         AS t(job_id uuid, seq int, status text, attempt int, worker text, error text, next_at timestamptz, reason text, at timestamptz)
       ON CONFLICT (job_id, seq) DO NOTHING`,
      [
        JSON.stringify(
          events.map((e) => ({
            job_id: e.jobId, seq: e.seq, status: e.status, attempt: e.attempt, worker: e.worker, error: e.error,
            next_at: isoOrNull(e.nextAtMs), reason: e.reason, at: new Date(e.atMs).toISOString(),
          })),
        ),
      ],
    );
    await jobsApplyUpdates(client, [...updates.values()].filter((update) => !created.has(update.id)));
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.off('error', onConnectionError);
    client.release(broken);
  }
}

/**
 * Inserts the rows of the jobs first seen in this batch, already in the state the batch leaves them
 * in, so a job whose whole life fits in one batch costs one row write. Returns the ids inserted; a
 * row that existed (a batch written twice) is left to the update.
 */
async function jobsInsertCreated(client: pg.PoolClient, events: readonly RecordedEvent[], updates: ReadonlyMap<string, JobUpdate>): Promise<Set<string>> {
  const created = events.filter((e) => e.snapshot !== null);
  if (created.length === 0) return new Set();
  const insert = async (rows: readonly RecordedEvent[], keepIdempotencyKey: boolean): Promise<string[]> => {
    const { rows: inserted } = await client.query<{ id: string }>(
      `INSERT INTO jobs (id, queue, type, payload, status, attempts, max_attempts, priority, idempotency_key, run_at, created_at, updated_at,
                         finished_at, last_error, result, last_seq)
       SELECT id, queue, type, payload, status, attempts, max_attempts, priority, idempotency_key, run_at, created_at, updated_at,
              finished_at, last_error, result, last_seq
       FROM json_to_recordset($1::json)
         AS t(id uuid, queue text, type text, payload jsonb, status text, attempts int, max_attempts int, priority int, idempotency_key text,
              run_at timestamptz, created_at timestamptz, updated_at timestamptz, finished_at timestamptz, last_error text, result jsonb, last_seq int)
       ON CONFLICT DO NOTHING
       RETURNING id`,
      [
        JSON.stringify(
          rows.map((e) => {
            const snapshot = e.snapshot as JobSnapshot;
            const latest = updates.get(e.jobId) as JobUpdate;
            return {
              id: e.jobId, queue: snapshot.queue, type: snapshot.type, payload: JSON.parse(snapshot.payload) as unknown,
              status: latest.status ?? e.status, attempts: latest.attempts, max_attempts: snapshot.maxAttempts, priority: snapshot.priority,
              idempotency_key: keepIdempotencyKey ? snapshot.idempotencyKey : null,
              run_at: new Date(snapshot.runAtMs).toISOString(), created_at: new Date(e.atMs).toISOString(), updated_at: new Date(latest.atMs).toISOString(),
              finished_at: isoOrNull(latest.finishedAtMs), last_error: latest.lastError, result: resultJson(latest.result), last_seq: latest.seq,
            };
          }),
        ),
      ],
    );
    return inserted.map((row) => row.id);
  };
  const inserted = new Set(await insert(created, true));
  const skipped = created.filter((e) => !inserted.has(e.jobId));
  // A row skipped for its idempotency key (held by an older job in PostgreSQL after Redis forgot the
  // key) is stored without the key rather than lost; one skipped because the row exists stays skipped.
  if (skipped.length > 0) for (const id of await insert(skipped, false)) inserted.add(id);
  return inserted;
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
     FROM json_to_recordset($1::json)
       AS v(id uuid, seq int, status text, attempts int, at timestamptz, finished_at timestamptz, last_error text, result jsonb)
     WHERE jobs.id = v.id AND jobs.last_seq < v.seq`,
    [
      JSON.stringify(
        updates.map((u) => ({
          id: u.id, seq: u.seq, status: u.status, attempts: u.attempts, at: new Date(u.atMs).toISOString(),
          finished_at: isoOrNull(u.finishedAtMs), last_error: u.lastError, result: resultJson(u.result),
        })),
      ),
    ],
  );
}

const resultJson = (result: string | null): unknown => (result === null ? null : JSON.parse(result));

/** Folds a batch into one update per job, in event order. */
function collapse(events: readonly RecordedEvent[]): Map<string, JobUpdate> {
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
  return byJob;
}
