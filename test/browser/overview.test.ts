import type { Locator, Page } from 'playwright-core';
import { Type } from 'typebox';
import { defineJobType } from '@sluice/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/context';
import { startDashboardStack, type DashboardStack } from './dashboard-stack';

let stack: DashboardStack;

beforeAll(async () => {
  // `report` is accepted by the API, but no worker serves it.
  stack = await startDashboardStack('browser-overview', { QUEUES: 'default,reports' }, {}, [defineJobType({ name: 'report', payload: Type.Object({}) })]);
});
afterAll(async () => {
  await stack?.close();
});

/** The number a queue card shows for a state. */
async function shown(page: Page, queue: string, state: string): Promise<number> {
  const text = await page.locator(`[data-queue="${queue}"] [data-state="${state}"] dd`).textContent({ timeout: 5000 });
  return Number((text ?? '').replace(/,/g, ''));
}

/** Resolves once the page has drawn `count` more snapshots than it had: the stream, not a timer, says time has passed. */
async function snapshotsLater(page: Page, count: number): Promise<void> {
  const seen = new Set<string>();
  await waitFor(`${count} more snapshots`, async () => {
    seen.add((await page.locator('.queue-grid').getAttribute('data-at')) ?? '');
    return seen.size > count;
  }, 10_000, 50);
}

/** Presses Tab until `target` has the focus, as a keyboard user would; fails if it never gets it. */
async function tabTo(page: Page, target: Locator): Promise<void> {
  for (let presses = 0; presses < 40; presses += 1) {
    if (await target.evaluate((element: object) => element === (globalThis as unknown as { document: { activeElement: object } }).document.activeElement)) return;
    await page.keyboard.press('Tab');
  }
  throw new Error('Tab never reached the element: it is not keyboard reachable');
}

