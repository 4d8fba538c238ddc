import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { closeRedis, createRedis, HistoryRecorder, jobsFindWithHistory, Worker, type ScriptedRedis } from '@sluice/core';
import { createJobRegistry } from '@sluice/jobs';
import { failHandler } from '@sluice/jobs/handlers';
import { isolatedConfig, waitFor } from '../support/context';
import { startApp, type AppFixture } from '../../apps/api/test/fixture';

/** Inputs per run, over every route; shared by RUNNERS properties that run at once so that I/O overlaps. */
const INPUTS = 10_400;
const RUNNERS = 4;
/** No answer may take longer. */
const MAX_ANSWER_MS = 5000;
const QUEUES = ['default', 'other'];

const config = isolatedConfig('security-fuzz', { BODY_LIMIT: '65536', QUEUES: QUEUES.join(',') });
const dashboardDir = mkdtempSync(join(tmpdir(), 'sluice-fuzz-dashboard-'));
let fixture: AppFixture;
let redis: ScriptedRedis;
let recorder: HistoryRecorder;
let worker: Worker;
let tried = 0;
let slowest = 0;
/** Every job id a 2xx answer named: each must reach PostgreSQL's history. */
const accepted = new Set<string>();

beforeAll(async () => {
  // A dashboard of its own, so that the static files are fuzzed whether or not it has been built.
  mkdirSync(join(dashboardDir, 'assets'));
  writeFileSync(join(dashboardDir, 'index.html'), '<!doctype html><title>Sluice</title>');
  writeFileSync(join(dashboardDir, 'assets', 'app.js'), 'export {};');
  fixture = await startApp(config, { dashboardDir });
  redis = createRedis(config.redis);
  recorder = new HistoryRecorder({ redis, pool: fixture.database.pool, prefix: config.redis.prefix, queues: QUEUES, owner: 'fuzz' });
  recorder.start();
  // Only handlers that touch nothing outside the process: a fuzzed webhook or email job that is
  // valid is dead-lettered for want of a handler instead of reaching out.
  worker = new Worker({ redis: config.redis, queue: config.queue, worker: config.worker, registry: createJobRegistry(), handlers: { noop: () => 'ok', fail: failHandler } });
  await worker.start();
});
afterAll(async () => {
  await worker?.close(1000);
  await recorder?.stop();
  if (redis) await closeRedis(redis);
  await fixture?.close();
  rmSync(dashboardDir, { recursive: true, force: true });
});

// ---- What a hostile client sends ----

const hostileString = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme', maxLength: 50 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.constantFrom(
    '__proto__', 'constructor', 'prototype', "'; DROP TABLE jobs; --", '" OR 1=1 --', '*1\r\n$8\r\nFLUSHALL\r\n', '\u0000', 'a\u0000b',
    '\ud800', '\udfff', '\ufffd', '\ufeff', '🦀'.repeat(100), 'default', 'other', 'noop', '-1', '1e309', 'NaN', '../../etc/passwd',
    '..%2f..%2fetc%2fpasswd', '%00', '%', '{}', '[]', 'null', 'true', ' ', '',
  ),
  fc.string({ minLength: 1000, maxLength: 3000 }),
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
const deep = fc.integer({ min: 50, max: 3000 }).map((depth) => JSON.parse('{"a":'.repeat(depth) + '1' + '}'.repeat(depth)) as unknown);

