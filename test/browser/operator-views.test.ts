import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/context';
import { startDashboardStack, type DashboardStack } from './dashboard-stack';

let stack: DashboardStack;
let release: () => void = () => undefined;
const released = new Promise<void>((resolve) => {
  release = resolve;
});

const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };

beforeAll(async () => {
  // `sleep` jobs hold on until the test lets them go, so the Workers page shows them running.
  stack = await startDashboardStack('browser-operator-views', { QUEUES: 'default,parts:2' }, { sleep: () => released });
});
afterAll(async () => {
  release();
  await stack?.close();
});

/** A PNG's width in pixels, from its header. */
const pngWidth = (png: Buffer): number => png.readUInt32BE(16);

/**
 * Shows `address` at both widths, saving a screenshot of each, and checks the page never scrolls
 * sideways: the document is no wider than the window, and so is the full-page screenshot.
 */
async function atBothWidths(page: Page, address: string, name: string, ready: () => Promise<unknown>): Promise<void> {
  for (const [suffix, viewport] of [['', DESKTOP], ['-phone', PHONE]] as const) {
    await page.setViewportSize(viewport);
    await page.goto(`${stack.baseUrl}/dashboard/#${address}`);
    await ready();
    const widths = await page.evaluate(() => {
      const scope = globalThis as unknown as { document: { scrollingElement: { scrollWidth: number } }; innerWidth: number };
      return { scroll: scope.document.scrollingElement.scrollWidth, inner: scope.innerWidth };
    });
    expect(widths.scroll, `${name}${suffix}: the page is wider than the window`).toBeLessThanOrEqual(widths.inner);
    expect(pngWidth(await stack.screenshot(`${name}${suffix}`))).toBe(viewport.width);
  }
  await page.setViewportSize(DESKTOP);
}

