import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queueKeys } from '@sluice/core';
import { Redis } from 'ioredis';
import { isolatedConfig } from '../../../test/support/context';
import { startApp, type AppFixture } from './fixture';

const config = isolatedConfig('api-submit', { BODY_LIMIT: '4096', QUEUES: 'default,emails' });
let fixture: AppFixture;
let redis: Redis;

beforeAll(async () => {
  fixture = await startApp(config);
  redis = new Redis(config.redis.url);
});
afterAll(async () => {
  redis?.disconnect();
  await fixture?.close();
});

const post = (body: unknown, headers: Record<string, string> = {}) =>
  fixture.app.inject({ method: 'POST', url: '/jobs', payload: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } });

const streamLength = (queue = 'default') => redis.xlen(queueKeys(config.redis.prefix, queue).stream);

function expectError(response: { statusCode: number; json(): unknown }, status: number, code: string, mentions?: string): void {
  expect(response.statusCode).toBe(status);
  const body = response.json() as { error: { code: string; message: string } };
  expect(body.error.code).toBe(code);
  expect(body.error.message.length).toBeGreaterThan(0);
  if (mentions) expect(body.error.message).toContain(mentions);
}

describe('POST /jobs', () => {
  it('accepts a valid job with 202 and it is readable at once with its pending event', async () => {
    const response = await post({ type: 'sleep', payload: { ms: 5 } });
    expect(response.statusCode).toBe(202);
    const added = response.json() as { id: string; status: string };
    expect(added).toMatchObject({ status: 'pending', queue: 'default', type: 'sleep', duplicate: false });
    expect(added.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);

    const read = await fixture.app.inject({ method: 'GET', url: `/jobs/${added.id}` });
    expect(read.statusCode).toBe(200);
    expect(read.json()).toMatchObject({
      id: added.id, status: 'pending', payload: { ms: 5 }, attempts: 0, maxAttempts: 3, idempotencyKey: null, history: [{ status: 'pending', attempt: 0 }],
    });
  });

  it('schedules a delayed job and honours queue, priority and maxAttempts', async () => {
    const response = await post({ type: 'noop', payload: {}, queue: 'emails', delay: 60_000, priority: 5, maxAttempts: 7 });
    expect(response.statusCode).toBe(202);
    const { id } = response.json() as { id: string };
    const job = (await fixture.app.inject({ method: 'GET', url: `/jobs/${id}` })).json() as Record<string, unknown>;
    expect(job).toMatchObject({ status: 'scheduled', queue: 'emails', priority: 5, maxAttempts: 7 });
    expect(Date.parse(job.runAt as string) - Date.parse(job.createdAt as string)).toBe(60_000);
  });

  it('answers a repeated idempotency key with 200 and the first job, enqueuing nothing', async () => {
    const first = await post({ type: 'noop', payload: {}, idempotencyKey: 'abc-1' });
    const before = await streamLength();
    const again = await post({ type: 'noop', payload: { other: true } }, { 'idempotency-key': 'abc-1' });
    expect(first.statusCode).toBe(202);
    expect(again.statusCode).toBe(200);
    const id = (first.json() as { id: string }).id;
    expect(again.json()).toMatchObject({ id, duplicate: true });
    expect(await streamLength()).toBe(before);
    expect((await fixture.app.inject({ method: 'GET', url: `/jobs/${id}` })).json()).toMatchObject({ idempotencyKey: 'abc-1' });
  });

  it('refuses a body key and header key that differ', async () => {
    expectError(await post({ type: 'noop', payload: {}, idempotencyKey: 'a' }, { 'idempotency-key': 'b' }), 400, 'INVALID_JOB', 'Idempotency-Key');
  });
});

