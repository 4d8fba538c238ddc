import { context, isSpanContextValid, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span } from '@opentelemetry/api';
import { messageOf } from '../errors.js';
import { contextWithTraceparent, storedTraceContext, type StoredTraceContext } from './trace-context.js';

/**
 * Spans follow OpenTelemetry's messaging semantic conventions. The tracer comes from the global
 * provider, a no-op one until the application registers an SDK: its spans then cost no more than
 * an object each, and record nothing.
 */
const tracer = trace.getTracer('@sluice/core');

/** `messaging.system` of every span. */
export const MESSAGING_SYSTEM = 'sluice';

/** A job as its spans name it. */
interface SpanJob {
  id: string;
  queue: string;
  type: string;
}

/** A submission's producer span, and the trace context stored with its job (none when there is no trace). */
export interface SendSpan {
  span: Span;
  trace: StoredTraceContext | undefined;
}

/** The attributes every span of a job has; `more` are added to them (an object spread here would cost microseconds per job). */
function messagingAttributes(job: SpanJob, operation: 'send' | 'process', more: Attributes): Attributes {
  more['messaging.system'] = MESSAGING_SYSTEM;
  more['messaging.destination.name'] = job.queue;
  more['messaging.operation.type'] = operation;
  more['messaging.operation.name'] = operation;
  more['messaging.message.id'] = job.id;
  more['sluice.job.type'] = job.type;
  return more;
}

/**
 * Starts the `send <queue>` span of one job's submission, a child of `parent` (default: the active
 * context). The job stores this span's context, so that its attempts are its children; with no SDK,
 * the span is the parent's own (a no-op tracer passes it on), so a caller's trace still reaches them.
 */
export function startSendSpan(job: SpanJob, parent: Context = context.active()): SendSpan {
  const span = tracer.startSpan(`send ${job.queue}`, { kind: SpanKind.PRODUCER, attributes: messagingAttributes(job, 'send', {}) }, parent);
  return { span, trace: storedTraceContext(span.spanContext()) };
}

/**
 * Ends a submission's span with its outcome: the id of the job the idempotency key named, when it
 * named an earlier one, or the error.
 */
export function finishSendSpan(span: Span, outcome: PromiseSettledResult<{ id: string; duplicate: boolean }>): void {
  if (!span.isRecording()) return;
  if (outcome.status === 'rejected') failSpan(span, outcome.reason);
  else if (outcome.value.duplicate) span.setAttributes({ 'messaging.message.id': outcome.value.id, 'sluice.job.duplicate': true });
  span.end();
}

/** Ends a submission's span once `submitted` settles (see finishSendSpan). */
export function endSendSpan<T extends { id: string; duplicate: boolean }>(span: Span, submitted: Promise<T>): Promise<T> {
  if (!span.isRecording()) return submitted;
  return submitted.then((value) => {
    finishSendSpan(span, { status: 'fulfilled', value });
    return value;
  }, (reason: unknown) => {
    finishSendSpan(span, { status: 'rejected', reason });
    throw reason;
  });
}

/** How an attempt ended, as its span's `sluice.job.outcome` says. */
export type AttemptOutcome = 'completed' | 'retrying' | 'dead' | 'postponed' | 'interrupted';

/** A started job, as its attempt's span describes it. */
export interface AttemptSpanJob extends SpanJob {
  attempt: number;
  /** The trace context stored with the job, if any. */
  traceparent: string | null;
  tracestate: string | null;
}

/**
 * Starts the `process <queue>` span of one attempt: a child of the job's producer span, so that a
 * job's attempts are in the trace of the request or code that added it; a job without one starts a trace.
 */
export function startAttemptSpan(job: AttemptSpanJob, waitMs: number): Span {
  const parent = job.traceparent === null ? ROOT_CONTEXT : contextWithTraceparent(ROOT_CONTEXT, job.traceparent, job.tracestate ?? '');
  return tracer.startSpan(`process ${job.queue}`, {
    kind: SpanKind.CONSUMER,
    attributes: messagingAttributes(job, 'process', { 'sluice.job.attempt': job.attempt, 'sluice.job.wait_ms': waitMs }),
  }, parent);
}

/**
 * Runs `fn` with `span` active, so that spans the handler makes are its children. A span with no
 * valid context (no SDK, no stored trace) has nothing to pass on: `fn` runs as it is.
 */
export function withSpan<T>(span: Span, fn: () => T): T {
  if (!isSpanContextValid(span.spanContext())) return fn();
  return context.with(trace.setSpan(context.active(), span), fn);
}

/**
 * Ends an attempt's span with its outcome; a failed attempt (retrying or dead) has status error,
 * its error recorded, and `error.type` "timeout" when its time ran out, else the error's class.
 */
export function endAttemptSpan(span: Span, outcome: AttemptOutcome, error?: { cause: unknown; timedOut: boolean }): void {
  if (!span.isRecording()) return;
  span.setAttribute('sluice.job.outcome', outcome);
  if (error) {
    failSpan(span, error.cause);
    span.setAttribute('error.type', error.timedOut ? 'timeout' : errorType(error.cause));
  }
  span.end();
}

function errorType(error: unknown): string {
  return error instanceof Error ? error.constructor.name : typeof error;
}

function failSpan(span: Span, error: unknown): void {
  span.recordException(error instanceof Error ? error : messageOf(error));
  span.setStatus({ code: SpanStatusCode.ERROR, message: messageOf(error) });
}
