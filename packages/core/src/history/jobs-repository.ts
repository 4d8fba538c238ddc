import { and, asc, desc, eq, getTableColumns, gte, lt, sql, type SQL } from 'drizzle-orm';
import type { Job, JobEvent, ListedJob } from '../job.js';
import type { JobEventStatus, JobState } from '../job-state.js';
import { LIST_PAGE_MAX_BYTES, LIST_VALUE_MAX_BYTES } from '../limits.js';
import { takeWithinBytes } from '../list-page.js';
import { traceIdOf } from '../tracing/trace-context.js';
import type { Database } from './db.js';
import { jobEvents, jobs } from './schema.js';

/** A job as listed: everything but its history. */
export type JobSummary = Omit<Job, 'history'>;

/** Filters of a job listing; every one optional. */
export interface JobListFilter {
  status?: string;
  type?: string;
  queue?: string;
  /** The key the job was submitted with. */
  idempotencyKey?: string;
  /** The job's fair group. */
  group?: string;
  /** Only jobs whose payload contains this JSON (PostgreSQL's `@>`: nested objects match by subset, arrays by their elements). */
  payload?: object;
  createdAfter?: Date;
  createdBefore?: Date;
  /** Jobs per page. */
  limit: number;
  /** Where the previous page ended. */
  after?: JobListCursor;
}

/** The position of the last job of a page: (created_at, id), the listing's order. */
export interface JobListCursor {
  createdAt: Date;
  id: string;
}

/** One page of jobs, newest first, and where the next page starts (null on the last one). */
export interface JobListPage {
  jobs: ListedJob[];
  next: JobListCursor | null;
}

/**
 * Jobs newest first, filtered, one keyset page at a time: each page is an index range scan on
 * (…, created_at, id) however deep into the listing it is, never an OFFSET. Large payloads and
 * results are left out (see `ListedJob`), and a page stops early at LIST_PAGE_MAX_BYTES.
 */
export async function jobsList(db: Database, filter: JobListFilter): Promise<JobListPage> {
  const rows = await jobsListQuery(db, filter);
  const page = takeWithinBytes(rows.slice(0, filter.limit).map(listedFromRow), LIST_PAGE_MAX_BYTES);
  const last = page.length < rows.length ? rows[page.length - 1] : undefined;
  return { jobs: page, next: last ? { createdAt: last.createdAt, id: last.id } : null };
}

/** A jsonb column's size as JSON text, as PostgreSQL writes it; 0 for SQL NULL. */
const jsonBytes = (column: typeof jobs.payload | typeof jobs.result) => sql<number>`coalesce(octet_length(${column}::text), 0)`.mapWith(Number);
/** A jsonb column when it is small enough to list, else SQL NULL: a large one never leaves PostgreSQL. */
const listedJson = (column: typeof jobs.payload | typeof jobs.result) =>
  sql<unknown>`case when octet_length(${column}::text) <= ${LIST_VALUE_MAX_BYTES} then ${column} end`.mapWith(column);

/** The SQL conditions of a listing's filter and cursor. */
export function jobsListConditions(filter: Omit<JobListFilter, 'limit'>): SQL[] {
  const conditions: SQL[] = [];
  if (filter.status !== undefined) conditions.push(eq(jobs.status, filter.status));
  if (filter.type !== undefined) conditions.push(eq(jobs.type, filter.type));
  if (filter.queue !== undefined) conditions.push(eq(jobs.queue, filter.queue));
  if (filter.idempotencyKey !== undefined) conditions.push(eq(jobs.idempotencyKey, filter.idempotencyKey));
  if (filter.group !== undefined) conditions.push(eq(jobs.group, filter.group));
  if (filter.payload !== undefined) conditions.push(sql`${jobs.payload} @> ${JSON.stringify(filter.payload)}::jsonb`);
  if (filter.createdAfter !== undefined) conditions.push(gte(jobs.createdAt, filter.createdAfter));
  if (filter.createdBefore !== undefined) conditions.push(lt(jobs.createdAt, filter.createdBefore));
  if (filter.after !== undefined) {
    conditions.push(sql`(${jobs.createdAt}, ${jobs.id}) < (${filter.after.createdAt.toISOString()}::timestamptz, ${filter.after.id}::uuid)`);
  }
  return conditions;
}

/** The query behind `jobsList`, one row more than a page so the caller knows whether another follows. */
export function jobsListQuery(db: Database, filter: JobListFilter) {
  return db
    .select({
      ...getTableColumns(jobs),
      payload: listedJson(jobs.payload),
      payloadBytes: jsonBytes(jobs.payload),
      result: listedJson(jobs.result),
      resultBytes: jsonBytes(jobs.result),
    })
    .from(jobs)
    .where(and(...jobsListConditions(filter)))
    .orderBy(desc(jobs.createdAt), desc(jobs.id))
    .limit(filter.limit + 1);
}

/** A job and its ordered history as PostgreSQL has them, or null if it has no such job. */
export async function jobsFindWithHistory(db: Database, id: string): Promise<Job | null> {
  const [row] = await db.select().from(jobs).where(eq(jobs.id, id)).limit(1);
  if (!row) return null;
  const events = await db.select().from(jobEvents).where(eq(jobEvents.jobId, id)).orderBy(asc(jobEvents.seq));
  return {
    ...summaryFromRow(row),
    history: events.map((event) => {
      const entry: JobEvent = { status: event.status as JobEventStatus, attempt: event.attempt, at: event.at.toISOString() };
      if (event.worker) entry.worker = event.worker;
      if (event.error) entry.error = event.error;
      if (event.nextAt) entry.nextAt = event.nextAt.toISOString();
      if (event.reason) entry.reason = event.reason;
      return entry;
    }),
  };
}

function listedFromRow(row: typeof jobs.$inferSelect & { payloadBytes: number; resultBytes: number }): ListedJob {
  const payloadTruncated = row.payloadBytes > LIST_VALUE_MAX_BYTES;
  return {
    ...summaryFromRow(row),
    payload: payloadTruncated ? null : (row.payload as Record<string, unknown>),
    payloadBytes: row.payloadBytes,
    payloadTruncated,
    resultBytes: row.resultBytes,
    resultTruncated: row.resultBytes > LIST_VALUE_MAX_BYTES,
  };
}

function summaryFromRow(row: typeof jobs.$inferSelect): JobSummary {
  return {
    id: row.id,
    queue: row.queue,
    type: row.type,
    payload: row.payload as Record<string, unknown>,
    status: row.status as JobState,
    attempts: row.attempts,
    maxAttempts: row.maxAttempts,
    priority: row.priority,
    runAt: row.runAt.toISOString(),
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    finishedAt: row.finishedAt?.toISOString() ?? null,
    lastError: row.lastError,
    idempotencyKey: row.idempotencyKey,
    result: row.result ?? null,
    progress: null,
    schedule: row.schedule === null ? null : { name: row.schedule, tick: (row.scheduleTick ?? new Date(0)).toISOString() },
    group: row.group,
    traceId: traceIdOf(row.traceParent),
    traceparent: row.traceParent,
  };
}
