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

/** Parses one events-stream entry (flat field/value list, as `recordEvent` writes it). */
export function parseEventEntry(entryId: string, flat: string[]): RecordedEvent {
  const fields = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) fields.set(flat[i] as string, flat[i + 1] as string);
  const text = (name: string): string | null => fields.get(name) || null;
  const type = fields.get('type');
  return {
    entryId,
    jobId: fields.get('job') ?? '',
    seq: Number(fields.get('seq')),
    status: fields.get('status') as JobEventStatus,
    attempt: Number(fields.get('attempt') ?? 0),
    atMs: Number(fields.get('at')),
    worker: text('worker'),
    error: text('error'),
    nextAtMs: fields.has('nextAt') ? Number(fields.get('nextAt')) : null,
    reason: text('reason'),
    result: text('result'),
    snapshot:
      type === undefined
        ? null
        : {
            queue: fields.get('queue') ?? '',
            type,
            payload: fields.get('payload') ?? '{}',
            maxAttempts: Number(fields.get('maxAttempts') ?? 1),
            priority: Number(fields.get('priority') ?? 0),
            runAtMs: Number(fields.get('runAt') ?? fields.get('at')),
            idempotencyKey: text('idempotencyKey'),
          },
  };
}
