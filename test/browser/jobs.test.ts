import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/context';
import { startDashboardStack, type DashboardStack } from './dashboard-stack';

let stack: DashboardStack;

beforeAll(async () => {
  stack = await startDashboardStack('browser-jobs');
});
afterAll(async () => {
  await stack?.close();
});

describe('finding a job', () => {
  it('finds a job by its id and shows its timeline, failed attempt and retry included', async () => {
    const { page } = stack;
    // Fails its first attempt, is retried at once, and completes on the second.
    const id = await stack.submit({ type: 'fail', payload: { times: 1, message: 'upstream hiccup' } });
    await waitFor('the job to complete', async () => (await stack.statusOf(id)) === 'completed');

    await page.goto(`${stack.baseUrl}/dashboard/#/jobs`);
    await page.getByLabel('Job id or idempotency key').fill(id);
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('heading', { name: `Job ${id}` }).waitFor();

    const events = page.locator('.events .event');
    await waitFor('the whole history', async () => (await events.count()) === 6);
    expect(await events.evaluateAll((items) => items.map((item) => item.getAttribute('data-status')))).toEqual(['pending', 'processing', 'failed', 'pending', 'processing', 'completed']);
    // The failed attempt is folded to one line, the latest open; unfolded, it shows its error.
    await page.locator('ol.attempts > li[data-attempt="1"] summary').click();
    await page.locator('.events .error-text', { hasText: 'upstream hiccup' }).waitFor();
    expect(await page.locator('.timeline').textContent()).toContain(`worker ${stack.config.worker.consumerName}`);
    // One wait between each two steps, drawn to scale.
    expect(await page.locator('.wait-bar').count()).toBe(5);
    expect(await page.locator('pre[aria-label="Result"]').textContent()).toContain('"succeededOnAttempt": 2');
    await stack.screenshot('job-detail');
    await page.setViewportSize({ width: 390, height: 844 });
    await stack.screenshot('job-detail-phone');
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it('lists jobs filtered by status and finds one by its idempotency key', async () => {
    const { page } = stack;
    const keyed = await stack.submit({ type: 'noop', payload: {}, idempotencyKey: 'welcome-mail-42' });
    const later = await stack.submit({ type: 'sleep', payload: { ms: 1 }, delay: 600_000 });
    // GET /jobs reads the history, a few milliseconds behind.
    await waitFor('the history to have both jobs', async () => {
      const page = (await (await fetch(`${stack.baseUrl}/jobs?limit=100`)).json()) as { jobs: { id: string; status: string }[] };
      return page.jobs.some((job) => job.id === keyed && job.status === 'completed') && page.jobs.some((job) => job.id === later);
    });

    await page.goto(`${stack.baseUrl}/dashboard/#/jobs?status=scheduled`);
    await page.locator(`tr[data-job="${later}"]`).waitFor();
    expect(await page.locator('tr[data-job]').count()).toBe(1);
    await stack.screenshot('jobs');

    await page.getByLabel(/^Status/).selectOption('');
    await page.getByLabel('Job id or idempotency key').fill('welcome-mail-42');
    await page.getByRole('button', { name: 'Search' }).click();
    await waitFor('only the keyed job to be listed', async () => {
      const rows = await page.locator('tr[data-job]').evaluateAll((items) => items.map((item) => item.getAttribute('data-job')));
      return rows.length === 1 && rows[0] === keyed;
    });
    await page.locator(`tr[data-job="${keyed}"] a`).first().click();
    // Exact: the list page's search box is labelled "Job id or idempotency key", and may still be showing.
    await page.getByText('Idempotency key', { exact: true }).waitFor();
    await page.locator('dd', { hasText: 'welcome-mail-42' }).waitFor();
    expect(await page.locator('dd', { hasText: 'welcome-mail-42' }).count()).toBe(1);
  });

  it('pages through the list with the API\'s cursors', async () => {
    const { page } = stack;
    const response = await fetch(`${stack.baseUrl}/jobs/bulk`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jobs: Array.from({ length: 30 }, (_, n) => ({ type: 'sleep', payload: { ms: n } })) }),
    });
    expect(response.status).toBe(202);
    await waitFor('the history to have the 30 jobs', async () => {
      const listed = (await (await fetch(`${stack.baseUrl}/jobs?type=sleep&limit=100`)).json()) as { jobs: unknown[] };
      return listed.jobs.length >= 30;
    });

    await page.goto(`${stack.baseUrl}/dashboard/#/jobs?type=sleep`);
    const rows = page.locator('tr[data-job]');
    await waitFor('a first page of 25', async () => (await rows.count()) === 25);
    const first = await rows.first().getAttribute('data-job');
    await page.getByRole('button', { name: 'Older →' }).click();
    await waitFor('the second page', async () => (await rows.count()) > 0 && (await rows.count()) < 25);
    expect(await rows.first().getAttribute('data-job')).not.toBe(first);
    await page.getByRole('button', { name: '← Newer' }).click();
    await waitFor('the first page again', async () => (await rows.count()) === 25 && (await rows.first().getAttribute('data-job')) === first);
  });

  it('cancels a scheduled job from its page', async () => {
    const { page } = stack;
    const id = await stack.submit({ type: 'noop', payload: {}, delay: 600_000 });
    await page.goto(`${stack.baseUrl}/dashboard/#/jobs/${id}`);
    await page.getByRole('button', { name: `Cancel job ${id}` }).click();
    await page.locator('.title-row .badge', { hasText: 'cancelled' }).waitFor();
    expect(await stack.statusOf(id)).toBe('cancelled');
  });

  it('submits a test job from a form built from the type\'s schema', async () => {
    const { page } = stack;
    await page.goto(`${stack.baseUrl}/dashboard/#/submit`);
    await page.getByLabel(/^Type/).selectOption('sleep');
    await page.getByLabel(/^ms/).fill('20');
    await page.getByLabel(/^Idempotency key/).fill('form-test-1');
    await page.getByLabel(/^Priority/).fill('150');
    await stack.screenshot('submit');
    await page.getByRole('button', { name: 'Submit job' }).click();
    const link = page.locator('.notice-success a');
    await link.waitFor();
    const id = (await link.textContent()) ?? '';
    await waitFor('the submitted job to complete', async () => (await stack.statusOf(id)) === 'completed');
    const job = (await (await fetch(`${stack.baseUrl}/jobs/${id}`)).json()) as { type: string; payload: unknown };
    expect(job).toMatchObject({ type: 'sleep', payload: { ms: 20 }, priority: 150 });

    // The schema's bounds become the input's, which the browser checks before sending.
    await page.getByLabel(/^ms/).fill('99999999999');
    expect(await page.getByLabel(/^ms/).evaluate((input: { validity: { rangeOverflow: boolean } }) => input.validity.rangeOverflow)).toBe(true);

    // What only the API can refuse is shown with its message.
    await page.getByLabel(/^Type/).selectOption('webhook');
    await page.getByLabel(/^url/).fill('ftp://example.com/hook');
    await page.getByRole('button', { name: 'Submit job' }).click();
    await page.locator('.notice-error', { hasText: 'payload.url' }).waitFor();
  });
});