describe('operator views', () => {
  it('shows each queue\'s latency, and each partition\'s, growing while a job waits', async () => {
    const { page } = stack;
    await fetch(`${stack.baseUrl}/queues/parts/pause`, { method: 'POST' });
    await stack.submit({ type: 'noop', payload: {}, queue: 'parts', partitionKey: 'tenant-1' });
    const card = page.locator('[data-queue="parts"]');
    await atBothWidths(page, '/', 'overview-latency', async () => {
      await waitFor('the parts card to show a latency of a second or more', async () => Number(await card.locator('[data-latency]').getAttribute('data-latency', { timeout: 5000 })) >= 1000);
    });
    expect(await card.locator('[data-latency]').textContent()).toMatch(/the oldest waiting job has waited \d/);
    expect(await page.locator('[data-queue="default"] [data-latency]').textContent()).toContain('no job waits for a worker');
    await card.locator('.partitions summary').click();
    const latencies = await card.locator('[data-partition-latency]').evaluateAll((cells) => cells.map((cell) => Number(cell.getAttribute('data-partition-latency'))));
    expect(latencies).toHaveLength(2);
    expect(latencies.filter((latency) => latency > 0)).toHaveLength(1);
    await stack.screenshot('overview-latency-partitions');
    await fetch(`${stack.baseUrl}/queues/parts/resume`, { method: 'POST' });
    await waitFor('the latency to fall to 0 once the job ran', async () => (await card.locator('[data-latency]').getAttribute('data-latency')) === '0');
  });

  it('lists the live workers with host, pid, memory, version and uptime, and the jobs they run now', async () => {
    const { page } = stack;
    const id = await stack.submit({ type: 'sleep', payload: { ms: 1 } });
    const row = page.locator(`[data-worker="${stack.config.worker.consumerName}"]`);
    await atBothWidths(page, '/workers', 'workers', async () => {
      await row.waitFor();
      // Workers report every 5 s; the page reads again as often.
      await page.locator(`[data-running-job="${id}"]`).waitFor({ timeout: 15_000 });
    });
    const cells = await row.locator('th, td').allTextContents();
    expect(cells[0]).toBe(stack.config.worker.consumerName);
    expect(cells[2]).toBe(String(process.pid));
    expect(cells[3]).toMatch(/\d+(\.\d)? MB/);
    expect(cells[4]).toMatch(/^\d+\.\d+\.\d+/);
    expect(await row.locator('[data-busy]').textContent()).toBe(`1 of ${stack.config.worker.concurrency}`);
    const job = page.locator(`[data-running-job="${id}"]`);
    expect(await job.locator('td').nth(1).textContent()).toBe('sleep');
    await job.locator('a').click();
    await waitFor('the job page to open', () => page.url().endsWith(`#/jobs/${id}`));
  });

  it('shows Redis\'s health and the history backlog', async () => {
    const { page } = stack;
    await atBothWidths(page, '/system', 'system', () => page.locator('[data-redis-node]').first().waitFor());
    const node = page.locator('[data-redis-node]').first();
    const cells = await node.locator('th, td').allTextContents();
    expect(cells[0]).toMatch(/^(node|master 1 of \d+)$/);
    expect(cells[1]).toBe('master');
    expect(cells[3]).toMatch(/\d/);
    expect(await page.locator('[data-history-backlog]').textContent()).toMatch(/entr(y waits|ies wait) in Redis/);
  });

  it('groups a job\'s timeline per attempt, the latest open and the others folded to one line', async () => {
    const { page } = stack;
    const id = await stack.submit({ type: 'fail', payload: {} });
    await waitFor('the failing job to be dead', async () => (await stack.statusOf(id)) === 'dead', 20_000, 100);
    await atBothWidths(page, `/jobs/${id}`, 'timeline-attempts', () => page.locator('.attempt').last().waitFor());
    const groups = page.locator('ol.attempts > li');
    const attempts = await groups.evaluateAll((items) => items.map((item) => item.getAttribute('data-attempt')));
    expect(attempts.filter((attempt) => attempt !== '0')).toEqual(['1', '2', '3']);
    const open = await page.locator('details.attempt').evaluateAll((items) => items.map((item) => item.hasAttribute('open')));
    expect(open.at(-1)).toBe(true);
    expect(open.slice(0, -1).every((isOpen) => !isOpen)).toBe(true);
    expect(await groups.last().locator('summary').textContent()).toMatch(/Attempt 3.*failed/);
    // A folded attempt shows its summary alone; opening it shows its events.
    const first = page.locator('details.attempt[data-attempt], ol.attempts > li[data-attempt="1"] details');
    await expect(first.locator('.event').first().isVisible()).resolves.toBe(false);
    await first.locator('summary').click();
    await expect(first.locator('.event').first().isVisible()).resolves.toBe(true);
  });

  it('marks each attempt\'s line as one that unfolds, pointing one way folded and the other open', async () => {
    const { page } = stack;
    const id = await stack.submit({ type: 'fail', payload: { times: 1 } });
    await waitFor('the job to complete on its second attempt', async () => (await stack.statusOf(id)) === 'completed', 20_000, 100);
    await page.goto(`${stack.baseUrl}/dashboard/#/jobs/${id}`);
    await page.locator('details.attempt').last().waitFor();
    // A summary laid out as a flex box loses the browser's own triangle: each must show a marker of its own.
    const markers = await page.locator('details.attempt > summary').evaluateAll((summaries) => summaries.map((summary) => {
      const scope = globalThis as unknown as { getComputedStyle(element: unknown, pseudo?: string): { display: string; content: string } };
      return scope.getComputedStyle(summary).display === 'list-item' ? 'native' : scope.getComputedStyle(summary, '::before').content;
    }));
    expect(markers.length).toBeGreaterThanOrEqual(2);
    for (const marker of markers) expect(marker, 'an attempt line with no marker that it unfolds').not.toMatch(/^(none|normal|""|)$/);
    const [folded, open] = [markers.at(-2), markers.at(-1)];
    expect(folded).not.toBe(open);
  });

  it('wraps an error that is one long word (a URL, a token) in the job\'s timeline rather than widening the page on a phone', async () => {
    const { page } = stack;
    const message = `request to https://api.example.com/v1/${'a'.repeat(400)} failed`;
    const id = await stack.submit({ type: 'fail', payload: { permanent: true, message } });
    await waitFor('the job to be dead', async () => (await stack.statusOf(id)) === 'dead', 15_000, 100);
    await atBothWidths(page, `/jobs/${id}`, 'timeline-long-error', () => page.locator('.event .error-text').first().waitFor());
  });

  it('"Skip to content" moves the keyboard focus to the page\'s content, and stays on the page', async () => {
    const { page } = stack;
    // A fresh load, so the focus starts at the top of the document as it does for a visitor.
    await page.goto('about:blank');
    await page.goto(`${stack.baseUrl}/dashboard/#/workers`);
    await page.getByRole('heading', { name: 'Workers' }).waitFor();
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => (globalThis as unknown as { document: { activeElement: { textContent: string } } }).document.activeElement.textContent)).toBe('Skip to content');
    await page.keyboard.press('Enter');
    expect(await page.evaluate(() => (globalThis as unknown as { document: { activeElement: { id: string; tagName: string } } }).document.activeElement.tagName)).toBe('MAIN');
    expect(page.url()).toMatch(/#\/workers$/);
    await page.getByRole('heading', { name: 'Workers' }).waitFor();
  });

  it('has an SVG favicon, served by the dashboard under its Content-Security-Policy', async () => {
    const { page } = stack;
    await page.goto(`${stack.baseUrl}/dashboard/`);
    const icon = await page.locator('link[rel="icon"]').getAttribute('href');
    expect(icon).toMatch(/^\/dashboard\/assets\/favicon-[\w-]+\.svg$/);
    const response = await fetch(`${stack.baseUrl}${icon}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^image\/svg\+xml/);
    expect(await response.text()).toMatch(/^<svg /);
  });

  it('fits a phone on every page: tables scroll inside their boxes', async () => {
    const { page } = stack;
    for (const [address, name, heading] of [['/', 'overview', 'Overview'], ['/jobs', 'jobs', 'Jobs'], ['/dead', 'dead-letters', 'Dead letters'], ['/schedules', 'schedules', 'Schedules'], ['/submit', 'submit', 'Submit a job']] as const) {
      await atBothWidths(page, address, `layout-${name}`, () => page.getByRole('heading', { name: heading, exact: true }).first().waitFor());
    }
  });
});