describe('POST /jobs with bad input', () => {
  const cases: [string, unknown, number, string, string][] = [
    ['malformed JSON', '{"type": "noop",', 400, 'INVALID_JSON', 'JSON'],
    ['an empty body', '', 400, 'INVALID_JSON', 'empty'],
    ['a JSON array', [], 400, 'VALIDATION_ERROR', 'object'],
    ['a missing type', { payload: {} }, 400, 'VALIDATION_ERROR', '"type"'],
    ['a non-string type', { type: 42, payload: {} }, 400, 'VALIDATION_ERROR', 'type must be string'],
    ['a malformed type name', { type: 'no spaces', payload: {} }, 400, 'VALIDATION_ERROR', 'type must match'],
    ['an unknown type', { type: 'transmogrify', payload: {} }, 400, 'UNKNOWN_JOB_TYPE', 'Known types: email, fail, noop, sleep, webhook'],
    ['a missing payload', { type: 'noop' }, 400, 'VALIDATION_ERROR', '"payload"'],
    ['a string payload', { type: 'noop', payload: 'hi' }, 400, 'VALIDATION_ERROR', 'payload must be object'],
    ['an array payload', { type: 'noop', payload: [1] }, 400, 'VALIDATION_ERROR', 'payload must be object'],
    ['a string where the payload needs a number', { type: 'sleep', payload: { ms: '100' } }, 400, 'INVALID_JOB', 'payload.ms must be integer'],
    ['a payload value out of range', { type: 'sleep', payload: { ms: 3_600_001 } }, 400, 'INVALID_JOB', 'payload.ms must be <= 3600000'],
    ['a payload missing a field', { type: 'email', payload: { subject: 'x' } }, 400, 'INVALID_JOB', '"to"'],
    ['a malformed email address', { type: 'email', payload: { to: 'nobody', subject: 'x' } }, 400, 'INVALID_JOB', 'payload.to'],
    ['an unknown payload field', { type: 'sleep', payload: { ms: 1, extra: 1 } }, 400, 'INVALID_JOB', '"extra"'],
    ['an unknown top-level field', { type: 'noop', payload: {}, color: 'red' }, 400, 'VALIDATION_ERROR', '"color"'],
    ['a numeric string delay', { type: 'noop', payload: {}, delay: '100' }, 400, 'VALIDATION_ERROR', 'delay must be integer'],
    ['a negative delay', { type: 'noop', payload: {}, delay: -1 }, 400, 'VALIDATION_ERROR', 'delay must be >= 0'],
    ['a delay over a year', { type: 'noop', payload: {}, delay: 365 * 24 * 3_600_000 + 1 }, 400, 'VALIDATION_ERROR', 'delay must be <='],
    ['a fractional maxAttempts', { type: 'noop', payload: {}, maxAttempts: 2.5 }, 400, 'VALIDATION_ERROR', 'maxAttempts must be integer'],
    ['maxAttempts 0', { type: 'noop', payload: {}, maxAttempts: 0 }, 400, 'VALIDATION_ERROR', 'maxAttempts must be >= 1'],
    ['maxAttempts 101', { type: 'noop', payload: {}, maxAttempts: 101 }, 400, 'VALIDATION_ERROR', 'maxAttempts must be <= 100'],
    ['an idempotency key of 256 characters', { type: 'noop', payload: {}, idempotencyKey: 'k'.repeat(256) }, 400, 'VALIDATION_ERROR', 'idempotencyKey'],
    ['an invalid runAt', { type: 'noop', payload: {}, runAt: 'tomorrow' }, 400, 'VALIDATION_ERROR', 'runAt must match format "date-time"'],
    ['a runAt past one year', { type: 'noop', payload: {}, runAt: '2999-01-01T00:00:00Z' }, 400, 'INVALID_JOB', 'runAt must be at most one year'],
    ['a malformed queue name', { type: 'noop', payload: {}, queue: 'a/b' }, 400, 'VALIDATION_ERROR', 'queue must match'],
    ['an unknown queue', { type: 'noop', payload: {}, queue: 'elsewhere' }, 404, 'UNKNOWN_QUEUE', 'Known queues: default, emails'],
    ['a NUL character in the payload', { type: 'email', payload: { to: 'a@b.co', subject: 'x\u0000y' } }, 400, 'INVALID_JOB', 'NUL'],
    ['a NUL character in a payload key', { type: 'noop', payload: { 'a\u0000': 1 } }, 400, 'INVALID_JOB', 'NUL'],
    ['a NUL character in the idempotency key', { type: 'noop', payload: {}, idempotencyKey: 'a\u0000' }, 400, 'INVALID_JOB', 'NUL'],
    ['a __proto__ key', '{"type":"noop","payload":{"__proto__":{"polluted":true}}}', 400, 'INVALID_JSON', 'JSON'],
  ];

  it.each(cases)('refuses %s', async (_name, body, status, code, mentions) => {
    const before = await streamLength();
    expectError(await post(body), status, code, mentions);
    expect(await streamLength()).toBe(before);
  });

  it('refuses a body over the limit with 413', async () => {
    expectError(await post({ type: 'noop', payload: { blob: 'x'.repeat(5000) } }), 413, 'BODY_TOO_LARGE');
  });

  it('refuses a body that is not JSON with 415', async () => {
    const response = await fixture.app.inject({ method: 'POST', url: '/jobs', payload: 'type=noop', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expectError(response, 415, 'UNSUPPORTED_MEDIA_TYPE', 'application/json');
    const text = await fixture.app.inject({ method: 'POST', url: '/jobs', payload: 'hello', headers: { 'content-type': 'text/plain' } });
    expectError(text, 415, 'UNSUPPORTED_MEDIA_TYPE');
  });
});

describe('POST /jobs/bulk', () => {
  it('adds every job and returns their ids in order', async () => {
    const response = await fixture.app.inject({
      method: 'POST', url: '/jobs/bulk',
      payload: { jobs: [{ type: 'noop', payload: {} }, { type: 'sleep', payload: { ms: 1 }, queue: 'emails' }, { type: 'noop', payload: {}, delay: 1000 }] },
    });
    expect(response.statusCode).toBe(202);
    const { jobs } = response.json() as { jobs: { id: string; status: string; queue: string }[] };
    expect(jobs.map((job) => [job.status, job.queue])).toEqual([['pending', 'default'], ['pending', 'emails'], ['scheduled', 'default']]);
    expect(new Set(jobs.map((job) => job.id)).size).toBe(3);
  });

  it('validates every job before adding any', async () => {
    const before = await streamLength();
    const response = await fixture.app.inject({
      method: 'POST', url: '/jobs/bulk',
      payload: { jobs: [{ type: 'noop', payload: {} }, { type: 'sleep', payload: { ms: -5 } }] },
    });
    expectError(response, 400, 'INVALID_JOB', 'jobs[1].payload.ms');
    expect(await streamLength()).toBe(before);
  });

  it('refuses an empty list and a list over 1000', async () => {
    expectError(await fixture.app.inject({ method: 'POST', url: '/jobs/bulk', payload: { jobs: [] } }), 400, 'VALIDATION_ERROR', 'jobs');
    const many = Array.from({ length: 1001 }, () => ({ type: 'noop', payload: {} }));
    const big = await fixture.app.inject({ method: 'POST', url: '/jobs/bulk', payload: { jobs: many } });
    expect([400, 413]).toContain(big.statusCode);
  });
});

describe('GET /jobs/:id', () => {
  it('answers 400 for a malformed id and 404 for an unknown one', async () => {
    expectError(await fixture.app.inject({ method: 'GET', url: '/jobs/not-a-uuid' }), 400, 'VALIDATION_ERROR', 'id');
    expectError(await fixture.app.inject({ method: 'GET', url: '/jobs/01900000-0000-7000-8000-000000000000' }), 404, 'JOB_NOT_FOUND');
  });

  it('answers 404 in the error format for an unknown route', async () => {
    expectError(await fixture.app.inject({ method: 'GET', url: '/nowhere' }), 404, 'NOT_FOUND', '/nowhere');
  });
});
