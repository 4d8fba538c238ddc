import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolatedConfig } from '../support/context';
import { startApp, type AppFixture } from '../../apps/api/test/fixture';

const config = isolatedConfig('security-input');
let fixture: AppFixture;
let port: number;

beforeAll(async () => {
  fixture = await startApp(config);
  await fixture.app.listen({ port: 0, host: '127.0.0.1' });
  const address = fixture.app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  port = address.port;
});
afterAll(async () => {
  await fixture?.close();
});

interface Answer {
  statusCode: number;
  body: { id?: string; status?: string; duplicate?: boolean; error?: { code: string; message: string }; jobs?: unknown[]; nextCursor?: unknown };
}

async function call(method: 'GET' | 'POST', url: string, payload?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const response = await fixture.app.inject({ method, url, headers, ...(payload !== undefined && { payload: payload as Record<string, unknown> }) });
  return { statusCode: response.statusCode, body: response.json() as Answer['body'] };
}

/** A 400 in the contract's shape whose message contains each of `words`. */
function expectRefusal(answer: Answer, ...words: string[]): void {
  expect(answer.statusCode, JSON.stringify(answer.body)).toBe(400);
  expect(answer.body.error?.code).toEqual(expect.any(String));
  for (const word of words) expect(answer.body.error?.message).toContain(word);
}

/** POST /jobs over a real socket with an Idempotency-Key header of exactly `keyBytes`, as a client sends it. */
function postWithRawKey(keyBytes: Buffer, body: Record<string, unknown>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const json = Buffer.from(JSON.stringify(body));
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const [head = '', content = ''] = text.split('\r\n\r\n');
      resolve({ statusCode: Number(head.split(' ')[1]), body: JSON.parse(content) as Answer['body'] });
    });
    socket.write(Buffer.concat([
      Buffer.from(`POST /jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${json.length}\r\nIdempotency-Key: `),
      keyBytes,
      Buffer.from('\r\n\r\n'),
      json,
    ]));
  });
}

const cursorOf = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const SOME_ID = '01936f0e-7d2c-7a4e-9f1b-2b8e5f0c1a77';

describe('job ids are canonical', () => {
  it.each([
    `urn:uuid:${SOME_ID}`,
    'urn:uuid:00000000-0000-0000-0000-000000000000',
    `{${SOME_ID}}`,
    SOME_ID.replace(/-/g, ''),
  ])('/jobs/%s answers 400 saying what an id looks like, on every route', async (id) => {
    const path = `/jobs/${encodeURIComponent(id)}`;
    for (const [method, url] of [['GET', path], ['POST', `${path}/cancel`], ['POST', `${path}/retry`]] as const) {
      expectRefusal(await call(method, url), 'UUID of 36 characters');
    }
  });

  it('reaches the same job through an uppercase id on every route, and answers with the lowercase id', async () => {
    const id = await fixture.submit({ type: 'noop', payload: {}, delay: 60_000 });
    const upper = id.toUpperCase();
    const read = await call('GET', `/jobs/${upper}`);
    expect(read.statusCode).toBe(200);
    expect(read.body.id).toBe(id);
    const retried = await call('POST', `/jobs/${upper}/retry`);
    expect(retried.statusCode, JSON.stringify(retried.body)).toBe(409);
    const cancelled = await call('POST', `/jobs/${upper}/cancel`);
    expect(cancelled.statusCode, JSON.stringify(cancelled.body)).toBe(200);
    expect(cancelled.body).toMatchObject({ id, status: 'cancelled' });
  });
});