/** Dates as text: ordinary, at the edges of what JavaScript and PostgreSQL hold, and malformed. */
const dateText = fc.oneof(
  fc.date({ noInvalidDate: true }).map((date) => date.toISOString()),
  fc.date({ noInvalidDate: true, min: new Date('0001-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z') }).map((date) => date.toISOString().replace('.000Z', '+05:30')),
  fc.constantFrom(
    '2016-12-31T23:59:60Z', '0000-01-01T00:00:00Z', '10000-01-01T00:00:00Z', '+275760-09-13T00:00:00.000Z', '-000001-01-01T00:00:00Z',
    '2026-02-29T00:00:00Z', '2028-02-29T00:00:00Z', '2026-13-45T99:99:99Z', '2026-01-01', '2026-01-01T00:00:00', '2026-01-01t00:00:00z',
    '0001-01-01T00:00:00+14:00', '9999-12-31T23:59:59-14:00', '2026-01-01T00:00:00.123456789Z',
  ),
);
const cursorText = fc.oneof(
  fc.tuple(fc.oneof(dateText, hostileString), fc.oneof(fc.uuid(), hostileString)).map((pair) => Buffer.from(JSON.stringify(pair)).toString('base64url')),
  fc.json().map((json) => Buffer.from(json).toString('base64url')),
  fc.tuple(fc.bigInt({ min: 0n, max: 10n ** 16n }), fc.bigInt({ min: 0n, max: 10n ** 16n })).map(([ms, seq]) => `${ms}-${seq}`),
  fc.constantFrom('0-0', '00-00', '0-1', '-1-0', '18446744073709551615-18446744073709551615'),
  hostileString,
);
const queryValue = fc.oneof(hostileString, dateText, cursorText, fc.integer({ min: -5, max: 200 }).map(String), fc.constantFrom(...QUEUES, 'pending', 'dead', 'noop', 'fail'));
const queryKey = fc.constantFrom('status', 'type', 'queue', 'limit', 'cursor', 'createdAfter', 'createdBefore', 'idempotencyKey', 'x', '__proto__');
const query = fc.array(fc.tuple(queryKey, queryValue), { maxLength: 4 }).map((pairs) => new URLSearchParams(pairs).toString());

/** Idempotency keys from a small pool, so that repeats (and header/body pairs) happen. */
const pooledKey = fc.constantFrom('k1', 'k2', 'ключ', '🦀', '\ufffd', 'x'.repeat(255));
/** A mostly valid submission: the jobs the history must receive. */
const plausibleSubmission = fc.record(
  {
    type: fc.constantFrom('noop', 'fail'),
    payload: fc.oneof(fc.constant({}), fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 4 })),
    queue: fc.constantFrom(...QUEUES),
    delay: fc.integer({ min: 0, max: 2000 }),
    priority: fc.integer({ min: -1000, max: 1000 }),
    maxAttempts: fc.integer({ min: 1, max: 3 }),
    idempotencyKey: fc.oneof(pooledKey, fc.uuid()),
  },
  { requiredKeys: ['type', 'payload'] },
).map((job) => (job.type === 'fail' ? { ...job, payload: { times: 1 } } : job));
const hostileSubmission = fc.record(
  {
    type: fc.oneof(fc.constantFrom('noop', 'sleep', 'email', 'webhook', 'fail'), hostileValue),
    payload: fc.oneof(hostileValue, deep, fc.constant({})),
    queue: fc.oneof(fc.constantFrom(...QUEUES), hostileValue),
    delay: fc.oneof(hostileNumber, hostileValue),
    runAt: fc.oneof(dateText, hostileValue),
    priority: hostileNumber,
    maxAttempts: hostileNumber,
    idempotencyKey: fc.oneof(pooledKey, hostileValue),
    extra: hostileValue,
  },
  { requiredKeys: [] },
);
const submission = fc.oneof(plausibleSubmission, hostileSubmission);
const jsonBody = fc.oneof(
  { weight: 4, arbitrary: submission.map((value) => JSON.stringify(value)) },
  { weight: 1, arbitrary: hostileValue.map((value) => JSON.stringify(value) ?? 'null') },
  { weight: 1, arbitrary: hostileString },
);
const bulkBody = fc.oneof(
  { weight: 4, arbitrary: fc.array(submission, { maxLength: 5 }).map((jobs) => JSON.stringify({ jobs })) },
  { weight: 1, arbitrary: jsonBody },
);
const filterBody = fc.oneof(fc.record({ type: fc.oneof(fc.constantFrom('noop', 'fail'), hostileValue), queue: fc.oneof(fc.constantFrom(...QUEUES), hostileValue) }, { requiredKeys: [] }).map((value) => JSON.stringify(value)), jsonBody);

