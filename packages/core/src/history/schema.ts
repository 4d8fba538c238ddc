import { sql } from 'drizzle-orm';
import { check, index, integer, jsonb, pgTable, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { JOB_EVENT_STATUSES, JOB_STATES } from '../job-state.js';

const oneOf = (values: readonly string[]) => sql.raw(values.map((value) => `'${value}'`).join(', '));
const timestamptz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

/*
 * Both tables are range-partitioned by job id, one partition per UTC day plus a default one
 * (migration 0002_history_partitions, kept up by `HistoryMaintenance`), which drizzle cannot
 * express: these definitions give the columns, keys and indexes every partition has. A job id is a
 * UUIDv7, which starts with its creation time, so a day's partition holds the jobs created that day
 * and, partitioned by `job_id`, all of their events; dropping it removes whole lives. Keys and unique
 * indexes of a partitioned table must contain the partition key, which is why there is no unique
 * index on (queue, idempotency_key): Redis's SET NX over the idempotency window is what
 * deduplicates submissions, and a key reused after the window names a new job, stored with its key.
 */

/** One row per job: its submission and its latest state, updated by the history recorder. */
export const jobs = pgTable(
  'jobs',
  {
    id: uuid('id').primaryKey(),
    queue: text('queue').notNull(),
    type: text('type').notNull(),
    payload: jsonb('payload').notNull(),
    status: text('status').notNull(),
    attempts: integer('attempts').notNull().default(0),
    maxAttempts: integer('max_attempts').notNull(),
    priority: integer('priority').notNull().default(0),
    idempotencyKey: text('idempotency_key'),
    runAt: timestamptz('run_at').notNull(),
    createdAt: timestamptz('created_at').notNull(),
    updatedAt: timestamptz('updated_at').notNull(),
    finishedAt: timestamptz('finished_at'),
    lastError: text('last_error'),
    result: jsonb('result'),
    /** The schedule whose tick made the job; null for a job submitted otherwise. */
    schedule: text('schedule'),
    /** That tick. */
    scheduleTick: timestamptz('schedule_tick'),
    /** The job's fair group (a tenant); null for a job submitted without one. */
    group: text('group'),
    /** The W3C traceparent the job's attempts continue (its `send` span); null for a job added outside any trace. */
    traceParent: text('trace_parent'),
    /** Sequence number of the newest event applied to this row; older events never overwrite newer state. */
    lastSeq: integer('last_seq').notNull().default(0),
  },
  (table) => [
    check('jobs_status_check', sql`${table.status} in (${oneOf(JOB_STATES)})`),
    index('jobs_created_at_idx').on(table.createdAt, table.id),
    index('jobs_status_created_at_idx').on(table.status, table.createdAt, table.id),
    index('jobs_queue_created_at_idx').on(table.queue, table.createdAt, table.id),
    index('jobs_type_created_at_idx').on(table.type, table.createdAt, table.id),
    // Finding a job by the key it was submitted with, in any queue.
    index('jobs_idempotency_key_created_at_idx').on(table.idempotencyKey, table.createdAt, table.id).where(sql`${table.idempotencyKey} is not null`),
    // A group's jobs; partial, as most jobs have none.
    index('jobs_group_created_at_idx').on(table.group, table.createdAt, table.id).where(sql`${table.group} is not null`),
    // The index finding jobs by payload is kept by the history maintenance, per HISTORY_PAYLOAD_INDEX: see payload-index.ts.
  ],
);

/** Append-only history: one row per transition and per failed attempt. */
export const jobEvents = pgTable(
  'job_events',
  {
    jobId: uuid('job_id').notNull(),
    /** The event's number within its job, from 1; with job_id the key, which makes recording idempotent. */
    seq: integer('seq').notNull(),
    status: text('status').notNull(),
    attempt: integer('attempt').notNull(),
    worker: text('worker'),
    error: text('error'),
    /** For `retrying`: when the next attempt is due. */
    nextAt: timestamptz('next_at'),
    /** For `dead`: exhausted, permanent or poison. */
    reason: text('reason'),
    at: timestamptz('at').notNull(),
  },
  (table) => [
    // One index only: the key serves both the idempotent insert and reading a job's history in order.
    primaryKey({ columns: [table.jobId, table.seq] }),
    check('job_events_status_check', sql`${table.status} in (${oneOf(JOB_EVENT_STATUSES)})`),
  ],
);

/**
 * Jobs enqueued inside a caller's PostgreSQL transaction (`Queue.enqueueInTransaction`), waiting for
 * the outbox relay to add them to Redis: a row is visible to the relay only once that transaction
 * commits, and is deleted once its job is in Redis. Not partitioned: the relay keeps it near empty.
 */
export const jobOutbox = pgTable('job_outbox', {
  /** The job's id (UUIDv7, naming its partition), made at insert: the relay adds the job under it. */
  id: uuid('id').primaryKey(),
  queue: text('queue').notNull(),
  /** The validated submission (type, payload and every option), as the relay hands it to Redis. */
  submission: jsonb('submission').notNull(),
  createdAt: timestamptz('created_at').notNull().defaultNow(),
});

/** What a row of job_metrics sums: the events of one minute, or of one hour. */
export const METRICS_RESOLUTIONS = ['minute', 'hour'] as const;
export type MetricsResolution = (typeof METRICS_RESOLUTIONS)[number];

/**
 * Per-minute and per-hour rollups of what the recorder writes, one row per (resolution, minute,
 * queue, type), added to by every batch that records events of that minute: counts, and run and wait
 * times as histograms over fixed log buckets (see latency-histogram.ts), which add up exactly across
 * batches, recorders and steps, so percentiles over any range are read from merged buckets. The
 * same statement adds a batch to its minute rows and to their hour rows, so an hour row always
 * equals the sum of its 60 minute rows, and reads of long ranges merge 60 times fewer rows.
 * Range-partitioned by `minute`, one partition per UTC day plus a default one (migration
 * 0007_job_metrics), dropped by `HistoryMaintenance` after METRICS_RETENTION_DAYS: an hour's row
 * lies in the day of its minutes, so it is kept and dropped with them.
 */
export const jobMetrics = pgTable(
  'job_metrics',
  {
    /** Whether the row sums the events of one minute or of one hour (METRICS_RESOLUTIONS). */
    resolution: text('resolution').notNull().default('minute'),
    /** The start of the UTC minute, or hour, the events happened in (their `at`). */
    minute: timestamptz('minute').notNull(),
    queue: text('queue').notNull(),
    type: text('type').notNull(),
    /** Attempts that completed. */
    completed: integer('completed').notNull().default(0),
    /** Attempts that failed (each retried attempt counts). */
    failed: integer('failed').notNull().default(0),
    /** Jobs that went to the dead-letter stream. */
    dead: integer('dead').notNull().default(0),
    /** Run times of the attempts that ended this minute, completed or failed: counts per bucket. */
    runMsBuckets: integer('run_ms_buckets').array().notNull().default(sql`'{}'`),
    /** Times jobs waited, ready, before the attempts started this minute: counts per bucket. */
    waitMsBuckets: integer('wait_ms_buckets').array().notNull().default(sql`'{}'`),
    /**
     * Jobs of the queue ready and waiting (pending), sampled once in the minute; on an hour row, the
     * most of its minutes' samples. A depth is the queue's, not a type's: it is kept on the queue's
     * row of type '' (QUEUE_DEPTH_TYPE), null elsewhere.
     */
    depth: integer('depth'),
  },
  // Resolution first: a read takes rows of one resolution over a range of minutes.
  (table) => [
    primaryKey({ columns: [table.resolution, table.minute, table.queue, table.type] }),
    check('job_metrics_resolution_check', sql`${table.resolution} in (${oneOf(METRICS_RESOLUTIONS)})`),
  ],
);
