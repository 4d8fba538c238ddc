import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolatedConfig } from '../../../test/support/context';
import { startApp, type AppFixture } from './fixture';

/**
 * No OpenTelemetry SDK is registered here, as in an API run without one: a request's trace context
 * still reaches its jobs, unchanged, for the workers' SDK to continue.
 */
const config = isolatedConfig('api-tracing');
let fixture: AppFixture;

beforeAll(async () => {
  fixture = await startApp(config);
});

afterAll(async () => {
  await fixture?.close();
});

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const TRACEPARENT = `00-${TRACE_ID}-00f067aa0ba902b7-01`;

async function post(url: string, payload: unknown, headers: Record<string, string>): Promise<{ id: string }[]> {
  const response = await fixture.app.inject({ method: 'POST', url, payload: payload as Record<string, unknown>, headers });
  expect(response.statusCode, response.body).toBe(202);
  const body = response.json() as { id: string } | { jobs: { id: string }[] };
  return 'jobs' in body ? body.jobs : [body];
}

async function traceOf(id: string): Promise<{ traceId: string | null; traceparent: string | null }> {
  const response = await fixture.app.inject({ method: 'GET', url: `/jobs/${id}` });
  expect(response.statusCode, response.body).toBe(200);
  const { traceId, traceparent } = response.json() as { traceId: string | null; traceparent: string | null };
  return { traceId, traceparent };
}

const noop = { type: 'noop', payload: {} };

describe('the traceparent header of a submission', () => {
  it('gives the job of POST /jobs the trace id of the traceparent header, and keeps it as the job\'s traceparent', async () => {
    const [job] = await post('/jobs', noop, { traceparent: TRACEPARENT, tracestate: 'vendor=opaque' });
    expect(await traceOf(job?.id ?? '')).toEqual({ traceId: TRACE_ID, traceparent: TRACEPARENT });
  });

  it('gives every job of POST /jobs/bulk the trace id of its traceparent header', async () => {
    const jobs = await post('/jobs/bulk', { jobs: [noop, noop] }, { traceparent: TRACEPARENT });
    expect(jobs).toHaveLength(2);
    for (const job of jobs) expect((await traceOf(job.id)).traceId).toBe(TRACE_ID);
  });

  it.each([
    ['not a traceparent', 'garbage'],
    ['version ff', `ff-${TRACE_ID}-00f067aa0ba902b7-01`],
    ['an all-zero trace id', '00-00000000000000000000000000000000-00f067aa0ba902b7-01'],
    ['an all-zero parent id', `00-${TRACE_ID}-0000000000000000-01`],
    ['upper-case hex', `00-${TRACE_ID.toUpperCase()}-00f067aa0ba902b7-01`],
    ['version 00 with a field more', `${TRACEPARENT}-extra`],
  ])('ignores a malformed traceparent (%s): the job is added, in no trace', async (_, traceparent) => {
    const [job] = await post('/jobs', noop, { traceparent });
    expect(await traceOf(job?.id ?? '')).toEqual({ traceId: null, traceparent: null });
  });

  it('accepts a later version\'s traceparent, with more fields, as its version 00 part', async () => {
    const [job] = await post('/jobs', noop, { traceparent: `01-${TRACE_ID}-00f067aa0ba902b7-01-later` });
    expect(await traceOf(job?.id ?? '')).toEqual({ traceId: TRACE_ID, traceparent: TRACEPARENT });
  });

  it('adds a job submitted without one in no trace', async () => {
    const [job] = await post('/jobs', noop, {});
    expect(await traceOf(job?.id ?? '')).toEqual({ traceId: null, traceparent: null });
  });
});
