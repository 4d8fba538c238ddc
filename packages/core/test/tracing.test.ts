import { context, createTraceState, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Type } from 'typebox';
import { defineJobType, jobsFindWithHistory, JobTypeRegistry, OutboxRelay, outboxFind, outboxJobView, Queue, type Job } from '@sluice/core';
import { createTestDatabase, isolatedConfig, waitFor, type TestDatabase } from '../../../test/support/context';
import { startInProcess, type InProcess } from '../../../test/support/in-process';
import { registerTracing, traceparentOf, type TestTracing } from '../../../test/support/tracing';

const config = isolatedConfig('tracing', { CONCURRENCY: '4' });
const registry = new JobTypeRegistry([
  defineJobType({ name: 'ok', payload: Type.Object({}) }),
  defineJobType({ name: 'flaky', payload: Type.Object({}), retry: { maxAttempts: 2, immediateRetries: 1 } }),
  defineJobType({ name: 'doomed', payload: Type.Object({}), retry: { maxAttempts: 1 } }),
  defineJobType({ name: 'slow', payload: Type.Object({}), timeoutMs: 100, retry: { maxAttempts: 1 } }),
]);
const handlers = {
  // A span of the handler's own, which must nest under its attempt's.
  ok: () => trace.getTracer('test').startActiveSpan('inside the handler', (span) => span.end()),
  flaky: ({ attempt }: { attempt: number }) => {
    if (attempt === 1) throw new TypeError('first attempt fails');
  },
  doomed: () => {
    throw new Error('always fails');
  },
  slow: ({ signal }: { signal: AbortSignal }) => new Promise((resolve) => signal.addEventListener('abort', resolve)),
};

let tracing: TestTracing;
let database: TestDatabase;
let system: InProcess;
let queue: Queue;

beforeAll(async () => {
  tracing = registerTracing();
  database = await createTestDatabase(config);
  system = await startInProcess(config, registry, handlers, { pool: database.pool });
  ({ queue } = system);
});

afterAll(async () => {
  await system?.close();
  await database?.drop();
  await tracing?.close();
});

const tracer = trace.getTracer('test');

/** Runs `fn` in a new root span, as a request handler would run; returns its result and the span. */
async function inRootSpan<T>(fn: () => Promise<T>): Promise<{ result: T; root: Span }> {
  return tracer.startActiveSpan('request', async (root) => {
    const result = await fn();
    root.end();
    return { result, root };
  });
}

async function finished(id: string): Promise<Job> {
  return waitFor(`job ${id} to finish`, async () => {
    const job = await queue.getJob(id);
    return job && ['completed', 'dead'].includes(job.status) ? job : null;
  });
}

const spansOf = (id: string, name: string): ReadableSpan[] =>
  tracing.spans().filter((span) => span.name === name && span.attributes['messaging.message.id'] === id);

/** Its attempts' spans, once `count` have ended, in attempt order. */
async function attemptSpans(job: Job, count: number): Promise<ReadableSpan[]> {
  const spans = await waitFor(`${count} attempt spans of ${job.id}`, () => {
    const found = spansOf(job.id, `process ${job.queue}`);
    return found.length >= count ? found : null;
  });
  return spans.sort((a, b) => Number(a.attributes['sluice.job.attempt']) - Number(b.attributes['sluice.job.attempt']));
}

function sendSpanOf(job: Job): ReadableSpan {
  const [send] = spansOf(job.id, `send ${job.queue}`);
  if (!send) throw new Error(`no send span for ${job.id}`);
  return send;
}

