import type { Job } from '../job.js';
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
    history: [],
    outbox: true,
  };
}
