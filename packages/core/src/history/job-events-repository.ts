import type pg from 'pg';
import { FAILED_EVENT, FINISHED_STATES } from '../job-state.js';
import { bucketSql } from './latency-histogram.js';
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
    RETURNING job_id, seq, status, attempt, at
  ),
  latest AS MATERIALIZED (${LATEST}),
  created AS (
    INSERT INTO jobs (${JOB_COLUMNS}) ${NEW_JOBS}
    ON CONFLICT (id) DO NOTHING
    RETURNING id, queue, type
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
    RETURNING jobs.id, jobs.queue, jobs.type
  ),
  ${rollUp(days)}
  SELECT ${days > 0 ? `count(*) AS unlisted FROM latest WHERE NOT (${withinDays('job', days)})` : '0 AS unlisted'}`;

/** Adds two histograms (int arrays of counts per bucket) element by element; the shorter one counts 0 past its end. */
const addBuckets = (a: string, b: string): string =>
  `ARRAY(SELECT coalesce(x, 0) + coalesce(y, 0) FROM unnest(${a}, ${b}) WITH ORDINALITY AS u(x, y, i) ORDER BY i)`;

/** The histogram of one group's samples of one kind: counts of buckets 0 to the highest it has. */
const histogramOf = (kind: string): string => `coalesce((
    SELECT array_agg(coalesce(s.n, 0) ORDER BY g.bucket)
    FROM generate_series(0, (SELECT max(m.bucket) FROM samples m WHERE (m.resolution, m.minute, m.queue, m.type, m.kind) = (r.resolution, r.minute, r.queue, r.type, '${kind}'))) AS g(bucket)
    LEFT JOIN samples s ON (s.resolution, s.minute, s.queue, s.type, s.kind, s.bucket) = (r.resolution, r.minute, r.queue, r.type, '${kind}', g.bucket)
  ), '{}')`;

/**
 * The part of `recordBatch` that adds the batch to the rollups in `job_metrics`, its minute rows and
 * their hour rows alike, in the same statement, so a rollup holds exactly the events recorded and an
 * hour row the sum of its minute rows. It counts only the events this
 * statement inserted (`recorded`): a batch written again (the recorder crashed before deleting it
 * from Redis, or another took over) inserts none and so adds nothing. A job's queue and type come
 * from the row the statement created or updated for it, which a new event always makes it do.
 *
 * A run time is an attempt's `completed` or `failed` time less its `processing` time, the event
 * before it; a wait time is a `processing` time less the moment the job was ready, which the event
 * before it gives (its `nextAt` if it names one, else its time). That event is in the batch or was
 * recorded before, where the key (job_id, seq) finds it, in the days of the batch's jobs only. A job
 * whose id names no day (not a UUIDv7) and whose row an earlier batch made is updated by the unpruned
 * second run of the statement, which inserts no event, so its events go uncounted. Rows are added in key order,
 * so recorders of the same queue adding to the same rows wait for each other instead of deadlocking.
 * Each timed event counts once at each resolution (`spans`): in its minute's row and its hour's.
 */
const rollUp = (days: number): string => `
  kinds AS (SELECT id, queue, type FROM created UNION ALL SELECT id, queue, type FROM updated),
  timed AS MATERIALIZED (
    SELECT r.status, date_trunc('minute', r.at) AS minute, k.queue, k.type,
      CASE WHEN r.status IN ('completed', '${FAILED_EVENT}') AND coalesce(b.status, stored.status) = 'processing' AND coalesce(b.attempt, stored.attempt) = r.attempt
        THEN extract(epoch FROM r.at - coalesce(b.at, stored.at)) * 1000 END AS run_ms,
      CASE WHEN r.status = 'processing' AND coalesce(b.at, stored.at) IS NOT NULL
        THEN greatest(0, extract(epoch FROM r.at - coalesce(b.next_at, b.at, stored.next_at, stored.at)) * 1000) END AS wait_ms
    FROM recorded r
    JOIN kinds k ON k.id = r.job_id
    LEFT JOIN events b ON b.job = r.job_id AND b.seq = r.seq - 1
    LEFT JOIN LATERAL (
      SELECT j.status, j.attempt, j.at, j.next_at FROM job_events j
      WHERE b.job IS NULL AND r.status IN ('processing', 'completed', '${FAILED_EVENT}') AND j.job_id = r.job_id AND j.seq = r.seq - 1
        ${days > 0 ? `AND (${withinDays('j.job_id', days)})` : ''}
    ) stored ON true
    WHERE r.status IN ('processing', 'completed', '${FAILED_EVENT}', 'dead')
  ),
  spans AS MATERIALIZED (
    SELECT span.resolution, span.minute, t.queue, t.type, t.status, t.run_ms, t.wait_ms
    FROM timed t CROSS JOIN LATERAL (VALUES ('minute', t.minute), ('hour', date_trunc('hour', t.minute, 'UTC'))) AS span(resolution, minute)
  ),
  samples AS MATERIALIZED (
    SELECT t.resolution, t.minute, t.queue, t.type, v.kind, ${bucketSql('v.ms')} AS bucket, count(*)::int AS n
    FROM spans t CROSS JOIN LATERAL (VALUES ('run', t.run_ms::float8), ('wait', t.wait_ms::float8)) AS v(kind, ms)
    WHERE v.ms IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5, 6
  ),
  rollup AS (
    SELECT resolution, minute, queue, type, count(*) FILTER (WHERE status = 'completed')::int AS completed,
      count(*) FILTER (WHERE status = '${FAILED_EVENT}')::int AS failed, count(*) FILTER (WHERE status = 'dead')::int AS dead
    FROM spans GROUP BY 1, 2, 3, 4
  ),
  rolled AS (
    INSERT INTO job_metrics AS m (resolution, minute, queue, type, completed, failed, dead, run_ms_buckets, wait_ms_buckets)
    SELECT r.resolution, r.minute, r.queue, r.type, r.completed, r.failed, r.dead, ${histogramOf('run')}, ${histogramOf('wait')}
    FROM rollup r ORDER BY r.resolution, r.minute, r.queue, r.type
    ON CONFLICT (resolution, minute, queue, type) DO UPDATE SET
      completed = m.completed + excluded.completed, failed = m.failed + excluded.failed, dead = m.dead + excluded.dead,
      run_ms_buckets = ${addBuckets('m.run_ms_buckets', 'excluded.run_ms_buckets')},
      wait_ms_buckets = ${addBuckets('m.wait_ms_buckets', 'excluded.wait_ms_buckets')}
  )`;

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