/** A header value as it comes off the wire: bytes, one character each, as Node hands them over. */
const headerBytes = fc.oneof(
  fc.oneof(pooledKey, hostileString).map((text) => Buffer.from(text, 'utf8').toString('latin1')),
  fc.uint8Array({ minLength: 1, maxLength: 40 }).map((bytes) => Buffer.from(bytes).toString('latin1')),
)
  // Node's parser refuses control characters in a header before any route sees it; inject would not.
  .map((value) => [...value].filter((char) => char === '\t' || (char >= ' ' && char !== '\u007f')).join(''))
  .filter((value) => value.length > 0);
const contentType = fc.constantFrom('application/json', 'application/json; charset=utf-8', 'application/json; charset=latin1', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/octet-stream', '');
const headers = fc.record({ 'content-type': contentType, 'idempotency-key': headerBytes, accept: fc.constantFrom('*/*', 'text/event-stream', 'application/json'), origin: fc.constantFrom('http://127.0.0.1', 'https://evil.example') }, { requiredKeys: [] });

/** Percent-encodes a path segment; a lone surrogate, which cannot be encoded, becomes invalid UTF-8 on the wire instead. */
const encodeSegment = (value: string): string => {
  try {
    return encodeURIComponent(value);
  } catch {
    return '%ED%A0%80';
  }
};
/** A job id: an accepted one in either case, any UUID, or anything at all. */
const jobId = fc.oneof(
  fc.tuple(fc.nat(), fc.boolean()).map(([index, upper]) => {
    const ids = [...accepted];
    const id = ids.length > 0 ? (ids[index % ids.length] as string) : '00000000-0000-7000-8000-000000000000';
    return upper ? id.toUpperCase() : id;
  }),
  fc.uuid(),
  fc.uuid().map((id) => `urn:uuid:${id}`),
  hostileString.map(encodeSegment),
);
const queueName = fc.oneof(fc.constantFrom(...QUEUES), hostileString.map(encodeSegment));

interface FuzzRequest {
  method: 'GET' | 'POST' | 'HEAD' | 'PUT' | 'DELETE' | 'PATCH' | 'OPTIONS';
  url: string;
  body?: string;
  headers?: Record<string, string>;
}
const get = (url: fc.Arbitrary<string>) => url.map((path): FuzzRequest => ({ method: 'GET', url: path }));
const post = (url: fc.Arbitrary<string>, body: fc.Arbitrary<string>) =>
  fc.tuple(url, body, fc.option(headers, { freq: 3 })).map(([path, content, sent]): FuzzRequest => ({ method: 'POST', url: path, body: content, headers: { 'content-type': 'application/json', ...sent } }));

/** Every route, with hostile parameters, queries, bodies and headers, and routes and methods that do not exist. */
const fuzzRequest: fc.Arbitrary<FuzzRequest> = fc.oneof(
  { weight: 8, arbitrary: post(fc.constant('/jobs'), jsonBody) },
  { weight: 4, arbitrary: post(fc.constant('/jobs/bulk'), bulkBody) },
  { weight: 4, arbitrary: get(query.map((q) => `/jobs?${q}`)) },
  { weight: 3, arbitrary: get(query.map((q) => `/jobs/dead?${q}`)) },
  { weight: 1, arbitrary: get(query.map((q) => `/jobs/dead/count?${q}`)) },
  { weight: 1, arbitrary: post(fc.constant('/jobs/dead/retry'), filterBody) },
  { weight: 3, arbitrary: get(jobId.map((id) => `/jobs/${id}`)) },
  { weight: 2, arbitrary: post(jobId.map((id) => `/jobs/${id}/cancel`), fc.constantFrom('', '{}')) },
  { weight: 2, arbitrary: post(jobId.map((id) => `/jobs/${id}/retry`), fc.constantFrom('', '{}')) },
  { weight: 1, arbitrary: get(queueName.map((name) => `/queues/${name}`)) },
  { weight: 1, arbitrary: post(fc.tuple(queueName, fc.constantFrom('pause', 'resume')).map(([name, action]) => `/queues/${name}/${action}`), fc.constantFrom('', '{}')) },
  { weight: 1, arbitrary: get(fc.constantFrom('/queues', '/stats', '/job-types', '/health', '/health/ready', '/metrics', '/docs', '/docs/json', '/', '/dashboard', '/dashboard/', '/dashboard/assets/app.js')) },
  { weight: 1, arbitrary: get(hostileString.map((path) => `/dashboard/${encodeSegment(path)}`)) },
  { weight: 1, arbitrary: fc.constantFrom('/stats/stream', '/jobs', '/jobs/dead', '/health').map((url): FuzzRequest => ({ method: 'HEAD', url })) },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD') as fc.Arbitrary<FuzzRequest['method']>, fc.array(hostileString.map(encodeSegment), { minLength: 1, maxLength: 4 }), jsonBody)
      .map(([method, segments, body]): FuzzRequest => ({ method, url: `/${segments.join('/')}`, ...(method !== 'GET' && method !== 'HEAD' && { body, headers: { 'content-type': 'application/json' } }) })),
  },
);

