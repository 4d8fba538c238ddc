import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { isolatedConfig } from '../../../test/support/context';
import { startApp, type AppFixture } from './fixture';

const KEY_A = 'key-a-0123456789abcdef';
const KEY_B = 'key-b-0123456789abcdef';
const config = isolatedConfig('api-security', { API_KEYS: `${KEY_A},${KEY_B}`, RATE_LIMIT_PER_MINUTE: '5' });
const logLines: string[] = [];
let fixture: AppFixture;

beforeAll(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(chunk.toString());
      done();
    },
  });
  fixture = await startApp(config, { logger: pino({ level: 'trace' }, sink) });
});
afterAll(async () => {
  await fixture?.close();
});

const call = (url: string, headers: Record<string, string> = {}) => fixture.app.inject({ method: 'GET', url, headers });

describe('API keys', () => {
  it('answers 401 without a key, 403 with a wrong one, and serves a right one', async () => {
    const missing = await call('/jobs');
    expect(missing.statusCode).toBe(401);
    expect(missing.headers['www-authenticate']).toBe('Bearer');
    expect(missing.json()).toMatchObject({ error: { code: 'UNAUTHORIZED' } });

    for (const header of [`Bearer ${KEY_A}x`, 'Bearer short', `Basic ${KEY_A}`, KEY_A]) {
      const wrong = await call('/queues', { authorization: header });
      expect([401, 403], header).toContain(wrong.statusCode);
    }
    expect((await call('/queues', { authorization: 'Bearer not-the-key-0123456789' })).json()).toMatchObject({ error: { code: 'FORBIDDEN' } });
    expect((await call('/queues', { authorization: `Bearer ${KEY_B}` })).statusCode).toBe(200);
  });

  it('leaves /health and /health/ready open', async () => {
    expect((await call('/health')).statusCode).toBe(200);
    expect((await call('/health/ready')).statusCode).toBe(200);
  });

  it('never writes a key to the log', async () => {
    await call('/queues', { authorization: `Bearer ${KEY_A}` });
    await call('/queues', { authorization: 'Bearer wrong-key-0123456789abc' });
    expect(logLines.length).toBeGreaterThan(0);
    expect(logLines.join('\n')).not.toContain(KEY_A);
    expect(logLines.join('\n')).not.toContain('wrong-key-0123456789abc');
  });
});

describe('rate limiting', () => {
  it('answers 429 with Retry-After once a key spends its budget, and counts each key apart', async () => {
    const statuses: number[] = [];
    let limited: Awaited<ReturnType<typeof call>> | undefined;
    for (let i = 0; i < 8; i += 1) {
      const response = await call('/queues', { authorization: `Bearer ${KEY_A}`, 'x-forwarded-for': `10.0.0.${i}` });
      statuses.push(response.statusCode);
      if (response.statusCode === 429) limited = response;
    }
    expect(statuses.filter((status) => status === 429).length).toBeGreaterThan(0);
    expect(Number(limited?.headers['retry-after'])).toBeGreaterThan(0);
    expect(limited?.json()).toMatchObject({ error: { code: 'RATE_LIMITED', message: expect.stringContaining('at most 5 a minute') } });
    expect((await call('/queues', { authorization: `Bearer ${KEY_B}` })).statusCode).toBe(200);
    expect((await call('/health')).statusCode).toBe(200);
  });
});
