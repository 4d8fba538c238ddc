import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type AppFixture } from '../apps/api/test/fixture';
import { envFor, isolatedConfig, waitFor } from './support/context';
import { ServiceProcess } from './support/processes';
import { freePort } from './support/redis-server';
import { registerTracing, traceparentOf, type TestTracing } from './support/tracing';
import type { SpanLine } from './fixtures/tracing-preload';

/**
 * The API runs here, with an SDK whose spans stay in memory; the worker runs as a process of its
 * own, with an SDK preloaded as an application would, whose spans go to a file. A job submitted with
 * a request's traceparent must be processed, and call its webhook, in that request's trace.
 */
const config = isolatedConfig('tracing-processes');
const directory = mkdtempSync(join(tmpdir(), 'sluice-spans-'));
const spansFile = join(directory, 'spans.jsonl');
let tracing: TestTracing;
let fixture: AppFixture;
let worker: ServiceProcess;
let target: Server;
let targetPort: number;
const received: IncomingHttpHeaders[] = [];

beforeAll(async () => {
  tracing = registerTracing();
  targetPort = await freePort();
  target = createServer((request, response) => {
    received.push(request.headers);
    request.resume().on('end', () => response.end('ok'));
  });
  await new Promise<void>((resolve) => target.listen(targetPort, '127.0.0.1', resolve));
  fixture = await startApp(config);
  worker = ServiceProcess.command('worker', process.execPath, [
    '--conditions=sluice-source', '--import', 'tsx', '--import', './test/fixtures/tracing-preload.ts', 'apps/worker/src/main.ts',
  ], { ...envFor(config), SPANS_FILE: spansFile, WEBHOOK_ALLOWED_HOSTS: '127.0.0.1', WORKER_NAME: 'traced-worker' });
  await worker.waitForOutput('worker started');
}, 60_000);

afterAll(async () => {
  expect(await worker?.stop('SIGTERM')).toBe(0);
  await fixture?.close();
  await tracing?.close();
  await new Promise((resolve) => target?.close(resolve));
  rmSync(directory, { recursive: true, force: true });
});

/** The worker process's finished spans so far. */
function workerSpans(): SpanLine[] {
  let text = '';
  try {
    text = readFileSync(spansFile, 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as SpanLine);
}

const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const REQUEST_SPAN_ID = 'b7ad6b7169203331';

describe('a job submitted over the API with a traceparent, run by a worker process', () => {
  it('runs its attempt in a process span of the request\'s trace, child of its send span, and its webhook in a client span that tells the target', async () => {
    const response = await fixture.app.inject({
      method: 'POST', url: '/jobs', headers: { traceparent: `00-${TRACE_ID}-${REQUEST_SPAN_ID}-01` },
      payload: { type: 'webhook', payload: { url: `http://127.0.0.1:${targetPort}/hook?token=secret`, body: { hello: 'world' } } },
    });
    expect(response.statusCode, response.body).toBe(202);
    const { id } = response.json() as { id: string };

    const send = await waitFor('the send span', () => tracing.spans().find((span) => span.attributes['messaging.message.id'] === id));
    expect(send.kind).toBe(SpanKind.PRODUCER);
    expect(send.spanContext().traceId).toBe(TRACE_ID);
    expect(send.parentSpanContext?.spanId).toBe(REQUEST_SPAN_ID);

    const attempt = await waitFor('the worker\'s attempt span', () => workerSpans().find((span) => span.attributes['messaging.message.id'] === id));
    expect(attempt).toMatchObject({
      name: 'process default', kind: SpanKind.CONSUMER, traceId: TRACE_ID, parentSpanId: send.spanContext().spanId,
      attributes: { 'messaging.operation.type': 'process', 'sluice.job.type': 'webhook', 'sluice.job.attempt': 1, 'sluice.job.outcome': 'completed' },
    });

    const webhook = workerSpans().find((span) => span.kind === SpanKind.CLIENT && span.parentSpanId === attempt.spanId);
    expect(webhook).toMatchObject({
      name: 'POST', traceId: TRACE_ID, status: { code: SpanStatusCode.UNSET },
      attributes: {
        'http.request.method': 'POST', 'server.address': '127.0.0.1', 'server.port': targetPort, 'url.full': `http://127.0.0.1:${targetPort}/hook`,
        'http.response.status_code': 200,
      },
    });
    expect(received.at(-1)?.traceparent).toBe(traceparentOf({ traceId: TRACE_ID, spanId: webhook?.spanId ?? '' }));

    const job = (await fixture.app.inject({ method: 'GET', url: `/jobs/${id}` })).json() as { status: string; traceId: string };
    expect(job).toMatchObject({ status: 'completed', traceId: TRACE_ID });
  });
});
