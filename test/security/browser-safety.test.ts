import type { SluiceConfig } from '@sluice/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type AppFixture } from '../../apps/api/test/fixture';
import { createTestDatabase, isolatedConfig, type TestDatabase } from '../support/context';

/** The default configuration: bound to loopback, no API_KEYS, no ALLOWED_ORIGINS or ALLOWED_HOSTS. */
const config = isolatedConfig('browser-safety');
/** The same deployment bound beyond loopback, opened on purpose, with a dashboard served elsewhere and names of its own. */
const exposed: SluiceConfig = {
  ...config,
  api: {
    ...config.api,
    host: '0.0.0.0',
    allowOpenApi: true,
    allowedOrigins: ['https://ops.example.com'],
    allowedHosts: ['sluice.internal', 'api.example.com:8443'],
  },
};
let database: TestDatabase;
let local: AppFixture;
let wide: AppFixture;

beforeAll(async () => {
  database = await createTestDatabase(config);
  local = await startApp(config, { database });
  wide = await startApp(exposed, { database });
});
afterAll(async () => {
  await local?.close();
  await wide?.close();
  await database?.drop();
});

const pause = (fixture: AppFixture, headers: Record<string, string>) => fixture.app.inject({ method: 'POST', url: '/queues/default/pause', headers });
const isPaused = async (fixture: AppFixture) => (((await fixture.app.inject({ method: 'GET', url: '/queues/default' })).json()) as { paused: boolean }).paused;

describe('cross-site requests', () => {
  it('refuses a pause and a submission sent by a page of another site, with 403 that says what to do, and changes nothing', async () => {
    const fromOtherSites: Record<string, string>[] = [
      { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' },
      { origin: 'https://evil.example' },
      { 'sec-fetch-site': 'cross-site' },
      { origin: 'http://localhost:3001', 'sec-fetch-site': 'same-site' },
      { origin: 'null' },
    ];
    for (const headers of fromOtherSites) {
      const response = await pause(local, headers);
      expect(response.statusCode, JSON.stringify(headers)).toBe(403);
      expect(response.json()).toMatchObject({ error: { code: 'CROSS_ORIGIN_REFUSED', message: expect.stringContaining('ALLOWED_ORIGINS') } });
    }
    expect(await isPaused(local)).toBe(false);
    const submitted = await local.app.inject({
      method: 'POST', url: '/jobs', headers: { origin: 'https://evil.example', 'content-type': 'text/plain' }, payload: '{"type":"noop","payload":{}}',
    });
    expect(submitted.statusCode).toBe(403);
  });

  it('takes state-changing requests from its own pages and from clients that are not browsers', async () => {
    // light-my-request sends Host: localhost:80, so the API's own pages come from http://localhost.
    expect((await pause(local, { origin: 'http://localhost', 'sec-fetch-site': 'same-origin' })).statusCode).toBe(200);
    expect((await local.app.inject({ method: 'POST', url: '/queues/default/resume' })).statusCode).toBe(200);
    expect(await isPaused(local)).toBe(false);
  });

  it('lets GET through from anywhere: without CORS the page cannot read the answer', async () => {
    expect((await local.app.inject({ method: 'GET', url: '/queues', headers: { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' } })).statusCode).toBe(200);
  });

  it('takes requests from ALLOWED_ORIGINS, and answers their preflights and reads with CORS headers', async () => {
    const origin = 'https://ops.example.com';
    const preflight = await wide.app.inject({
      method: 'OPTIONS', url: '/queues/default/pause', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' },
    });
    expect(preflight.statusCode).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe(origin);
    expect(String(preflight.headers['access-control-allow-headers'])).toContain('authorization');
    const paused = await pause(wide, { origin, 'sec-fetch-site': 'cross-site' });
    expect(paused.statusCode).toBe(200);
    expect(paused.headers['access-control-allow-origin']).toBe(origin);
    expect((await wide.app.inject({ method: 'POST', url: '/queues/default/resume', headers: { origin } })).statusCode).toBe(200);
    const other = await pause(wide, { origin: 'https://ops.example.com:8443' });
    expect(other.statusCode).toBe(403);
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('DNS rebinding', () => {
  const get = (fixture: AppFixture, url: string, host: string) => fixture.app.inject({ method: 'GET', url, headers: { host } });

  it('bound to loopback, answers loopback names only, with 421 that names ALLOWED_HOSTS', async () => {
    for (const host of ['localhost:3000', '127.0.0.1:3000', '[::1]:3000', 'localhost']) expect((await get(local, '/queues', host)).statusCode, host).toBe(200);
    for (const host of ['rebind.evil.example:3000', 'evil.example', '192.0.2.10:3000', 'localhost.evil.example']) {
      const response = await get(local, '/queues', host);
      expect(response.statusCode, host).toBe(421);
      expect(response.json()).toMatchObject({ error: { code: 'UNKNOWN_HOST', message: expect.stringContaining('ALLOWED_HOSTS') } });
    }
    expect((await local.app.inject({ method: 'POST', url: '/queues/default/pause', headers: { host: 'rebind.evil.example:3000', origin: 'http://rebind.evil.example:3000' } })).statusCode).toBe(421);
    expect(await isPaused(local)).toBe(false);
  });

  it('bound beyond loopback, answers IP addresses, loopback names and ALLOWED_HOSTS (with any port, or the one listed)', async () => {
    for (const host of ['10.1.2.3:3000', '[fd00::2]:3000', 'localhost:3000', 'sluice.internal', 'SLUICE.internal:3000', 'api.example.com:8443']) {
      expect((await get(wide, '/queues', host)).statusCode, host).toBe(200);
    }
    for (const host of ['rebind.evil.example', 'api.example.com', 'api.example.com:3000', 'internal']) expect((await get(wide, '/queues', host)).statusCode, host).toBe(421);
  });

  it('leaves the health checks open to whatever host a load balancer names', async () => {
    for (const fixture of [local, wide]) {
      expect((await get(fixture, '/health', 'lb-probe.internal')).statusCode).toBe(200);
      expect((await get(fixture, '/health/ready', '10.0.0.7:3000')).statusCode).toBe(200);
    }
  });
});
