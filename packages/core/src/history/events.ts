import type { JobEventStatus } from '../job-state';

/** A transition read back from a queue's events stream. */
export interface RecordedEvent {
  /** Stream entry id, deleted once the event is in PostgreSQL. */
  entryId: string;
  jobId: string;
  seq: number;
  status: JobEventStatus;
  attempt: number;
  atMs: number;
  worker: string | null;
  error: string | null;
  nextAtMs: number | null;
  reason: string | null;
  result: string | null;
  /** Present on a job's first event only: what the `jobs` row is created from. */
  snapshot: JobSnapshot | null;
}

/** The submitted fields of a job, carried by its first event. */
export interface JobSnapshot {
  queue: string;
  type: string;
  payload: string;
  maxAttempts: number;
  priority: number;
  runAtMs: number;
  idempotencyKey: string | null;
}

/** An event as `recordEvent` encodes it: numbers where Lua had numbers, strings otherwise. */
interface EncodedEvent {
  job: string;
  seq: number;
  status: JobEventStatus;
  attempt?: number;
  at: number;
  worker?: string;
  error?: string;
  nextAt?: string;
  reason?: string;
  result?: string;
  queue?: string;
  type?: string;
  payload?: string;
  maxAttempts?: string;
  priority?: string;
  runAt?: string;
  idempotencyKey?: string;
}

/** Parses one events-stream entry: field `events`, the JSON array of one script call's transitions. */
export function parseEventsEntry(entryId: string, flat: readonly string[]): RecordedEvent[] {
  const json = flat[flat.indexOf('events') + 1];
  if (json === undefined) return [];
  // Lua's cjson writes an empty table as {} rather than [].
  const encoded = JSON.parse(json) as EncodedEvent[] | Record<string, never>;
  return Array.isArray(encoded) ? encoded.map((event) => toRecordedEvent(entryId, event)) : [];
}

function toRecordedEvent(entryId: string, e: EncodedEvent): RecordedEvent {
  return {
    entryId,
    jobId: e.job,
    seq: e.seq,
    status: e.status,
    attempt: e.attempt ?? 0,
    atMs: e.at,
    worker: e.worker || null,
    error: e.error || null,
    nextAtMs: e.nextAt ? Number(e.nextAt) : null,
    reason: e.reason || null,
    result: e.result || null,
    snapshot:
      e.type === undefined
        ? null
        : {
            queue: e.queue ?? '',
            type: e.type,
            payload: e.payload ?? '{}',
            maxAttempts: Number(e.maxAttempts ?? 1),
            priority: Number(e.priority ?? 0),
            runAtMs: Number(e.runAt ?? e.at),
            idempotencyKey: e.idempotencyKey || null,
          },
  };
}