/** Sends one request and checks the contract: no 5xx, no answer slower than MAX_ANSWER_MS, 4xx in the error shape. */
async function expectContract(sent: FuzzRequest): Promise<void> {
  tried += 1;
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const response = await Promise.race([
    fixture.app.inject({ method: sent.method, url: sent.url, ...(sent.body !== undefined && { payload: sent.body }), ...(sent.headers && { headers: sent.headers }) }),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${sent.method} ${sent.url}: no answer within ${MAX_ANSWER_MS} ms`)), MAX_ANSWER_MS);
    }),
  ]).finally(() => clearTimeout(timer));
  const elapsed = performance.now() - started;
  slowest = Math.max(slowest, elapsed);
  const what = `${sent.method} ${sent.url.slice(0, 300)} ${JSON.stringify(sent.headers ?? {})} ${sent.body?.slice(0, 300) ?? ''} → ${response.statusCode} ${response.body.slice(0, 300)}`;
  expect(response.statusCode, what).toBeLessThan(500);
  expect(elapsed, what).toBeLessThan(MAX_ANSWER_MS);
  if (response.statusCode >= 400 && sent.method !== 'HEAD') {
    const error = (response.json() as { error?: { code?: unknown; message?: unknown } }).error;
    expect(typeof error?.code, what).toBe('string');
    expect(typeof error?.message, what).toBe('string');
    expect(String(error?.message).length, what).toBeGreaterThan(0);
  }
  if (sent.method === 'POST' && (response.statusCode === 200 || response.statusCode === 202) && sent.url.startsWith('/jobs')) {
    const answer = response.json() as { id?: string; jobs?: { id: string }[] };
    if (sent.url === '/jobs' && answer.id) accepted.add(answer.id);
    if (sent.url === '/jobs/bulk') for (const job of answer.jobs ?? []) accepted.add(job.id);
  }
}

describe('no input breaks the API', () => {
  it(`answers ${INPUTS} hostile requests across every route with a 4xx or a success, never a 5xx or a hang`, async () => {
    const started = performance.now();
    await Promise.all(
      Array.from({ length: RUNNERS }, () => fc.assert(fc.asyncProperty(fuzzRequest, expectContract), { numRuns: INPUTS / RUNNERS })),
    );
    console.log(`fuzzing: ${tried} inputs in ${Math.round(performance.now() - started)} ms, slowest answer ${Math.round(slowest)} ms, ${accepted.size} jobs accepted`);
    expect(tried).toBeGreaterThanOrEqual(INPUTS);
    expect(accepted.size).toBeGreaterThan(100);
  }, 120_000);

  it('still serves, and every job accepted during the fuzzing reached PostgreSQL\'s history', async () => {
    for (const queue of QUEUES) await fixture.app.inject({ method: 'POST', url: `/queues/${queue}/resume` });
    expect((await fixture.app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);
    let missing = [...accepted];
    await waitFor('every accepted job in PostgreSQL', async () => {
      const found = await Promise.all(missing.map(async (id) => ((await jobsFindWithHistory(fixture.database.db, id))?.history.length ?? 0) > 0));
      missing = missing.filter((_, index) => !found[index]);
      return missing.length === 0;
    }, 20_000, 200).catch((error: unknown) => {
      throw new Error(`${missing.length} accepted jobs never reached PostgreSQL, e.g. ${missing.slice(0, 5).join(', ')}: ${String(error)}`);
    });
    expect(recorder.setAside).toBe(0);
  }, 60_000);
});
