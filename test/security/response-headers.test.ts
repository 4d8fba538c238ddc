import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type AppFixture } from '../../apps/api/test/fixture';
import { isolatedConfig } from '../support/context';

let fixture: AppFixture;
let buildDir: string;

beforeAll(async () => {
  // A stand-in build: what matters here is how it is served.
  buildDir = await mkdtemp(join(tmpdir(), 'sluice-headers-'));
  await mkdir(join(buildDir, 'assets'));
  await writeFile(join(buildDir, 'index.html'), '<!doctype html><title>Sluice dashboard</title><script type="module" src="/dashboard/assets/index-abc.js"></script>');
  await writeFile(join(buildDir, 'assets', 'index-abc.js'), 'console.log("dashboard")');
  fixture = await startApp(isolatedConfig('response-headers'), { dashboardDir: buildDir });
});
afterAll(async () => {
  await fixture?.close();
  await rm(buildDir, { recursive: true, force: true });
});

/** A CSP's directives by name. */
function directives(policy: unknown): Record<string, string> {
  return Object.fromEntries(
    String(policy)
      .split(';')
      .map((directive) => directive.trim().split(/\s+/))
      .filter(([name]) => name)
      .map(([name, ...values]) => [name as string, values.join(' ')]),
  );
}

describe('the dashboard', () => {
  it('is served with a strict Content-Security-Policy, no framing, no sniffing and no Referer', async () => {
    for (const url of ['/dashboard/', '/dashboard/assets/index-abc.js']) {
      const response = await fixture.app.inject({ method: 'GET', url });
      expect(response.statusCode, url).toBe(200);
      const csp = directives(response.headers['content-security-policy']);
      expect(csp, url).toMatchObject({ 'default-src': "'self'", 'object-src': "'none'", 'base-uri': "'none'", 'frame-ancestors': "'none'" });
      // Nothing inline may run: no 'unsafe-inline' or 'unsafe-eval' anywhere in the policy.
      expect(String(response.headers['content-security-policy'])).not.toContain('unsafe');
      expect(response.headers['x-content-type-options']).toBe('nosniff');
      expect(response.headers['x-frame-options']).toBe('DENY');
      expect(response.headers['referrer-policy']).toBe('no-referrer');
    }
  });
});

describe('every other answer', () => {
  it('carries a policy under which nothing loads or runs, and the same headers, errors included', async () => {
    for (const [method, url] of [['GET', '/queues'], ['GET', '/no/such/route'], ['POST', '/jobs'], ['GET', '/health']] as const) {
      const response = await fixture.app.inject({ method, url });
      const csp = directives(response.headers['content-security-policy']);
      expect(csp, url).toMatchObject({ 'default-src': "'none'", 'frame-ancestors': "'none'" });
      expect(response.headers['x-content-type-options'], url).toBe('nosniff');
      expect(response.headers['x-frame-options'], url).toBe('DENY');
      expect(response.headers['referrer-policy'], url).toBe('no-referrer');
    }
  });

  it('lets the API docs page draw itself, still unframed', async () => {
    const response = await fixture.app.inject({ method: 'GET', url: '/docs' });
    expect(response.statusCode).toBe(200);
    expect(directives(response.headers['content-security-policy'])).toMatchObject({ 'default-src': "'self'", 'frame-ancestors': "'none'", 'object-src': "'none'" });
  });
});
