import type { Job } from '../job.js';
import { NAME_PATTERN_SOURCE } from '../limits.js';
import { traceIdOf, type StoredTraceContext } from '../tracing/trace-context.js';
import type { OutboxRow } from './outbox-repository.js';

/** A job still in the outbox, as clients see it: `outbox` says so. */
export type OutboxJobView = Job & { outbox: true };

/** What an outbox row's submission holds that a view of it shows (see `Queue.enqueueInTransaction`). */
interface StoredSubmission {
  type: string;
  payload: Record<string, unknown>;
  maxAttempts: number;
  priority: number;
  due: { atMs: number } | { delayMs: number };
  idempotencyKey: string;
  group: string;
  /** The trace the caller's transaction ran in (its send span's), if any. */
  trace?: StoredTraceContext;
}

/**
 * The job an outbox row will become: pending, or scheduled when it is due later, with no attempt
 * and no history yet (its first event is written when the relay adds it). A delay counts from when
 * the job reaches Redis, so its run time here is counted from the row's creation.
 */
export function outboxJobView(row: OutboxRow, now: number): OutboxJobView {
  const submission = row.submission as unknown as StoredSubmission;
  const created = row.createdAt.getTime();
  const runAt = 'atMs' in submission.due ? submission.due.atMs : created + submission.due.delayMs;
  const createdAt = row.createdAt.toISOString();
  return {
    id: row.id,
    queue: row.queue,
    type: submission.type,
    payload: submission.payload,
    status: runAt > now ? 'scheduled' : 'pending',
    attempts: 0,
    maxAttempts: submission.maxAttempts,
    priority: submission.priority,
    runAt: new Date(runAt).toISOString(),
    createdAt,
    updatedAt: createdAt,
    finishedAt: null,
    lastError: null,
    idempotencyKey: submission.idempotencyKey || null,
    result: null,
    progress: null,
    schedule: null,
    group: submission.group || null,
    traceId: traceIdOf(submission.trace?.traceparent),
    traceparent: submission.trace?.traceparent ?? null,
    history: [],
    outbox: true,
  };
}

const NAME = new RegExp(NAME_PATTERN_SOURCE);

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** What is wrong with a submission's fields, checked in order: the first one's problem. */
const SUBMISSION_CHECKS: readonly [field: string, valid: (value: unknown) => boolean, expected: string][] = [
  ['type', (value) => typeof value === 'string' && value !== '', 'a non-empty string'],
  ['payload', isObject, 'an object'],
  ['maxAttempts', (value) => Number.isSafeInteger(value) && (value as number) >= 1, 'a positive integer'],
  ['priority', Number.isSafeInteger, 'an integer'],
  ['due', (value) => isObject(value) && (Number.isSafeInteger(value.atMs) || (Number.isSafeInteger(value.delayMs) && (value.delayMs as number) >= 0)),
    '{"atMs": integer} or {"delayMs": integer ≥ 0}'],
  ['idempotencyKey', (value) => typeof value === 'string', 'a string'],
  ['group', (value) => typeof value === 'string', 'a string'],
  ['trace', (value) => value === undefined || (isObject(value) && typeof value.traceparent === 'string' && typeof value.tracestate === 'string'),
    'absent or {"traceparent": string, "tracestate": string}'],
];

/**
 * Why the relay cannot add `row`'s job, or null when it can. Rows `enqueueInTransaction` inserts
 * always pass; one written by hand or by another version may not, and would otherwise fail its
 * whole batch, and every batch after it, for good.
 */
export function outboxRowProblem(row: Pick<OutboxRow, 'queue' | 'submission'>): string | null {
  if (!NAME.test(row.queue)) return `queue must match ${NAME_PATTERN_SOURCE} (got ${JSON.stringify(row.queue)})`;
  const submission: unknown = row.submission;
  if (!isObject(submission)) return 'submission must be an object';
  const failed = SUBMISSION_CHECKS.find(([field, valid]) => !valid(submission[field]));
  return failed ? `submission.${failed[0]} must be ${failed[2]}` : null;
}