describe('a job\'s fair group', () => {
  it('is shown on the job page with a link to the group\'s jobs, and filters the jobs list', async () => {
    const { page } = stack;
    const ids = ['019a0000-0000-7000-8000-00000000d001', '019a0000-0000-7000-8000-00000000d002'];
    await stack.app.database.pool.query(
      `INSERT INTO jobs (id, queue, type, payload, status, max_attempts, run_at, created_at, updated_at, "group")
       SELECT id, 'default', 'noop', '{}', 'completed', 3, now(), now(), now(), 'globex' FROM unnest($1::uuid[]) AS id`,
      [ids],
    );
    await page.goto(`${stack.baseUrl}/dashboard/#/jobs/${ids[0]}`);
    await page.getByText('Group', { exact: true }).waitFor();
    await page.getByRole('link', { name: 'globex' }).click();
    await waitFor('the group\'s jobs only', async () => {
      const rows = await page.locator('tr[data-job]').evaluateAll((items) => items.map((item) => item.getAttribute('data-job')));
      return rows.length === 2 && rows.every((id) => ids.includes(id ?? ''));
    });
    expect(await page.getByLabel(/^Group/).inputValue()).toBe('globex');

    await page.goto(`${stack.baseUrl}/dashboard/#/jobs`);
    await page.getByLabel(/^Group/).fill('initech');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByText('No jobs match.', { exact: false }).waitFor();
    expect(page.url()).toContain('group=initech');
  });

  it('is sent by the submit form, and a malformed one is refused with the API\'s message', async () => {
    const { page } = stack;
    await page.goto(`${stack.baseUrl}/dashboard/#/submit`);
    await page.getByLabel(/^Type/).selectOption('noop');
    await page.getByLabel(/^Group/).fill('tenant/acme');
    const sent = page.waitForRequest((request) => request.method() === 'POST' && new URL(request.url()).pathname === '/jobs');
    await page.getByRole('button', { name: 'Submit job' }).click();
    expect((await sent).postDataJSON()).toMatchObject({ type: 'noop', group: 'tenant/acme' });
    await page.locator('.notice-success a').waitFor();

    await page.getByLabel(/^Group/).fill('tenant acme');
    await page.getByRole('button', { name: 'Submit job' }).click();
    await page.locator('.notice-error', { hasText: 'group must match pattern' }).waitFor();
  });

  it.each([
    ['group_turn', 'Waiting for its group\'s turn'],
    ['group_cap', 'Its group is at its cap'],
  ])('names the waiting reason %s on the job page', async (reason, title) => {
    const { page } = stack;
    const id = await stack.submit({ type: 'noop', payload: {}, delay: 600_000 });
    const message = `The sentence the API gives for ${reason}.`;
    // The reason as the API gives it once the queue holds the job back for its group.
    await page.route(`**/jobs/${id}`, async (route) => {
      const response = await route.fetch();
      await route.fulfill({ response, json: { ...((await response.json()) as object), waiting: { reason, message } } });
    });
    try {
      await page.goto(`${stack.baseUrl}/dashboard/#/jobs/${id}`);
      const waiting = page.locator(`.waiting[data-reason="${reason}"]`);
      await waiting.waitFor();
      expect(await waiting.locator('h3').textContent()).toBe(title);
      expect(await waiting.textContent()).toContain(message);
    } finally {
      await page.unrouteAll();
    }
  });
});