describe('every date and cursor is range-checked', () => {
  it.each([
    ['createdAfter', '2016-12-31T23:59:60Z'],
    ['createdBefore', '2016-12-31T23:59:60+00:00'],
    ['createdAfter', '0000-01-01T00:00:00Z'],
    ['createdBefore', '0000-12-31T23:59:59Z'],
    ['createdAfter', '0001-01-01T00:30:00+01:00'],
    ['createdAfter', '10000-01-01T00:00:00Z'],
    ['createdBefore', '+010000-01-01T00:00:00Z'],
    ['createdBefore', '9999-12-31T23:30:00-01:00'],
    ['createdAfter', '2026-02-30T00:00:00Z'],
  ])('GET /jobs?%s=%s answers 400 naming the parameter', async (name, value) => {
    expectRefusal(await call('GET', `/jobs?${name}=${encodeURIComponent(value)}`), name);
  });

  it('accepts the first and last instants of years 1 to 9999', async () => {
    const answer = await call('GET', `/jobs?createdAfter=0001-01-01T00:00:00Z&createdBefore=${encodeURIComponent('9999-12-31T23:59:59.999Z')}`);
    expect(answer.statusCode, JSON.stringify(answer.body)).toBe(200);
  });

  it.each([
    ['year 0', ['0000-01-01T00:00:00.000Z', SOME_ID]],
    ['year 10000', ['+010000-01-01T00:00:00.000Z', SOME_ID]],
    ['the last instant JavaScript knows', ['+275760-09-13T00:00:00.000Z', SOME_ID]],
    ['a negative year', ['-000001-01-01T00:00:00.000Z', SOME_ID]],
    ['a leap second', ['2016-12-31T23:59:60.000Z', SOME_ID]],
    ['a time without milliseconds', ['2026-01-01T00:00:00Z', SOME_ID]],
    ['an uppercase id', ['2026-01-01T00:00:00.000Z', SOME_ID.toUpperCase()]],
  ])('GET /jobs answers 400 to a cursor holding %s', async (_, value) => {
    expectRefusal(await call('GET', `/jobs?cursor=${cursorOf(value)}`), 'cursor');
  });

  it.each(['0-0', '000-0000'])('GET /jobs/dead?cursor=%s answers an empty last page', async (cursor) => {
    const answer = await call('GET', `/jobs/dead?cursor=${cursor}`);
    expect(answer.statusCode, JSON.stringify(answer.body)).toBe(200);
    expect(answer.body).toEqual({ jobs: [], nextCursor: null });
  });

  it.each(['999999999999999-999999999999999', '0-1', '1-0'])('GET /jobs/dead?cursor=%s answers a page', async (cursor) => {
    expect((await call('GET', `/jobs/dead?cursor=${cursor}`)).statusCode).toBe(200);
  });

  it.each(['-1-0', '0', '1-2-3', '1234567890123456-0', 'ff-0'])('GET /jobs/dead?cursor=%s answers 400 naming the cursor', async (cursor) => {
    expectRefusal(await call('GET', `/jobs/dead?cursor=${cursor}`), 'cursor');
  });
});

describe('strings PostgreSQL cannot store are refused in queries too', () => {
  it('GET /jobs?idempotencyKey=a%00b answers 400 naming the parameter', async () => {
    expectRefusal(await call('GET', '/jobs?idempotencyKey=a%00b'), 'idempotencyKey', 'NUL');
  });
});

describe('idempotency keys are compared as the client sent them', () => {
  const key = 'ключ-🦀-ü';

  it('takes a UTF-8 Idempotency-Key header as the same key as the body\'s', async () => {
    const first = await call('POST', '/jobs', { type: 'noop', payload: {}, idempotencyKey: key });
    expect(first.statusCode).toBe(202);
    const byHeader = await postWithRawKey(Buffer.from(key, 'utf8'), { type: 'noop', payload: {} });
    expect(byHeader.statusCode, JSON.stringify(byHeader.body)).toBe(200);
    expect(byHeader.body).toMatchObject({ id: first.body.id, duplicate: true });
    // The same through inject, which hands the header over as Node's parser would: one byte a character.
    const latin1 = Buffer.from(key, 'utf8').toString('latin1');
    const both = await call('POST', '/jobs', { type: 'noop', payload: {}, idempotencyKey: key }, { 'idempotency-key': latin1 });
    expect(both.statusCode, JSON.stringify(both.body)).toBe(200);
    expect(both.body).toMatchObject({ id: first.body.id, duplicate: true });
    const listed = await call('GET', `/jobs/${first.body.id}`);
    expect(listed.body).toMatchObject({ idempotencyKey: key });
  });

  it('answers 400 when the header and the body name different keys', async () => {
    const answer = await call('POST', '/jobs', { type: 'noop', payload: {}, idempotencyKey: 'one' }, { 'idempotency-key': 'two' });
    expectRefusal(answer, 'Idempotency-Key', 'idempotencyKey');
  });

  it.each([
    ['a lone latin1 byte', Buffer.from([0x63, 0x61, 0x66, 0xe9])],
    ['an encoded surrogate', Buffer.from([0xed, 0xa0, 0x80])],
    ['an overlong encoding', Buffer.from([0xc0, 0xaf])],
    ['a truncated sequence', Buffer.from([0x61, 0xf0, 0x9f, 0xa6])],
  ])('answers 400 to a header holding %s, which is not UTF-8', async (_, bytes) => {
    expectRefusal(await postWithRawKey(bytes, { type: 'noop', payload: {} }), 'Idempotency-Key', 'UTF-8');
  });

  it('keeps \\ufffd an ordinary key of its own, never an alias of a surrogate', async () => {
    const replacement = await call('POST', '/jobs', { type: 'noop', payload: {}, idempotencyKey: '\ufffd' });
    expect(replacement.statusCode).toBe(202);
    const byHeader = await postWithRawKey(Buffer.from('\ufffd', 'utf8'), { type: 'noop', payload: {} });
    expect(byHeader.body).toMatchObject({ id: replacement.body.id, duplicate: true });
    for (const surrogate of ['\\ud800', '\\udfff']) {
      const response = await fixture.app.inject({ method: 'POST', url: '/jobs', headers: { 'content-type': 'application/json' }, payload: `{"type":"noop","payload":{},"idempotencyKey":"${surrogate}"}` });
      expect(response.statusCode, response.body).toBe(400);
    }
    expectRefusal(await postWithRawKey(Buffer.from([0xed, 0xbf, 0xbf]), { type: 'noop', payload: {} }), 'UTF-8');
  });
});
