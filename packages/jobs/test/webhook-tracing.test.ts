import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobContext } from '@sluice/core';
import { webhookHandler } from '@sluice/jobs/handlers';
import { freePort } from '../../../test/support/redis-server';
import { registerTracing, traceparentOf, type TestTracing } from '../../../test/support/tracing';

/** Answers each path's status, and keeps the headers of every request. */
let server: Server;
let port: number;
const received: IncomingHttpHeaders[] = [];
let tracing: TestTracing;

beforeAll(async () => {
  tracing = registerTracing();
  port = await freePort();
  server = createServer((request, response) => {
    received.push(request.headers);
    response.statusCode = Number(request.url?.slice(1, 4));
    request.resume().on('end', () => response.end());
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
});

afterAll(async () => {
  await tracing?.close();
  await new Promise((resolve) => server?.close(resolve));
});

const handler = webhookHandler({ allowedHosts: ['127.0.0.1'], timeoutMs: 5000 });

/** Runs a webhook job in an attempt span of its own; returns that span's context and what the handler threw, if anything. */
function runInSpan(payload: { url: string; method?: string; headers?: Record<string, string> }): Promise<{ traceId: string; spanId: string; error: unknown }> {
  return trace.getTracer('test').startActiveSpan('attempt', async (attempt) => {
    const context = { id: 'job-1', queue: 'default', type: 'webhook', attempt: 1, maxAttempts: 1, signal: new AbortController().signal, progress: async () => undefined, payload };
    const error = await Promise.resolve(handler(context as JobContext<{ url: string }>)).then(() => undefined, (caught: unknown) => caught);
    attempt.end();
    return { ...attempt.spanContext(), error };
  });
}

describe('the webhook handler with an SDK registered', () => {
  it('makes a client span, child of the attempt\'s, whose context replaces a traceparent the job gave, and marks a 503 an error', async () => {
    const attempt = await runInSpan({ url: `http://127.0.0.1:${port}/503?key=secret`, method: 'PUT', headers: { Traceparent: 'the job\'s own' } });
    expect((attempt.error as Error).message).toBe(`webhook PUT http://127.0.0.1:${port}/503 answered 503 Service Unavailable`);
    const span = tracing.spans().find((finished) => finished.kind === SpanKind.CLIENT && finished.parentSpanContext?.spanId === attempt.spanId);
    expect(span?.name).toBe('PUT');
    expect(span?.attributes).toEqual({
      'http.request.method': 'PUT', 'server.address': '127.0.0.1', 'server.port': port, 'url.full': `http://127.0.0.1:${port}/503`, 'url.scheme': 'http',
      'http.response.status_code': 503, 'error.type': '503',
    });
    expect(span?.status.code).toBe(SpanStatusCode.ERROR);
    expect(received.at(-1)?.traceparent).toBe(traceparentOf({ traceId: attempt.traceId, spanId: span?.spanContext().spanId ?? '' }));
  });

  it('records a request that got no answer as an error span, with the message the job records', async () => {
    const closed = await freePort();
    const attempt = await runInSpan({ url: `http://127.0.0.1:${closed}/` });
    const span = tracing.spans().find((finished) => finished.kind === SpanKind.CLIENT && finished.parentSpanContext?.spanId === attempt.spanId);
    expect(span?.status).toEqual({ code: SpanStatusCode.ERROR, message: (attempt.error as Error).message });
    expect(span?.attributes['http.response.status_code']).toBeUndefined();
  });
});
