import { connect } from 'node:net';
import type { SluiceConfig } from '@sluice/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type AppFixture } from '../../apps/api/test/fixture';
import { createTestDatabase, isolatedConfig, type TestDatabase } from '../support/context';

const KEY = 'abuse-key-0123456789abcdef';
const config = isolatedConfig('abuse-limits', { API_KEYS: KEY, REQUEST_TIMEOUT_MS: '1000' });
/** The same deployment open (so that each client address has its own budget) with a request rate limit. */
const limited: SluiceConfig = { ...config, api: { ...config.api, apiKeys: [], rateLimitPerMinute: 3 } };
let database: TestDatabase;
let keyed: AppFixture;
let ratelimited: AppFixture;

beforeAll(async () => {
  database = await createTestDatabase(config);
  keyed = await startApp(config, { database });
  ratelimited = await startApp(limited, { database });
});
afterAll(async () => {
  await keyed?.close();
  await ratelimited?.close();
  await database?.drop();
});

describe('a slowly trickled request', () => {
  it('is answered 408 and closed once REQUEST_TIMEOUT_MS has passed, however steadily it trickles', async () => {
    await keyed.app.listen({ port: 0, host: '127.0.0.1' });
    const address = keyed.app.server.address();
    if (address === null || typeof address === 'string') throw new Error('the API has no TCP address');
    const socket = connect(address.port, '127.0.0.1');
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    const started = Date.now();
    const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now() - started)));
    socket.write(`POST /jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEY}\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n{`);
    // A byte every 100 ms: never silent long enough for an idle timeout, and never done.
    const trickle = setInterval(() => socket.writable && socket.write(' '), 100);
    const deadline = new Promise<'still open'>((resolve) => setTimeout(() => resolve('still open'), 6000));
    try {
      const outcome = await Promise.race([closed, deadline]);
      expect(outcome, 'the connection was still open after 6 s').not.toBe('still open');
      expect(outcome).toBeGreaterThanOrEqual(900);
      expect(Buffer.concat(received).toString()).toMatch(/^HTTP\/1\.1 408 /);
    } finally {
      clearInterval(trickle);
      socket.destroy();
    }
  });
});

describe('failed authentications', () => {
  const pauseWith = (key: string, remoteAddress: string) =>
    keyed.app.inject({ method: 'POST', url: '/queues/default/pause', headers: { authorization: `Bearer ${key}` }, remoteAddress });

  it('are limited per client address (20 a minute by default, with no RATE_LIMIT_PER_MINUTE): then 429 with Retry-After, for the right key too', async () => {
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 25; attempt += 1) statuses.push((await pauseWith(`wrong-key-${attempt}-0123456789`, '203.0.113.7')).statusCode);
    expect(statuses.slice(0, 20)).toEqual(Array(20).fill(403));
    expect(statuses.slice(20)).toEqual(Array(5).fill(429));

    const locked = await pauseWith(KEY, '203.0.113.7');
    expect(locked.statusCode).toBe(429);
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(locked.headers['retry-after'])).toBeLessThanOrEqual(60);
    expect(locked.json()).toMatchObject({ error: { code: 'TOO_MANY_WRONG_KEYS', message: expect.stringContaining('at most 20 a minute') } });

    // Another address is not held back; the locked one still reads nothing with its key.
    expect((await pauseWith(KEY, '203.0.113.8')).statusCode).toBe(200);
    expect((await keyed.app.inject({ method: 'POST', url: '/queues/default/resume', headers: { authorization: `Bearer ${KEY}` } })).statusCode).toBe(200);
  });

  it('count an IPv6 client by its /64, so that stepping through addresses buys no more guesses', async () => {
    for (let attempt = 0; attempt < 20; attempt += 1) expect((await pauseWith('wrong-key-0123456789abc', `2001:db8:7:7::${attempt.toString(16)}`)).statusCode).toBe(403);
    expect((await pauseWith('wrong-key-0123456789abc', '2001:db8:7:7:ffff::1')).statusCode).toBe(429);
    expect((await pauseWith('wrong-key-0123456789abc', '2001:db8:7:8::1')).statusCode).toBe(403);
  });
});

describe('the request rate limit, when set', () => {
  it('covers the docs, unknown routes and the dashboard as well as the API, and never the health checks', async () => {
    for (const [url, address] of [['/docs/json', '198.51.100.1'], ['/no/such/route', '198.51.100.2'], ['/dashboard/', '198.51.100.3'], ['/queues', '198.51.100.4']] as const) {
      const statuses: number[] = [];
      for (let i = 0; i < 4; i += 1) {
        statuses.push((await ratelimited.app.inject({ method: 'GET', url, remoteAddress: address })).statusCode);
      }
      expect(statuses.slice(0, 3), url).not.toContain(429);
      expect(statuses[3], url).toBe(429);
    }
    for (let i = 0; i < 5; i += 1) expect((await ratelimited.app.inject({ method: 'GET', url: '/health', remoteAddress: '198.51.100.5' })).statusCode).toBe(200);
  });
});
