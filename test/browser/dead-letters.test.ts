import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/context';
import { startDashboardStack, type DashboardStack } from './dashboard-stack';

let stack: DashboardStack;
/** `fail` stands in for a job whose downstream is broken until the test repairs it. */
let downstreamBroken = true;

beforeAll(async () => {
  const fail = ({ attempt }: { attempt: number }) => {
    if (downstreamBroken) throw new Error(`downstream refused attempt ${attempt}`);
    return { delivered: true };
  };
  stack = await startDashboardStack('browser-dead', {}, { fail });
});
afterAll(async () => {
  await stack?.close();
});

describe('the dead letters', () => {
  it('shows a dead job with its reason and last error, and retry runs it to completion', async () => {
    const { page } = stack;
    downstreamBroken = true;
    const id = await stack.submit({ type: 'fail', payload: {}, maxAttempts: 1 });
    await waitFor('the job to be dead', async () => (await stack.statusOf(id)) === 'dead');

    await page.goto(`${stack.baseUrl}/dashboard/#/dead`);
    const row = page.locator(`tr[data-job="${id}"]`);
    await row.waitFor();
    expect(await row.locator('.badge').textContent()).toBe('exhausted');
    expect(await row.textContent()).toContain('downstream refused attempt 1');
    await stack.screenshot('dead-letters');

    downstreamBroken = false;
    await row.getByRole('button', { name: `Retry job ${id}` }).click();
    await page.locator('.notice-success', { hasText: 'sent back' }).waitFor();
    await waitFor('the retried job to complete', async () => (await stack.statusOf(id)) === 'completed');
    await row.waitFor({ state: 'detached' });

    await page.goto(`${stack.baseUrl}/dashboard/#/jobs/${id}`);
    await page.locator('.title-row .badge', { hasText: 'completed' }).waitFor();
    const statuses = await page.locator('.events .event').evaluateAll((items) => items.map((item) => item.getAttribute('data-status')));
    expect(statuses).toEqual(['pending', 'processing', 'failed', 'dead', 'pending', 'processing', 'completed']);
  });

  it('retries every dead job matching the filter after a confirmation that counts them', async () => {
    const { page } = stack;
    downstreamBroken = true;
    const ids = await Promise.all([1, 2, 3].map(() => stack.submit({ type: 'fail', payload: {}, maxAttempts: 1 })));
    await waitFor('the jobs to be dead', async () => (await Promise.all(ids.map((id) => stack.statusOf(id)))).every((status) => status === 'dead'));

    await page.goto(`${stack.baseUrl}/dashboard/#/dead?queue=default`);
    await page.locator('tr[data-job]').nth(2).waitFor();
    await page.locator('.retry-all').getByLabel(/^Type/).selectOption('fail');
    await page.getByRole('button', { name: /^Retry all dead jobs of type fail in queue default/ }).click();
    const confirmation = page.getByRole('alertdialog');
    await confirmation.waitFor();
    expect(await confirmation.textContent()).toContain('Send 3 dead jobs of type fail in queue default back');
    await stack.screenshot('dead-letters-confirm');

    downstreamBroken = false;
    await confirmation.getByRole('button', { name: 'Retry 3 jobs' }).click();
    await page.locator('.notice-success', { hasText: '3 jobs sent back' }).waitFor();
    await waitFor('the retried jobs to complete', async () => (await Promise.all(ids.map((id) => stack.statusOf(id)))).every((status) => status === 'completed'));
    await waitFor('the list to be empty', async () => (await page.locator('tr[data-job]').count()) === 0);
  });
});
