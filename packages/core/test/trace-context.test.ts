import { context, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_TRACESTATE_LENGTH, requestTraceContext, traceIdOf } from '@sluice/core';
import { registerTracing, type TestTracing } from '../../../test/support/tracing';

let tracing: TestTracing;

beforeAll(() => {
  tracing = registerTracing();
});

afterAll(async () => {
  await tracing?.close();
});

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const spanContextOf = (headers: Record<string, string>) => trace.getSpanContext(context.with(ROOT_CONTEXT, () => requestTraceContext(headers)));

describe('the trace context of a request', () => {
  it('is the one its traceparent and tracestate headers name', () => {
    expect(spanContextOf({ traceparent: TRACEPARENT, tracestate: 'a=1,b=2' })).toMatchObject({
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 1, isRemote: true,
    });
    expect(spanContextOf({ traceparent: TRACEPARENT, tracestate: 'a=1,b=2' })?.traceState?.serialize()).toBe('a=1,b=2');
  });

  it(`keeps the traceparent but drops a tracestate over ${MAX_TRACESTATE_LENGTH} characters`, () => {
    const long = `a=${'x'.repeat(MAX_TRACESTATE_LENGTH)}`;
    const spanContext = spanContextOf({ traceparent: TRACEPARENT, tracestate: long });
    expect(spanContext?.traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(spanContext?.traceState).toBeUndefined();
  });

  it('is the active one when a span is active (an HTTP instrumentation made the request\'s), whatever the headers say', () => {
    trace.getTracer('test').startActiveSpan('server span', (server) => {
      const found = trace.getSpanContext(requestTraceContext({ traceparent: TRACEPARENT }));
      expect(found?.spanId).toBe(server.spanContext().spanId);
      server.end();
    });
  });

  it('has no span without a traceparent', () => {
    expect(spanContextOf({ tracestate: 'a=1' })).toBeUndefined();
  });
});

describe('traceIdOf', () => {
  it.each([
    [TRACEPARENT, '4bf92f3577b34da6a3ce929d0e0e4736'],
    ['', null],
    [null, null],
    ['00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7', null],
  ])('reads %j as %j', (traceparent, traceId) => {
    expect(traceIdOf(traceparent)).toBe(traceId);
  });
});
