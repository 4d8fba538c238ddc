import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/context';
import { startDashboardStack, type DashboardStack } from './dashboard-stack';

let stack: DashboardStack;

beforeAll(async () => {
  // Two partitions: the lists and actions span both.
  stack = await startDashboardStack('browser-operator', { QUEUES: 'default:2' }, {
    fail: () => {
      throw new Error('downstream refused');
    },
  });
});
afterAll(async () => {
  await stack?.close();
});

const post = (path: string) => fetch(`${stack.baseUrl}${path}`, { method: 'POST' });

/** Jobs of `type` scheduled an hour ahead, once the history (which the jobs list reads) has them. */
async function scheduled(count: number, type: string): Promise<string[]> {
  const ids = await Promise.all(Array.from({ length: count }, () => stack.submit({ type, payload: { ms: 1 }, delay: 3_600_000 })));
  await waitFor('the history to list them', async () => {
    const page = (await (await fetch(`${stack.baseUrl}/jobs?type=${type}&status=scheduled&limit=100`)).json()) as { jobs: { id: string }[] };
    return ids.every((id) => page.jobs.some((job) => job.id === id));
  });
  return ids;
}

describe('actions on several jobs', () => {
  it('cancels the ticked jobs of the jobs list after a confirmation with their count', async () => {
    const { page } = stack;
    const [first, second, third] = (await scheduled(3, 'sleep')) as [string, string, string];
    await page.goto(`${stack.baseUrl}/dashboard/#/jobs?type=sleep&status=scheduled`);
    await page.locator(`tr[data-job="${third}"]`).waitFor();
    await page.getByLabel(`Select job ${first}`).check();
    await page.getByLabel(`Select job ${second}`).check();
    await page.locator('.bulk-actions').getByText('2 jobs selected').waitFor();
    await page.locator('.bulk-actions').getByRole('button', { name: 'Cancel…' }).click();
    const confirmation = page.getByRole('alertdialog');
    expect(await confirmation.textContent()).toContain('Cancel 2 jobs: those not started yet withdrawn?');
    await stack.screenshot('bulk-cancel-confirm');
    await confirmation.getByRole('button', { name: 'Cancel 2 jobs' }).click();
    await page.locator('.notice-success', { hasText: 'Cancel: 2 jobs done, 0 left alone for their state, 0 not found.' }).waitFor();
    expect([await stack.statusOf(first), await stack.statusOf(second), await stack.statusOf(third)]).toEqual(['cancelled', 'cancelled', 'scheduled']);
  });

  it('cancels every job matching the filter, counted by the API first, beyond the page shown', async () => {
    const { page } = stack;
    const ids = await scheduled(4, 'noop');
    await page.goto(`${stack.baseUrl}/dashboard/#/jobs?type=noop&status=scheduled`);
    await page.locator('tr[data-job]').first().waitFor();
    await page.getByRole('button', { name: 'Select all jobs matching status scheduled, type noop' }).click();
    await page.locator('.bulk-actions').getByText('All jobs matching status scheduled, type noop selected').waitFor();
    await page.locator('.bulk-actions').getByRole('button', { name: 'Cancel…' }).click();
    const confirmation = page.getByRole('alertdialog');
    await confirmation.waitFor();
    expect(await confirmation.textContent()).toContain('Cancel 4 jobs (all jobs matching status scheduled, type noop)');
    await confirmation.getByRole('button', { name: 'Cancel 4 jobs' }).click();
    await page.locator('.notice-success', { hasText: 'Cancel: 4 jobs done' }).waitFor();
    for (const id of ids) expect(await stack.statusOf(id)).toBe('cancelled');
  });

  it('discards every dead job of a queue from the dead letters, after the count', async () => {
    const { page } = stack;
    const ids = await Promise.all([1, 2, 3].map(() => stack.submit({ type: 'fail', payload: {}, maxAttempts: 1 })));
    await waitFor('the jobs to be dead', async () => (await Promise.all(ids.map((id) => stack.statusOf(id)))).every((status) => status === 'dead'));
    await page.goto(`${stack.baseUrl}/dashboard/#/dead?queue=default`);
    await page.locator('tr[data-job]').nth(2).waitFor();
    await page.getByRole('button', { name: 'Select all dead jobs of queue default' }).click();
    await page.locator('.bulk-actions').getByRole('button', { name: 'Discard…' }).click();
    const confirmation = page.getByRole('alertdialog');
    await confirmation.waitFor();
    expect(await confirmation.textContent()).toContain('Discard 3 jobs (all dead jobs of queue default): out of the dead-letter stream for good');
    await stack.screenshot('bulk-discard-confirm');
    await confirmation.getByRole('button', { name: 'Discard 3 jobs' }).click();
    await page.locator('.notice-success', { hasText: 'Discard: 3 jobs done' }).waitFor();
    await waitFor('the list to be empty', async () => (await page.locator('tr[data-job]').count()) === 0);
    for (const id of ids) expect(await stack.statusOf(id)).toBe('discarded');
  });
});

describe('the job page says why a job waits', () => {
  it('counts down to a scheduled job\'s time, and Run now runs it', async () => {
    const { page } = stack;
    const id = await stack.submit({ type: 'noop', payload: {}, delay: 3_600_000 });
    await page.goto(`${stack.baseUrl}/dashboard/#/jobs/${id}`);
    const waiting = page.locator('.waiting[data-reason="scheduled"]');
    await waiting.waitFor();
    expect(await waiting.textContent()).toMatch(/Scheduled to run at \d{4}-\d{2}-\d{2}T/);
    const countdown = page.getByTestId('countdown');
    const before = await countdown.textContent();
    expect(before).toMatch(/^due in (59 min \d+ s|1 h 0 min)$/);
    await waitFor('the countdown to move', async () => (await countdown.textContent()) !== before);
    await stack.screenshot('job-waiting-scheduled');
    await page.getByRole('button', { name: 'Run now' }).click();
    await page.locator('.title-row .badge', { hasText: 'completed' }).waitFor();
    expect(await page.locator('.waiting').count()).toBe(0);
    expect(await page.locator('.events .event').evaluateAll((items) => items.map((item) => item.getAttribute('data-status')))).toEqual(['scheduled', 'pending', 'processing', 'completed']);
  });

  it('names a paused queue, and the reason goes once the queue is resumed and the job runs', async () => {
    const { page } = stack;
    expect((await post('/queues/default/pause')).status).toBe(200);
    const id = await stack.submit({ type: 'noop', payload: {} });
    await page.goto(`${stack.baseUrl}/dashboard/#/jobs/${id}`);
    const waiting = page.locator('.waiting[data-reason="paused"]');
    await waiting.waitFor();
    expect(await waiting.textContent()).toContain('Queue default is paused: no worker takes its jobs until it is resumed.');
    expect((await post('/queues/default/resume')).status).toBe(200);
    await page.locator('.title-row .badge', { hasText: 'completed' }).waitFor();
    await waiting.waitFor({ state: 'detached' });
  });
});
