import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DASHBOARD_BUILD_DIR } from '../../apps/api/src/plugins/dashboard';
import { startApp, type AppFixture } from '../../apps/api/test/fixture';
import { launchChromium } from '../support/chromium';
import { isolatedConfig } from '../support/context';

/** A name that the browser resolves to 127.0.0.1, as a DNS-rebinding attacker's name would be after the rebind. */
const REBOUND = 'rebind.attacker.test';

let api: AppFixture;
let apiUrl: string;
let attacker: Server;
let attackerUrl: string;
/** What a rebinding attacker's name reaches: its own page first, then, once rebound, the API, all on one origin. */
let rebinder: Server;
let reboundOrigin: string;
let browser: Browser;

/** Another site's pages: each path is a page that does something to the API. */
function attackerPages(): Record<string, string> {
  return {
    '/form': `<form method="post" action="${apiUrl}/queues/default/pause" enctype="text/plain"><input name="x" value="y"></form><script>document.forms[0].submit()</script>`,
    '/fetch': `<script>fetch('${apiUrl}/queues/default/pause', { method: 'POST', mode: 'no-cors' }).then(() => { document.title = 'sent' }, () => { document.title = 'failed' })</script>`,
    '/frame': `<iframe src="${apiUrl}/dashboard/" width="800" height="600"></iframe>`,
  };
}

beforeAll(async () => {
  api = await startApp(isolatedConfig('browser-security'), { dashboardDir: DASHBOARD_BUILD_DIR });
  await api.app.listen({ port: 0, host: '127.0.0.1' });
  apiUrl = `http://127.0.0.1:${(api.app.server.address() as AddressInfo).port}`;
  attacker = createServer((request, response) => {
    response.writeHead(200, { 'content-type': 'text/html' }).end(attackerPages()[request.url ?? ''] ?? '');
  });
  await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
  // "localhost" is another site than "127.0.0.1", as any web site is.
  attackerUrl = `http://localhost:${(attacker.address() as AddressInfo).port}`;
  // After the page has loaded, every request of it goes to the API, with the page's name in Host.
  rebinder = createServer((request, response) => {
    if (request.url === '/attack') {
      response.writeHead(200, { 'content-type': 'text/html' }).end('<title>attacker</title>');
      return;
    }
    const forwarded = httpRequest(`${apiUrl}${request.url}`, { method: request.method, headers: request.headers }, (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(response);
    });
    request.pipe(forwarded);
  });
  await new Promise<void>((resolve) => rebinder.listen(0, '127.0.0.1', resolve));
  reboundOrigin = `http://${REBOUND}:${(rebinder.address() as AddressInfo).port}`;
  browser = await launchChromium([`--host-resolver-rules=MAP ${REBOUND} 127.0.0.1`]);
});
afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => attacker?.close(resolve));
  await new Promise((resolve) => rebinder?.close(resolve));
  await api?.close();
});

const isPaused = async () => ((await api.app.inject({ method: 'GET', url: '/queues/default' })).json() as { paused: boolean }).paused;

/** A page that records every Content-Security-Policy violation in `window.violations`. */
async function watchedPage(): Promise<Page> {
  const page = await browser.newPage();
  await page.addInitScript({
    content: `window.violations = [];
      document.addEventListener('securitypolicyviolation', (event) => window.violations.push(event.violatedDirective + ' ' + event.blockedURI));`,
  });
  return page;
}

describe('in a browser', () => {
  it('a page of another site cannot pause a queue, by form or by fetch', async () => {
    const page = await browser.newPage();
    try {
      await page.goto(`${attackerUrl}/form`);
      await page.waitForURL(`${apiUrl}/queues/default/pause`);
      expect(await page.textContent('body')).toContain('CROSS_ORIGIN_REFUSED');
      await page.goto(`${attackerUrl}/fetch`);
      await page.waitForFunction('document.title !== ""');
      expect(await isPaused()).toBe(false);
    } finally {
      await page.close();
    }
  });

  it('a page whose name was rebound to the API gets nothing from it, not even a read', async () => {
    const page = await browser.newPage();
    try {
      await page.goto(`${reboundOrigin}/attack`);
      const statuses = await page.evaluate(async () => [
        (await fetch('/queues')).status,
        (await fetch('/queues/default/pause', { method: 'POST' })).status,
      ]);
      expect(statuses).toEqual([421, 421]);
      expect(await isPaused()).toBe(false);
      expect((await page.goto(`${reboundOrigin}/queues`))?.status()).toBe(421);
    } finally {
      await page.close();
    }
  });

  it('the dashboard cannot be framed by another site', async () => {
    const page = await browser.newPage();
    try {
      await page.goto(`${attackerUrl}/frame`);
      // goto waits for the frame's load too: the dashboard's page, or the browser's refusal of it.
      const frame = page.frames().find((candidate) => candidate !== page.mainFrame());
      if (!frame) throw new Error('the page has no frame');
      expect(await frame.locator('#root').count()).toBe(0);
    } finally {
      await page.close();
    }
  });

  it('the dashboard and the API docs work under their policies, with no violation', async () => {
    const page = await watchedPage();
    try {
      await page.goto(`${apiUrl}/dashboard/`);
      await page.locator('[data-queue="default"]').waitFor();
      await page.goto(`${apiUrl}/docs`);
      await page.locator('.swagger-ui .opblock').first().waitFor();
      expect(await page.evaluate('window.violations')).toEqual([]);
    } finally {
      await page.close();
    }
  });
});
