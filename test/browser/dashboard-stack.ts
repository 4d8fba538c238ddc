import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { JobHandler, JobTypeDefinition, SluiceConfig } from '@sluice/core';
import { createJobRegistry } from '@sluice/jobs';
import { createHandlers } from '@sluice/jobs/handlers';
import type { Browser, Page } from 'playwright-core';
import { expect } from 'vitest';
import { DASHBOARD_BUILD_DIR } from '../../apps/api/src/plugins/dashboard';
import { startApp, type AppFixture } from '../../apps/api/test/fixture';
import { launchChromium } from '../support/chromium';
import { createTestDatabase, isolatedConfig } from '../support/context';
import { startInProcess, type InProcess } from '../support/in-process';

const SCREENSHOTS = join(import.meta.dirname, '../../test-output/screenshots');
const silent = { debug() {}, info() {}, warn() {}, error() {} };

/** The whole system for one test file: the API listening on loopback, a worker, a recorder, and a browser page. */
export interface DashboardStack {
  config: SluiceConfig;
  app: AppFixture;
  workers: InProcess;
  baseUrl: string;
  browser: Browser;
  page: Page;
  /** POST /jobs over HTTP, as any client would; returns the job id. */
  submit(body: Record<string, unknown>, headers?: Record<string, string>): Promise<string>;
  /** GET /jobs/:id's status. */
  statusOf(id: string, headers?: Record<string, string>): Promise<string>;
  /** Saves a full-page screenshot as test-output/screenshots/<name>.png, and answers the PNG. */
  screenshot(name: string): Promise<Buffer>;
  close(): Promise<void>;
}

/**
 * Starts the API (buildApp, really listening on a free loopback port and serving the built
 * dashboard), a worker with the built-in handlers (or `handlers`' replacements) and a history
 * recorder, all under the file's own Redis prefix and PostgreSQL schema, and opens a Chromium page.
 * `declared` types are accepted by the API though no worker serves them.
 */
export async function startDashboardStack(
  label: string, env: Record<string, string> = {}, handlers: Record<string, JobHandler<never>> = {}, declared: JobTypeDefinition[] = [],
): Promise<DashboardStack> {
  const config = isolatedConfig(label, env);
  const database = await createTestDatabase(config);
  const app = await startApp(config, { database, dashboardDir: DASHBOARD_BUILD_DIR, declared });
  await app.app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.app.server.address();
  if (address === null || typeof address === 'string') throw new Error('the API has no TCP address');
  const baseUrl = `http://127.0.0.1:${address.port}`;
  const allHandlers = { ...createHandlers({ smtpUrl: undefined, smtpFrom: 'sluice@localhost', logger: silent }), ...handlers };
  const workers = await startInProcess(config, createJobRegistry(), allHandlers, { pool: database.pool });
  const browser = await launchChromium();
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  // Well within the test's own timeout, so a missing element fails with Playwright's account of it.
  page.setDefaultTimeout(10_000);
  // A page error is a failed test, not a line nobody reads.
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  await mkdir(SCREENSHOTS, { recursive: true });

  return {
    config,
    app,
    workers,
    baseUrl,
    browser,
    page,
    async submit(body, headers = {}) {
      const response = await fetch(`${baseUrl}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
      expect(response.status, await response.clone().text()).toBe(202);
      return ((await response.json()) as { id: string }).id;
    },
    async statusOf(id, headers = {}) {
      return ((await (await fetch(`${baseUrl}/jobs/${id}`, { headers })).json()) as { status: string }).status;
    },
    async screenshot(name) {
      return page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
    },
    async close() {
      await browser.close();
      await workers.close();
      await app.close();
      await database.drop();
      expect(pageErrors, 'errors thrown in the page').toEqual([]);
    },
  };
}