describe('the overview', () => {
  it('shows a card per queue whose counts follow jobs as they are submitted and run', async () => {
    const { page } = stack;
    await page.goto(`${stack.baseUrl}/`);
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    expect(await page.locator('[data-queue]').evaluateAll((cards) => cards.map((card) => card.getAttribute('data-queue')))).toEqual(['default', 'reports']);
    expect(await shown(page, 'default', 'completed')).toBe(0);

    await Promise.all(Array.from({ length: 5 }, () => stack.submit({ type: 'noop', payload: {} })));
    await stack.submit({ type: 'noop', payload: {}, queue: 'reports', delay: 600_000 });
    await waitFor('the default card to show 5 completed', async () => (await shown(page, 'default', 'completed')) === 5);
    await waitFor('the reports card to show 1 scheduled', async () => (await shown(page, 'reports', 'scheduled')) === 1);

    // The throughput chart and the workers table come from the same snapshots.
    await page.getByText('completed/s').first().waitFor();
    await page.getByRole('cell', { name: stack.config.worker.consumerName }).first().waitFor();
    await page.locator('.live-live').waitFor();
    await stack.screenshot('overview');
  });

  it('pauses a queue: no job starts until it is resumed, and then it runs', async () => {
    const { page } = stack;
    // By keyboard: Tab reaches the button, which shows where the focus is, and Enter presses it.
    const pause = page.getByRole('button', { name: 'Pause queue default' });
    await tabTo(page, pause);
    expect(await pause.evaluate((button: object) => (globalThis as unknown as { getComputedStyle(element: object): { outlineStyle: string } }).getComputedStyle(button).outlineStyle)).not.toBe('none');
    await page.keyboard.press('Enter');
    await page.locator('[data-queue="default"] .badge', { hasText: 'paused' }).waitFor();
    // Workers look at the pause flag every 250 ms, and one already blocked in a read may still take
    // what arrives within that read's wait: the documented bound, not an assertion.
    await new Promise((resolve) => setTimeout(resolve, 250 + stack.config.worker.blockMs + 100));

    const held = await stack.submit({ type: 'noop', payload: {} });
    const control = await stack.submit({ type: 'noop', payload: {}, queue: 'reports' });
    await waitFor('the job of the running queue to complete', async () => (await stack.statusOf(control)) === 'completed');
    await waitFor('the card to show the held job pending', async () => (await shown(page, 'default', 'pending')) === 1);
    await snapshotsLater(page, 3);
    expect(await shown(page, 'default', 'pending')).toBe(1);
    expect(await shown(page, 'default', 'processing')).toBe(0);
    expect(await stack.statusOf(held)).toBe('pending');
    await stack.screenshot('overview-paused');

    await page.getByRole('button', { name: 'Resume queue default' }).click();
    await waitFor('the held job to complete after resume', async () => (await stack.statusOf(held)) === 'completed');
    await waitFor('the card to show 6 completed', async () => (await shown(page, 'default', 'completed')) === 6);
    expect(await shown(page, 'default', 'pending')).toBe(0);
  });

  it('warns of jobs waiting because no live worker serves their type', async () => {
    const { page } = stack;
    const id = await stack.submit({ type: 'report', payload: {}, queue: 'reports' });
    const warning = page.locator('[data-queue="reports"] [data-waiting-without-worker]');
    await warning.waitFor();
    expect(await warning.textContent()).toContain('No worker serves report (1 waiting)');
    expect(await page.locator('[data-queue="default"] [data-waiting-without-worker]').count()).toBe(0);
    expect(await fetch(`${stack.baseUrl}/jobs/${id}/cancel`, { method: 'POST' }).then((response) => response.status)).toBe(200);
    await warning.waitFor({ state: 'detached' });
  });

  it('sets a queue\'s limits from its card, which workers then hold to, and lifts them', async () => {
    const { page } = stack;
    const limits = page.locator('[data-queue="reports"] .queue-limits');
    await limits.locator('summary').click();
    const form = page.getByRole('form', { name: 'Limits of queue reports' });
    await form.getByLabel('Running at once').fill('1');
    await form.getByRole('button', { name: 'Set limits' }).click();
    await page.locator('[data-queue="reports"] [data-limits="1 at once"]').waitFor();
    const answer = await fetch(`${stack.baseUrl}/queues/reports`).then((response) => response.json() as Promise<{ limits: unknown }>);
    expect(answer.limits).toEqual({ concurrency: 1 });
    await stack.screenshot('overview-limits');
    await form.getByRole('button', { name: 'Lift limits' }).click();
    await page.locator('[data-queue="reports"] [data-limits="none"]').waitFor();
  });

  it('sets a queue\'s cap per fair group from its card, shown as "N per group"', async () => {
    const { page } = stack;
    const limits = page.locator('[data-queue="reports"] .queue-limits');
    if ((await limits.getAttribute('open')) === null) await limits.locator('summary').click();
    const form = page.getByRole('form', { name: 'Limits of queue reports' });
    await form.getByLabel('Running at once').fill('10');
    await form.getByLabel('Jobs of one group at once').fill('2');
    await form.getByRole('button', { name: 'Set limits' }).click();
    await page.locator('[data-queue="reports"] [data-limits="10 at once, 2 per group"]').waitFor();
    const answer = await fetch(`${stack.baseUrl}/queues/reports`).then((response) => response.json() as Promise<{ limits: unknown }>);
    expect(answer.limits).toEqual({ concurrency: 10, groupConcurrency: 2 });
    await form.getByRole('button', { name: 'Lift limits' }).click();
    await page.locator('[data-queue="reports"] [data-limits="none"]').waitFor();
  });

  it('says how many grouped jobs wait their group\'s turn, until they have run', async () => {
    const { page } = stack;
    await fetch(`${stack.baseUrl}/queues/reports/pause`, { method: 'POST' });
    await Promise.all(['acme', 'acme', 'globex'].map((group) => stack.submit({ type: 'noop', payload: {}, queue: 'reports', group })));
    const note = page.locator('[data-queue="reports"] [data-fair-groups]');
    await waitFor('the reports card to count 3 grouped jobs waiting', async () => (await note.textContent({ timeout: 5000 }))?.includes('3 jobs wait their group\'s turn'));
    await fetch(`${stack.baseUrl}/queues/reports/resume`, { method: 'POST' });
    await note.waitFor({ state: 'detached' });
  });

  it('fits a phone screen', async () => {
    const { page } = stack;
    await page.setViewportSize({ width: 390, height: 844 });
    await page.locator('[data-queue="default"]').waitFor();
    const overflow = await page.locator('html').evaluate((root: { scrollWidth: number; clientWidth: number }) => root.scrollWidth - root.clientWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await stack.screenshot('overview-phone');
  });
});
