import type { JobEventStatus, JobState } from './job-state.js';
import { traceIdOf } from './tracing/trace-context.js';

/** One entry of a job's history, oldest first. Times are ISO-8601. */
export interface JobEvent {
  status: JobEventStatus;
  /** The attempt the event belongs to; 0 before the first attempt. */
  attempt: number;
  at: string;
  worker?: string;
  error?: string;
  /** For `retrying`: when the next attempt is due. */
  nextAt?: string;
  /** For `dead`: exhausted, permanent or poison. */
  reason?: string;
}

/** A job as clients see it. Times are ISO-8601. */
export interface Job {
  id: string;
  queue: string;
  type: string;
  payload: Record<string, unknown>;
  status: JobState;
  attempts: number;
  maxAttempts: number;
  priority: number;
  runAt: string;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
  lastError: string | null;
  /** The key it was submitted with, if any. */
  idempotencyKey: string | null;
  result: unknown;
  progress: unknown;
  /** The schedule and tick that made the job; null for a job submitted otherwise. */
  schedule: JobSchedule | null;
  /** The job's fair group (see AddJobOptions.group); null for a job submitted without one. */
  group: string | null;
  /** The OpenTelemetry trace its attempts belong to (W3C trace id, 32 hex digits); null for a job added outside any trace. */
  traceId: string | null;
  /** The W3C `traceparent` stored with it: its `send` span, whose children its attempts' spans are; null without a trace. */
  traceparent: string | null;
  history: JobEvent[];
}

/** Where a job a schedule made comes from. */
export interface JobSchedule {
  /** The schedule's name. */
  name: string;
  /** The tick that made it (a manual run's: when it was asked for). */
  tick: string;
}

/**
 * A job as listings carry it, without its history. A payload or result of more than
 * LIST_VALUE_MAX_BYTES of JSON is null here, with its `…Truncated` flag set, so that a page stays
 * small whatever its jobs hold; the job itself (`Job`) has it whole. `…Bytes` is the size of its JSON.
 */
export interface ListedJob extends Omit<Job, 'history' | 'payload'> {
  payload: Record<string, unknown> | null;
  payloadBytes: number;
  payloadTruncated: boolean;
  resultBytes: number;
  resultTruncated: boolean;
}

/** Milliseconds since the epoch, as Redis holds them, to ISO-8601. */
export function isoFromMs(ms: string | number): string {
  return new Date(Number(ms)).toISOString();
}

function optionalJson(text: string | undefined): unknown {
  return text === undefined || text === '' ? null : JSON.parse(text);
}

function optionalText(text: string | undefined): string | null {
  return text === undefined || text === '' ? null : text;
}

/** A job's history from its hash: one JSON object per event in field `h<seq>`, as `nextEvent` writes them. */
export function historyFromHash(hash: Record<string, string>): JobEvent[] {
  const events: { seq: number; event: JobEvent }[] = [];
  for (const [field, line] of Object.entries(hash)) {
    if (!/^h\d+$/.test(field)) continue;
    const raw = JSON.parse(line) as Record<string, string | number>;
    const event: JobEvent = { status: raw.s as JobEventStatus, attempt: Number(raw.a), at: isoFromMs(raw.t ?? 0) };
    if (raw.worker) event.worker = String(raw.worker);
    if (raw.error) event.error = String(raw.error);
    if (raw.nextAt) event.nextAt = isoFromMs(raw.nextAt);
    if (raw.reason) event.reason = String(raw.reason);
    events.push({ seq: Number(field.slice(1)), event });
  }
  return events.sort((a, b) => a.seq - b.seq).map(({ event }) => event);
}

/** Builds a job from its Redis hash. */
export function jobFromHash(hash: Record<string, string>): Job {
  return {
    id: hash.id ?? '',
    queue: hash.queue ?? '',
    type: hash.type ?? '',
    payload: JSON.parse(hash.payload ?? '{}') as Record<string, unknown>,
    status: hash.status as JobState,
    attempts: Number(hash.attempts ?? 0),
    maxAttempts: Number(hash.maxAttempts ?? 1),
    priority: Number(hash.priority ?? 0),
    runAt: isoFromMs(hash.runAt ?? 0),
    createdAt: isoFromMs(hash.createdAt ?? 0),
    updatedAt: isoFromMs(hash.updatedAt ?? 0),
    finishedAt: hash.finishedAt ? isoFromMs(hash.finishedAt) : null,
    lastError: optionalText(hash.lastError),
    idempotencyKey: optionalText(hash.idempotencyKey),
    result: optionalJson(hash.result),
    progress: optionalJson(hash.progress),
    schedule: hash.schedule ? { name: hash.schedule, tick: isoFromMs(hash.scheduleTick ?? 0) } : null,
    group: optionalText(hash.group),
    traceId: traceIdOf(hash.traceparent),
    traceparent: optionalText(hash.traceparent),
    history: historyFromHash(hash),
  };
}