describe('tracing with an SDK registered', () => {
  it('gives Queue.add a send span in the active trace, stores it with the job, and runs the attempt in a process span, its child', async () => {
    const { result: added, root } = await inRootSpan(() => queue.add('ok', {}));
    const job = await finished(added.id);
    const send = sendSpanOf(job);
    expect(send.kind).toBe(SpanKind.PRODUCER);
    expect(send.spanContext().traceId).toBe(root.spanContext().traceId);
    expect(send.parentSpanContext?.spanId).toBe(root.spanContext().spanId);
    expect(send.attributes).toMatchObject({
      'messaging.system': 'sluice', 'messaging.destination.name': job.queue, 'messaging.operation.type': 'send', 'messaging.message.id': job.id, 'sluice.job.type': 'ok',
    });
    expect(job.traceId).toBe(root.spanContext().traceId);
    expect(job.traceparent).toBe(traceparentOf(send.spanContext()));

    const [attempt] = await attemptSpans(job, 1);
    expect(attempt?.kind).toBe(SpanKind.CONSUMER);
    expect(attempt?.spanContext().traceId).toBe(root.spanContext().traceId);
    expect(attempt?.parentSpanContext?.spanId).toBe(send.spanContext().spanId);
    expect(attempt?.attributes).toMatchObject({
      'messaging.system': 'sluice', 'messaging.destination.name': job.queue, 'messaging.operation.type': 'process', 'messaging.message.id': job.id,
      'sluice.job.type': 'ok', 'sluice.job.attempt': 1, 'sluice.job.outcome': 'completed',
    });
    expect(attempt?.attributes['sluice.job.wait_ms']).toBeGreaterThanOrEqual(0);
    expect(attempt?.status.code).toBe(SpanStatusCode.UNSET);
    const inside = tracing.spans().find((span) => span.name === 'inside the handler' && span.spanContext().traceId === job.traceId);
    expect(inside?.parentSpanContext?.spanId).toBe(attempt?.spanContext().spanId);
  });

  it('marks a failed attempt retrying, with status error and its exception, and the next attempt completed, both children of the send span', async () => {
    const { result: added } = await inRootSpan(() => queue.add('flaky', {}));
    const job = await finished(added.id);
    expect(job.status).toBe('completed');
    const send = sendSpanOf(job);
    const [first, second] = await attemptSpans(job, 2);
    expect(first?.attributes).toMatchObject({ 'sluice.job.attempt': 1, 'sluice.job.outcome': 'retrying', 'error.type': 'TypeError' });
    expect(first?.status).toEqual({ code: SpanStatusCode.ERROR, message: 'first attempt fails' });
    expect(first?.events.find((event) => event.name === 'exception')?.attributes?.['exception.message']).toBe('first attempt fails');
    expect(second?.attributes).toMatchObject({ 'sluice.job.attempt': 2, 'sluice.job.outcome': 'completed' });
    for (const span of [first, second]) expect(span?.parentSpanContext?.spanId).toBe(send.spanContext().spanId);
  });

  it('marks the last failed attempt dead, and one whose time ran out with error.type timeout', async () => {
    const { result: [doomed, slow] } = await inRootSpan(() => Promise.all([queue.add('doomed', {}), queue.add('slow', {})]));
    const [doomedSpan] = await attemptSpans(await finished(doomed.id), 1);
    expect(doomedSpan?.attributes).toMatchObject({ 'sluice.job.outcome': 'dead', 'error.type': 'Error' });
    expect(doomedSpan?.status.code).toBe(SpanStatusCode.ERROR);
    const [slowSpan] = await attemptSpans(await finished(slow.id), 1);
    expect(slowSpan?.attributes).toMatchObject({ 'sluice.job.outcome': 'dead', 'error.type': 'timeout' });
    expect(slowSpan?.status).toEqual({ code: SpanStatusCode.ERROR, message: 'timed out after 100 ms' });
  });

  it('gives each job of addBulk a send span of its own, in the active trace', async () => {
    const { result: added, root } = await inRootSpan(() => queue.addBulk([{ type: 'ok', payload: {} }, { type: 'ok', payload: {} }]));
    const jobs = await Promise.all(added.map(({ id }) => finished(id)));
    const sends = jobs.map(sendSpanOf);
    expect(new Set(sends.map((send) => send.spanContext().spanId)).size).toBe(2);
    for (const [index, job] of jobs.entries()) {
      expect(sends[index]?.parentSpanContext?.spanId).toBe(root.spanContext().spanId);
      expect(job.traceparent).toBe(traceparentOf((sends[index] as ReadableSpan).spanContext()));
      const [attempt] = await attemptSpans(job, 1);
      expect(attempt?.parentSpanContext?.spanId).toBe(sends[index]?.spanContext().spanId);
    }
  });

  it('starts a trace at the send span of a job added outside any, and the attempt joins it', async () => {
    const added = await queue.add('ok', {});
    const job = await finished(added.id);
    const send = sendSpanOf(job);
    expect(send.parentSpanContext).toBeUndefined();
    expect(job.traceId).toBe(send.spanContext().traceId);
    const [attempt] = await attemptSpans(job, 1);
    expect(attempt?.parentSpanContext?.spanId).toBe(send.spanContext().spanId);
  });

  it('carries the tracestate of the trace a job was added in to its attempts', async () => {
    const remote = trace.setSpanContext(ROOT_CONTEXT, {
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 1, isRemote: true, traceState: createTraceState('vendor=opaque'),
    });
    const added = await context.with(remote, () => queue.add('ok', {}));
    const [attempt] = await attemptSpans(await finished(added.id), 1);
    expect(attempt?.spanContext().traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(attempt?.spanContext().traceState?.serialize()).toBe('vendor=opaque');
  });

  it('keeps the traceparent in the job\'s history in PostgreSQL', async () => {
    const { result: added, root } = await inRootSpan(() => queue.add('ok', {}));
    const job = await finished(added.id);
    const stored = await waitFor('the job in PostgreSQL', () => jobsFindWithHistory(database.db, added.id));
    expect(stored.traceId).toBe(root.spanContext().traceId);
    expect(stored.traceparent).toBe(job.traceparent);
  });

  it('gives a job enqueued in a transaction its send span at the insert, and its attempt, after the relay, joins that trace', async () => {
    const producer = new Queue({ redis: system.redis, redisConfig: config.redis, queueConfig: config.queue, registry, schema: config.postgres.schema });
    const client = await database.pool.connect();
    let added: { id: string }[];
    let root: Span;
    try {
      await client.query('BEGIN');
      ({ result: added, root } = await inRootSpan(() => producer.enqueueInTransaction(client, [{ type: 'ok', payload: {} }])));
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    const id = (added[0] as { id: string }).id;
    const row = await outboxFind(database.pool, id);
    const send = spansOf(id, `send ${config.queue.queues[0]}`)[0];
    expect(send?.parentSpanContext?.spanId).toBe(root.spanContext().spanId);
    expect(row && outboxJobView(row, Date.now()).traceId).toBe(root.spanContext().traceId);

    const relay = new OutboxRelay({ pool: database.pool, schema: config.postgres.schema, queue: producer });
    expect(await relay.runOnce()).toBe(1);
    const job = await finished(id);
    expect(job.traceparent).toBe(traceparentOf((send as ReadableSpan).spanContext()));
    const [attempt] = await attemptSpans(job, 1);
    expect(attempt?.spanContext().traceId).toBe(root.spanContext().traceId);
    expect(attempt?.parentSpanContext?.spanId).toBe(send?.spanContext().spanId);
  });
});
