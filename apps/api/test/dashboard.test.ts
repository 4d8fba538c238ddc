import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, isolatedConfig, type TestDatabase } from '../../../test/support/context';
import { startApp, type AppFixture } from './fixture';

const KEY = 'dashboard-key-0123456789abcdef';
const config = isolatedConfig('api-dashboard', { API_KEYS: KEY });
let database: TestDatabase;
let built: AppFixture;
let unbuilt: AppFixture;
let configured: AppFixture;
let buildDir: string;

beforeAll(async () => {
  // A stand-in build, so these tests do not depend on the real one.
  buildDir = await mkdtemp(join(tmpdir(), 'sluice-dashboard-'));
  await mkdir(join(buildDir, 'assets'));
  await writeFile(join(buildDir, 'index.html'), '<!doctype html><title>Sluice dashboard</title>');
  await writeFile(join(buildDir, 'assets', 'index-abc123.js'), 'console.log("dashboard")');
  database = await createTestDatabase(config);
  built = await startApp(config, { database, dashboardDir: buildDir });
  unbuilt = await startApp(config, { database, dashboardDir: join(buildDir, 'missing') });
  configured = await startApp({ ...config, api: { ...config.api, dashboardDir: buildDir } }, { database });
});
afterAll(async () => {
  await built?.close();
  await unbuilt?.close();
  await configured?.close();
  await database?.drop();
  await rm(buildDir, { recursive: true, force: true });
});

describe('the dashboard files', () => {
  it('redirects / and /dashboard to /dashboard/', async () => {
    for (const url of ['/', '/dashboard']) {
      const response = await built.app.inject({ method: 'GET', url });
      expect(response.statusCode, url).toBe(302);
      expect(response.headers.location).toBe('/dashboard/');
    }
  });

  it('serves index.html to revalidate and hashed assets to cache for good, without an API key', async () => {
    const page = await built.app.inject({ method: 'GET', url: '/dashboard/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toContain('text/html');
    expect(page.headers['cache-control']).toBe('no-cache');
    expect(page.body).toContain('Sluice dashboard');

    const script = await built.app.inject({ method: 'GET', url: '/dashboard/assets/index-abc123.js' });
    expect(script.statusCode).toBe(200);
    expect(script.headers['content-type']).toContain('javascript');
    expect(script.headers['cache-control']).toContain('immutable');

    expect((await built.app.inject({ method: 'GET', url: '/dashboard/assets/nothing.js' })).statusCode).toBe(404);
  });

  it('keeps the data behind the key while the files are open', async () => {
    expect((await built.app.inject({ method: 'GET', url: '/stats' })).statusCode).toBe(401);
    expect((await built.app.inject({ method: 'GET', url: '/job-types' })).statusCode).toBe(401);
    expect((await built.app.inject({ method: 'GET', url: '/stats', headers: { authorization: `Bearer ${KEY}` } })).statusCode).toBe(200);
    // A path that only starts like the dashboard's is not opened by it.
    expect((await built.app.inject({ method: 'GET', url: '/dashboardx' })).statusCode).toBe(401);
  });

  it('serves the folder DASHBOARD_DIR names', async () => {
    const page = await configured.app.inject({ method: 'GET', url: '/dashboard/' });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('Sluice dashboard');
  });

  it('says how to build the dashboard when it has not been built', async () => {
    const response = await unbuilt.app.inject({ method: 'GET', url: '/dashboard/' });
    expect(response.statusCode).toBe(503);
    expect(response.json()).toMatchObject({ error: { code: 'DASHBOARD_NOT_BUILT', message: expect.stringContaining('npm run build:dashboard') } });
  });
});
