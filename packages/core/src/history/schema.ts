import { sql } from 'drizzle-orm';
import { check, index, integer, jsonb, pgTable, primaryKey, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { JOB_EVENT_STATUSES, JOB_STATES } from '../job-state';

const oneOf = (values: readonly string[]) => sql.raw(values.map((value) => `'${value}'`).join(', '));
const timestamptz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

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
    /** Sequence number of the newest event applied to this row; older events never overwrite newer state. */
    lastSeq: integer('last_seq').notNull().default(0),
  },
  (table) => [
    check('jobs_status_check', sql`${table.status} in (${oneOf(JOB_STATES)})`),
    uniqueIndex('jobs_queue_idempotency_key_idx').on(table.queue, table.idempotencyKey).where(sql`${table.idempotencyKey} is not null`),
    index('jobs_created_at_idx').on(table.createdAt, table.id),
    index('jobs_status_created_at_idx').on(table.status, table.createdAt, table.id),
    index('jobs_queue_created_at_idx').on(table.queue, table.createdAt, table.id),
    index('jobs_type_created_at_idx').on(table.type, table.createdAt, table.id),
    // Finding a job by the key it was submitted with, in any queue.
    index('jobs_idempotency_key_created_at_idx').on(table.idempotencyKey, table.createdAt, table.id).where(sql`${table.idempotencyKey} is not null`),
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
