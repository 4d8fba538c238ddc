import { context, createTraceState, isSpanContextValid, trace, type Context, type SpanContext } from '@opentelemetry/api';

/**
 * Longest `tracestate` kept with a job. W3C Trace Context asks that at least 512 characters be
 * propagated; a longer one is dropped whole, the `traceparent` kept, so a job's hash stays small.
 */
export const MAX_TRACESTATE_LENGTH = 512;

/** A job's trace context as it is stored: W3C `traceparent` and `tracestate` ('' for none). */
export interface StoredTraceContext {
  traceparent: string;
  tracestate: string;
}

/** version-traceid-parentid-flags, lower-case hex; a future version may append fields after a dash. */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/** The W3C `traceparent` of a span context (version 00). */
export function traceparentOf(spanContext: SpanContext): string {
  return `00-${spanContext.traceId}-${spanContext.spanId}-${(spanContext.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

/** The trace context to store for `spanContext`, or undefined when it is not valid (no trace to continue). */
export function storedTraceContext(spanContext: SpanContext): StoredTraceContext | undefined {
  if (!isSpanContextValid(spanContext)) return undefined;
  const tracestate = spanContext.traceState?.serialize() ?? '';
  return { traceparent: traceparentOf(spanContext), tracestate: tracestate.length <= MAX_TRACESTATE_LENGTH ? tracestate : '' };
}

/**
 * The remote span context a `traceparent` names, or undefined for a malformed one, which W3C Trace
 * Context says to ignore (version ff, a version 00 with more fields, an all-zero trace or parent id).
 */
function spanContextFromTraceparent(traceparent: string, tracestate = ''): SpanContext | undefined {
  const match = TRACEPARENT.exec(traceparent.trim());
  if (!match) return undefined;
  const [, version, traceId, spanId, flags, rest] = match as unknown as [string, string, string, string, string, string | undefined];
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  const spanContext: SpanContext = { traceId, spanId, traceFlags: parseInt(flags, 16) & 0x01, isRemote: true };
  if (!isSpanContextValid(spanContext)) return undefined;
  const state = tracestate.trim();
  if (state !== '' && state.length <= MAX_TRACESTATE_LENGTH) spanContext.traceState = createTraceState(state);
  return spanContext;
}

/** The trace id of a stored `traceparent`, or null for none. */
export function traceIdOf(traceparent: string | null | undefined): string | null {
  return traceparent ? (spanContextFromTraceparent(traceparent)?.traceId ?? null) : null;
}

/** `parent` with the remote span a stored trace context names, or `parent` itself for none or a malformed one. */
export function contextWithTraceparent(parent: Context, traceparent: string | undefined, tracestate?: string): Context {
  const spanContext = traceparent ? spanContextFromTraceparent(traceparent, tracestate) : undefined;
  return spanContext ? trace.setSpanContext(parent, spanContext) : parent;
}

/** A header's value as Node gives it: a repeated `tracestate` is joined per RFC 9110, a repeated `traceparent` is invalid. */
function headerValue(value: string | string[] | undefined, joinable: boolean): string | undefined {
  if (!Array.isArray(value)) return value;
  return joinable ? value.join(',') : undefined;
}

/**
 * The trace context a request's jobs continue: the active one when it has a span (an HTTP
 * instrumentation made the request's server span), else the one W3C `traceparent` and `tracestate`
 * headers name; a missing or malformed `traceparent` is ignored.
 */
export function requestTraceContext(headers: Record<string, string | string[] | undefined>): Context {
  const active = context.active();
  if (trace.getSpan(active) !== undefined) return active;
  const traceparent = headerValue(headers.traceparent, false);
  return traceparent === undefined ? active : contextWithTraceparent(active, traceparent, headerValue(headers.tracestate, true));
}
