import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDashboardStack, type DashboardStack } from './dashboard-stack';

const KEY = 'browser-key-0123456789abcdef';
let stack: DashboardStack;

beforeAll(async () => {
  stack = await startDashboardStack('browser-auth', { API_KEYS: KEY });
});
afterAll(async () => {
  await stack?.close();
});

describe('the dashboard with API keys', () => {
  it('asks for a key, refuses a wrong one, and shows data only once the right one is entered', async () => {
    const { page } = stack;
    const urls: string[] = [];
    page.on('request', (request) => urls.push(request.url()));
    await stack.submit({ type: 'noop', payload: {} }, { authorization: `Bearer ${KEY}` });

    await page.goto(`${stack.baseUrl}/`);
    await page.getByRole('heading', { name: 'API key needed' }).waitFor();
    expect(await page.locator('[data-queue]').count()).toBe(0);
    await stack.screenshot('api-key');

    await page.getByLabel('API key', { exact: true }).fill('not-the-key-0123456789');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.locator('.notice-error', { hasText: 'not valid' }).waitFor();
    expect(await page.locator('[data-queue]').count()).toBe(0);

    await page.getByLabel('API key', { exact: true }).fill(KEY);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.locator('[data-queue="default"]').waitFor();
    await page.locator('.live-live').waitFor();
    // The key travels in a header only: no request the page made carries it in its URL.
    expect(urls.some((url) => url.endsWith('/stats/stream'))).toBe(true);
    expect(urls.filter((url) => url.includes(KEY))).toEqual([]);
    expect(await page.evaluate(() => JSON.stringify((globalThis as unknown as { sessionStorage: object }).sessionStorage))).toContain(KEY);

    // A reload keeps the key for this tab.
    await page.reload();
    await page.locator('[data-queue="default"]').waitFor();
  });
});
