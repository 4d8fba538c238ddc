import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeRedis, createRedis, Scheduler, type ScriptedRedis } from '@sluice/core';
import { waitFor } from '../support/context';
import { startDashboardStack, type DashboardStack } from './dashboard-stack';

let stack: DashboardStack;
let redis: ScriptedRedis;
let scheduler: Scheduler;

beforeAll(async () => {
  stack = await startDashboardStack('browser-schedules');
  redis = createRedis(stack.config.redis);
  // The API's scheduler, as `sluice api` runs one beside the routes.
  scheduler = new Scheduler({ redis, prefix: stack.config.redis.prefix, queue: stack.app.queue });
  scheduler.start();
});
afterAll(async () => {
  await scheduler?.stop();
  if (redis) await closeRedis(redis);
  await stack?.close();
});

const post = async (path: string, body?: unknown) => {
  const response = await fetch(`${stack.baseUrl}${path}`, {
    method: 'POST', ...(body !== undefined && { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  expect(response.status, await response.clone().text()).toBeLessThan(300);
  return response.json() as Promise<Record<string, unknown>>;
};

describe('the schedules page', () => {
  it('lists a schedule with its next and last runs (links to their jobs), and pauses, resumes and triggers it', async () => {
    const { page } = stack;
    await post('/schedules', { name: 'heartbeat', everyMs: 1000, job: { type: 'noop', payload: {} } });
    await waitFor('two ticks', async () => ((await (await fetch(`${stack.baseUrl}/schedules/heartbeat`)).json()) as { lastRuns: unknown[] }).lastRuns.length >= 2);

    await page.goto(`${stack.baseUrl}/dashboard/#/schedules`);
    const card = page.locator('[data-schedule="heartbeat"]');
    await card.waitFor();
    expect(await card.textContent()).toContain('every 1.00 s');
    expect(await card.locator('.next-runs li').count()).toBe(5);
    expect(await card.locator('.last-runs tr[data-status="created"]').count()).toBeGreaterThanOrEqual(2);
    await stack.screenshot('schedules');

    await card.getByRole('button', { name: 'Pause schedule heartbeat' }).click();
    await page.locator('.notice-success', { hasText: 'Schedule heartbeat paused.' }).waitFor();
    await card.locator('.badge', { hasText: 'paused' }).waitFor();
    expect(await card.textContent()).toContain('None while paused.');

    await card.getByRole('button', { name: 'Trigger schedule heartbeat' }).click();
    await page.locator('.notice-success', { hasText: 'Triggered heartbeat: job' }).waitFor();
    const manual = card.locator('.last-runs tr').filter({ hasText: 'manual' });
    await manual.waitFor();

    await card.getByRole('button', { name: 'Resume schedule heartbeat' }).click();
    await card.locator('.badge', { hasText: 'running' }).waitFor();

    await manual.locator('a').click();
    await page.locator('dt', { hasText: 'Schedule' }).waitFor();
    expect(await page.locator('dd a', { hasText: 'heartbeat' }).getAttribute('href')).toBe('#/schedules');
  });
});
