import { Type } from 'typebox';
import { defineJobType } from '@sluice/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/context';
import { insertRollups } from '../support/metrics-rollups';
import { startDashboardStack, type DashboardStack } from './dashboard-stack';

/** The dashboard's payload search, and its History card drawn from the metrics the server keeps. */
let stack: DashboardStack;

beforeAll(async () => {
  // `report` is accepted by the API, but no worker serves it: its rollups below are written as a recorder would.
  stack = await startDashboardStack('browser-history', {}, {}, [defineJobType({ name: 'report', payload: Type.Object({}, { additionalProperties: true }) })]);
});
afterAll(async () => {
  await stack?.close();
});

const listed = (stack: DashboardStack) => stack.page.locator('tr[data-job]').evaluateAll((rows) => rows.map((row) => row.getAttribute('data-job')).sort());

describe('the dashboard', () => {
  it('finds jobs by what their payload contains, keeps the search in the URL and explains JSON it cannot read', async () => {
    const { page } = stack;
    const ours = [await stack.submit({ type: 'noop', payload: { userId: 42, plan: 'pro' } }), await stack.submit({ type: 'noop', payload: { userId: 42 } })];
    const other = await stack.submit({ type: 'noop', payload: { userId: 7 } });
    await waitFor('the history to have the jobs', async () => {
      const answer = (await (await fetch(`${stack.baseUrl}/jobs?limit=100`)).json()) as { jobs: { id: string }[] };
      return [...ours, other].every((id) => answer.jobs.some((job) => job.id === id));
    });

    await page.goto(`${stack.baseUrl}/dashboard/#/jobs`);
    await page.getByLabel('Payload contains (JSON)').fill('{"userId":42}');
    await page.getByRole('button', { name: 'Search' }).click();
    await waitFor('only the jobs of user 42 to be listed', async () => JSON.stringify(await listed(stack)) === JSON.stringify([...ours].sort()));
    expect(new URL(page.url()).hash).toContain(`payload=${encodeURIComponent('{"userId":42}')}`);
    await stack.screenshot('jobs-payload-search');

    await page.reload();
    await waitFor('the search to hold after a reload', async () => (await page.getByLabel('Payload contains (JSON)').inputValue()) === '{"userId":42}');
    await waitFor('the same jobs listed', async () => (await listed(stack)).length === 2);

    await page.getByLabel('Payload contains (JSON)').fill('{userId:42}');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('alert').filter({ hasText: 'The payload search is not JSON' }).waitFor();
    expect(new URL(page.url()).hash).toContain(`payload=${encodeURIComponent('{"userId":42}')}`);
  });

  it('charts and breaks down by type what happened before the page was opened, from the server', async () => {
    const { page } = stack;
    // Half an hour ago, before this page existed: 7 reports completed in about 100 ms, 2 failed attempts, as the recorder rolls them up.
    const halfHourAgo = new Date(Math.floor((Date.now() - 30 * 60_000) / 60_000) * 60_000);
    await insertRollups(stack.app.database.pool, [
      { minute: halfHourAgo, queue: 'default', type: 'report', completed: 7, failed: 2, runMsBuckets: [...Array<number>(54).fill(0), 9] },
    ]);
    // The noop jobs the first test ran, counted by the recorder as they completed.
    await waitFor('the recorder to have counted the noop jobs', async () => {
      const answer = (await (await fetch(`${stack.baseUrl}/stats/history/types`)).json()) as { types: { type: string; completed: number }[] };
      return answer.types.some((row) => row.type === 'noop' && row.completed === 3);
    });
    await page.goto(`${stack.baseUrl}/dashboard/#/`);
    const history = page.locator('section[aria-labelledby="history-title"]');
    await history.locator('[data-history-points="60"]').waitFor();
    const report = history.getByRole('row').filter({ hasText: 'report' });
    await report.waitFor();
    expect((await report.locator('td').allTextContents()).slice(0, 4)).toEqual(['report', '7', '2', '0']);
    expect(await report.locator('td').nth(4).textContent()).toMatch(/^103 ms \/ 103 ms \/ 103 ms$/);
    expect(await history.getByRole('row').filter({ hasText: 'noop' }).locator('td').nth(1).textContent()).toBe('3');
    expect(await history.getByRole('img', { name: /Throughput/ }).count()).toBe(1);
    await stack.screenshot('overview-history');

    await history.getByLabel('Range').selectOption('24 h');
    await history.locator('[data-history-points="96"]').waitFor();
    await history.getByLabel('Range').selectOption('7 d');
    await history.locator('[data-history-points="168"]').waitFor();
  });
});
