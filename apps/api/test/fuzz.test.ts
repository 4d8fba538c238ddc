import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Worker } from '@sluice/core';
import { createJobRegistry } from '@sluice/jobs';
import { failHandler } from '@sluice/jobs/handlers';
import { isolatedConfig, waitFor } from '../../../test/support/context';
import { startApp, type AppFixture } from './fixture';

const RUNS_PER_ROUTE = 400;
const config = isolatedConfig('api-fuzz', { BODY_LIMIT: '65536', QUEUES: 'default,other' });
let fixture: AppFixture;
let worker: Worker;
let tried = 0;
const validIds: string[] = [];

beforeAll(async () => {
  fixture = await startApp(config);
  // Only types that touch nothing outside the process: a fuzzed webhook or email job that happens
  // to be valid is dead-lettered for want of a handler instead of reaching out.
  worker = new Worker({ redis: config.redis, queue: config.queue, worker: config.worker, registry: createJobRegistry(), handlers: { noop: () => 'ok', fail: failHandler } });
  await worker.start();
});
afterAll(async () => {
  await worker?.close(1000);
  await fixture?.close();
  console.log(`fuzzing tried ${tried} inputs`);
});

const hostileString = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme', maxLength: 50 }),
  fc.constantFrom(
    '__proto__', 'constructor', 'prototype', "'; DROP TABLE jobs; --", '" OR 1=1 --', '*1\r\n$8\r\nFLUSHALL\r\n', '\u0000', 'a\u0000b',
    '\ud800', '🦀'.repeat(100), 'default', 'noop', '2026-13-45T99:99:99Z', '-1', '1e309', 'NaN', '../../etc/passwd', '%00', '{}', '[]',
  ),
  fc.string({ minLength: 1000, maxLength: 5000 }),
);
const hostileNumber = fc.oneof(fc.integer(), fc.double(), fc.constantFrom(0, -1, 2 ** 53, -(2 ** 53), 1e308, Number.MAX_SAFE_INTEGER + 2));
const hostileValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    hostileString,
    hostileNumber,
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(hostileString, tie('value'), { maxKeys: 5 }),
  ),
})).value;
const deep = fc.integer({ min: 50, max: 2000 }).map((depth) => JSON.parse('{"a":'.repeat(depth) + '1' + '}'.repeat(depth)) as unknown);
const submission = fc.record(
  {
    type: fc.oneof(fc.constantFrom('noop', 'sleep', 'email', 'webhook', 'fail'), hostileValue),
    payload: fc.oneof(hostileValue, deep, fc.constant({})),
    queue: fc.oneof(fc.constantFrom('default', 'other'), hostileValue),
    delay: fc.oneof(hostileNumber, hostileValue),
    runAt: fc.oneof(fc.date({ noInvalidDate: true }).map((date) => date.toISOString()), hostileValue),
    priority: hostileNumber,
    maxAttempts: hostileNumber,
    idempotencyKey: hostileValue,
    extra: hostileValue,
  },
  { requiredKeys: [] },
);
const body = fc.oneof(submission.map((value) => JSON.stringify(value)), hostileValue.map((value) => JSON.stringify(value)), hostileString);
/** Percent-encodes a path segment; a lone surrogate, which cannot be encoded, becomes invalid UTF-8 on the wire instead. */
const encodeSegment = (value: string): string => {
  try {
    return encodeURIComponent(value);
  } catch {
    return '%ED%A0%80';
  }
};
const segment = fc.oneof(fc.uuid(), hostileString).map(encodeSegment);
const query = fc.dictionary(fc.constantFrom('status', 'type', 'queue', 'limit', 'cursor', 'createdAfter', 'createdBefore', 'x'), hostileString, { maxKeys: 4 })
  .map((params) => new URLSearchParams(params).toString());

async function expectContract(method: 'GET' | 'POST', url: string, payload?: string): Promise<void> {
  tried += 1;
  const response = await fixture.app.inject({ method, url, ...(payload !== undefined && { payload, headers: { 'content-type': 'application/json' } }) });
  expect(response.statusCode, `${method} ${url} ${payload?.slice(0, 200) ?? ''}`).toBeLessThan(500);
  if (response.statusCode >= 400) {
    const error = (response.json() as { error?: { code?: unknown; message?: unknown } }).error;
    expect(typeof error?.code).toBe('string');
    expect(typeof error?.message).toBe('string');
    expect((error?.message as string).length).toBeGreaterThan(0);
  }
}

async function submitValid(): Promise<void> {
  const response = await fixture.app.inject({ method: 'POST', url: '/jobs', payload: { type: 'noop', payload: { valid: true } } });
  expect(response.statusCode).toBe(202);
  validIds.push((response.json() as { id: string }).id);
}

describe('no input breaks the API', () => {
  it('answers every hostile request with a contract-shaped 4xx or a success, never a 5xx', async () => {
    const properties: [string, fc.IAsyncProperty<[string]>][] = [
      ['POST /jobs', fc.asyncProperty(body, (payload) => expectContract('POST', '/jobs', payload)) as fc.IAsyncProperty<[string]>],
      ['POST /jobs/bulk', fc.asyncProperty(fc.oneof(fc.array(submission, { maxLength: 5 }).map((jobs) => JSON.stringify({ jobs })), body), (payload) => expectContract('POST', '/jobs/bulk', payload)) as fc.IAsyncProperty<[string]>],
      ['GET /jobs', fc.asyncProperty(query, (q) => expectContract('GET', `/jobs?${q}`)) as fc.IAsyncProperty<[string]>],
      ['GET /jobs/dead', fc.asyncProperty(query, (q) => expectContract('GET', `/jobs/dead?${q}`)) as fc.IAsyncProperty<[string]>],
      ['GET /jobs/:id', fc.asyncProperty(segment, (id) => expectContract('GET', `/jobs/${id}`)) as fc.IAsyncProperty<[string]>],
      ['POST /jobs/:id/cancel', fc.asyncProperty(segment, (id) => expectContract('POST', `/jobs/${id}/cancel`)) as fc.IAsyncProperty<[string]>],
      ['POST /jobs/:id/retry', fc.asyncProperty(segment, (id) => expectContract('POST', `/jobs/${id}/retry`)) as fc.IAsyncProperty<[string]>],
      ['POST /jobs/dead/retry', fc.asyncProperty(body, (payload) => expectContract('POST', '/jobs/dead/retry', payload)) as fc.IAsyncProperty<[string]>],
      ['GET /queues/:name', fc.asyncProperty(segment, (name) => expectContract('GET', `/queues/${name}`)) as fc.IAsyncProperty<[string]>],
    ];
    for (const [, property] of properties) {
      await submitValid();
      await fc.assert(property, { numRuns: RUNS_PER_ROUTE });
    }
    expect(tried).toBeGreaterThanOrEqual(properties.length * RUNS_PER_ROUTE);
  }, 120_000);

  it('still serves, and every valid job submitted during and after the fuzzing completes', async () => {
    expect((await fixture.app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);
    for (let i = 0; i < 5; i += 1) await submitValid();
    await waitFor('every valid job to complete', async () => {
      const statuses = await Promise.all(validIds.map(async (id) => ((await fixture.app.inject({ method: 'GET', url: `/jobs/${id}` })).json() as { status: string }).status));
      return statuses.every((status) => status === 'completed');
    }, 20_000, 100);
  });
});
