import type pg from 'pg';
import { FAILED_EVENT, FINISHED_STATES } from '../job-state.js';
import { dayOf, dayStartId, LAST_DAY, type Day } from './partitions.js';

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
         nullif(e."idempotencyKey", '') AS idempotency_key, e.schedule, to_timestamp(e."scheduleTick" / 1000.0) AS schedule_tick, e."group", e.traceparent
  FROM json_to_recordset($1::json) AS e(
    job uuid, seq int, status text, attempt int, at bigint, worker text, error text, "nextAt" text, reason text, result text,
    queue text, type text, payload text, "maxAttempts" int, priority int, "runAt" bigint, "idempotencyKey" text, schedule text, "scheduleTick" bigint, "group" text, traceparent text)`;

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
         e.run_at, e.at, l.at, CASE WHEN l.status IN (${FINISHED}) THEN l.at END, l.last_error, l.result::jsonb, l.seq, e.schedule, e.schedule_tick, e."group", e.traceparent
  FROM events e JOIN latest l ON l.job = e.job
  WHERE e.type IS NOT NULL`;

const JOB_COLUMNS = `id, queue, type, payload, status, attempts, max_attempts, priority, idempotency_key, run_at, created_at, updated_at,
  finished_at, last_error, result, last_seq, schedule, schedule_tick, "group", trace_parent`;

/** `column` within one of `days` days, given from parameter $2 on as pairs: the day's first id, the next day's. */
const withinDays = (column: string, days: number): string =>
  Array.from({ length: days }, (_, day) => `${column} >= $${2 + 2 * day}::uuid AND ${column} < $${3 + 2 * day}::uuid`).join(' OR ');

/**
 * One statement, so one atomic step without a transaction's extra round trips. Its parts cannot see
 * each other's writes, which is what makes it correct: the UPDATE touches only rows that existed
 * before (an earlier batch's jobs, or this batch written twice), never the rows `created` inserts.
 * Every part is idempotent, and the `last_seq` guard keeps an older batch from overwriting a newer
 * state.
 *
 * `jobs` is partitioned by day of the job id. Left to the join alone, the UPDATE would be planned,
 * locked and set up over every day kept, for each batch (run-time pruning skips only the probes),
 * which doubled PostgreSQL's CPU per job at 30 days. Given the `days` the batch's jobs were created
 * on, as parameters known when planning, only those days' partitions are; the statement then
 * returns how many of the batch's jobs lie outside them, for the caller to run it unpruned (0 days).
 *
 * A new row keeps its idempotency key even when an older job was submitted with the same key: Redis
 * deduplicates within the idempotency window, so a key reused after it names a new job, and the
 * history, partitioned by day, has no unique index across days to hold a key against.
 */
const recordBatch = (days: number): string => `
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
    WHERE jobs.id = l.job AND jobs.last_seq < l.seq${days > 0 ? ` AND (${withinDays('jobs.id', days)})` : ''}
  )
  SELECT ${days > 0 ? `count(*) AS unlisted FROM latest WHERE NOT (${withinDays('job', days)})` : '0 AS unlisted'}`;

/** How an event names its job in the events stream's JSON (cjson writes no spaces). */
const JOB_FIELD = '"job":"';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The days (of their ids' UUIDv7 time) of the jobs `events` names, found by their field rather than
 * by parsing the JSON. A quote inside a JSON string is escaped, so the field cannot be matched within
 * a value; and the days only narrow the UPDATE's partitions, so a job missed costs the unpruned
 * statement, never its state.
 */
function daysNamed(events: string): Day[] {
  const days = new Set<Day>();
  for (let at = events.indexOf(JOB_FIELD); at !== -1; at = events.indexOf(JOB_FIELD, at + JOB_FIELD.length)) {
    const id = events.slice(at + JOB_FIELD.length, at + JOB_FIELD.length + 36);
    const day = UUID.test(id) ? dayOf(parseInt(id.slice(0, 8) + id.slice(9, 13), 16)) : LAST_DAY + 1;
    if (day <= LAST_DAY) days.add(day);
  }
  return [...days];
}

/**
 * Writes a batch of events, given as JSON arrays straight from the events stream, however many jobs
 * it touches: the `job_events` rows, new `jobs` rows and each job's newest state. PostgreSQL reads
 * the JSON itself, so the recorder neither parses nor re-serializes a single event.
 */
export async function jobEventsInsertBatch(pool: pg.Pool, eventArrays: readonly string[]): Promise<void> {
  if (eventArrays.length === 0) return;
  const events = eventArrays.length === 1 ? (eventArrays[0] as string) : `[${eventArrays.map((json) => json.slice(1, -1)).join(',')}]`;
  const days = daysNamed(events);
  const bounds = days.flatMap((day) => [dayStartId(day), dayStartId(day + 1)]);
  const { rows } = await pool.query<{ unlisted: string }>(recordBatch(days.length), [events, ...bounds]);
  if (days.length > 0 && Number(rows[0]?.unlisted) > 0) await pool.query(recordBatch(0), [events]);
}
