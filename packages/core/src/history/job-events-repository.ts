import type pg from 'pg';
import { FAILED_EVENT, FINISHED_STATES } from '../job-state';

const sqlList = (values: readonly string[]): string => values.map((value) => `'${value}'`).join(', ');

/**
 * The events as `recordEvent` writes them to the events stream: one JSON object per transition, its
 * first carrying the job's submitted fields. Empty strings stand for "none".
 */
const EVENTS = `
  SELECT e.job, e.seq, e.status, coalesce(e.attempt, 0) AS attempt, to_timestamp(e.at / 1000.0) AS at,
         nullif(e.worker, '') AS worker, nullif(e.error, '') AS error, to_timestamp(nullif(e."nextAt", '')::bigint / 1000.0) AS next_at,
         nullif(e.reason, '') AS reason, nullif(e.result, '') AS result,
         e.queue, e.type, e.payload, e."maxAttempts" AS max_attempts, e.priority, to_timestamp(e."runAt" / 1000.0) AS run_at,
         nullif(e."idempotencyKey", '') AS idempotency_key
  FROM json_to_recordset($1::json) AS e(
    job uuid, seq int, status text, attempt int, at bigint, worker text, error text, "nextAt" text, reason text, result text,
    queue text, type text, payload text, "maxAttempts" int, priority int, "runAt" bigint, "idempotencyKey" text)`;

/**
 * Per job, the state the batch leaves it in: its last event's, with the newest error. A batch holds
 * whole stream entries, and a `failed` event never ends one (the same script call records where the
 * job went next), so a job's last event names its state; NULLIF guards the invariant all the same.
 */
const LATEST = `
  SELECT DISTINCT ON (e.job) e.job, e.seq, e.attempt AS attempts, e.at, nullif(e.status, '${FAILED_EVENT}') AS status, e.result, errors.last_error
  FROM events e
  LEFT JOIN (SELECT DISTINCT ON (job) job, error AS last_error FROM events WHERE error IS NOT NULL ORDER BY job, seq DESC) errors
    ON errors.job = e.job
  ORDER BY e.job, e.seq DESC`;

const FINISHED = sqlList(FINISHED_STATES);

/** A new job's row, already in the state the batch leaves it in. */
const NEW_JOBS = `
  SELECT e.job, e.queue, e.type, e.payload::jsonb, coalesce(l.status, e.status), l.attempts, e.max_attempts, e.priority, e.idempotency_key,
         e.run_at, e.at, l.at, CASE WHEN l.status IN (${FINISHED}) THEN l.at END, l.last_error, l.result::jsonb, l.seq
  FROM events e JOIN latest l ON l.job = e.job
  WHERE e.type IS NOT NULL`;

const JOB_COLUMNS = `id, queue, type, payload, status, attempts, max_attempts, priority, idempotency_key, run_at, created_at, updated_at,
  finished_at, last_error, result, last_seq`;

/**
 * One statement, so one atomic step without a transaction's extra round trips. Its parts cannot see
 * each other's writes, which is what makes it correct: the UPDATE touches only rows that existed
 * before (an earlier batch's jobs, or this batch written twice), never the rows `created` inserts.
 * Every part is idempotent, and the `last_seq` guard keeps an older batch from overwriting a newer
 * state.
 *
 * `jobs` is partitioned by day of the job id. Left to the join alone, the UPDATE would be planned,
 * locked and set up over every day kept, for each batch (run-time pruning skips only the probes),
 * which doubled PostgreSQL's CPU per job at 30 days. `pruned` adds the batch's job ids as a parameter
 * ($2), known when planning, so only the partitions of their days are; the statement then returns
 * how many of the batch's jobs that list left out (for the caller to run the unpruned one).
 *
 * A new row keeps its idempotency key even when an older job was submitted with the same key: Redis
 * deduplicates within the idempotency window, so a key reused after it names a new job, and the
 * history, partitioned by day, has no unique index across days to hold a key against.
 */
const recordBatch = (pruned: boolean): string => `
  WITH events AS MATERIALIZED (${EVENTS}),
  recorded AS (
    INSERT INTO job_events (job_id, seq, status, attempt, worker, error, next_at, reason, at)
    SELECT job, seq, status, attempt, worker, error, next_at, reason, at FROM events
    ON CONFLICT (job_id, seq) DO NOTHING
  ),
  latest AS MATERIALIZED (${LATEST}),
  created AS (
    INSERT INTO jobs (${JOB_COLUMNS}) ${NEW_JOBS}
    ON CONFLICT (id) DO NOTHING
  ),
  updated AS (
    UPDATE jobs SET
      status = coalesce(l.status, jobs.status),
      attempts = l.attempts,
      updated_at = l.at,
      finished_at = CASE WHEN l.status IS NULL THEN jobs.finished_at WHEN l.status IN (${FINISHED}) THEN l.at END,
      last_error = coalesce(l.last_error, jobs.last_error),
      result = coalesce(l.result::jsonb, jobs.result),
      last_seq = l.seq
    FROM latest l
    WHERE jobs.id = l.job AND jobs.last_seq < l.seq${pruned ? ' AND jobs.id = ANY($2::uuid[])' : ''}
  )
  SELECT ${pruned ? 'count(*) AS unlisted FROM latest WHERE job <> ALL($2::uuid[])' : '0 AS unlisted'}`;

const RECORD_BATCH = recordBatch(true);
const RECORD_BATCH_UNPRUNED = recordBatch(false);

/** How an event names its job in the events stream's JSON (cjson writes no spaces). */
const JOB_FIELD = '"job":"';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The ids of the jobs `events` names, found by their field rather than by parsing the JSON. A quote
 * inside a JSON string is escaped, so the field cannot be matched within a value; and the ids only
 * narrow the UPDATE's partitions, so one missed costs the unpruned statement, never a job's state.
 */
function jobIdsNamed(events: string): string[] {
  const ids = new Set<string>();
  for (let at = events.indexOf(JOB_FIELD); at !== -1; at = events.indexOf(JOB_FIELD, at + JOB_FIELD.length)) {
    const id = events.slice(at + JOB_FIELD.length, at + JOB_FIELD.length + 36);
    if (UUID.test(id)) ids.add(id);
  }
  return [...ids];
}

/**
 * Writes a batch of events, given as JSON arrays straight from the events stream, however many jobs
 * it touches: the `job_events` rows, new `jobs` rows and each job's newest state. PostgreSQL reads
 * the JSON itself, so the recorder neither parses nor re-serializes a single event.
 */
export async function jobEventsInsertBatch(pool: pg.Pool, eventArrays: readonly string[]): Promise<void> {
  if (eventArrays.length === 0) return;
  const events = eventArrays.length === 1 ? (eventArrays[0] as string) : `[${eventArrays.map((json) => json.slice(1, -1)).join(',')}]`;
  const { rows } = await pool.query<{ unlisted: string }>(RECORD_BATCH, [events, jobIdsNamed(events)]);
  if (Number(rows[0]?.unlisted) > 0) await pool.query(RECORD_BATCH_UNPRUNED, [events]);
}
