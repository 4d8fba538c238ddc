import type { JobContext } from '@sluice/core';
import type { Dialog, Page, Route } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/context';
import { startDashboardStack, type DashboardStack } from './dashboard-stack';

/** How long a job's page may take to draw, however large its values: "promptly", with room for a slow machine. */
const PROMPT_MS = 5_000;

let stack: DashboardStack;

/** `[[[…[0]…]]]`, `depth` arrays deep. */
function nestedArrays(depth: number): unknown {
  let value: unknown = [0];
  for (let level = 1; level < depth; level += 1) value = [value];
  return value;
}

/** `{ "level": { "level": … inner … } }`, `depth` objects deep around `inner`. */
function nestedObjects(depth: number, inner: unknown): Record<string, unknown> {
  let value: Record<string, unknown> = { inner };
  for (let level = 1; level < depth; level += 1) value = { level: value };
  return value;
}

beforeAll(async () => {
  // `noop` with `deep: true` reports the deepest progress the API keeps (arrays 2,000 deep fill its 4 KiB)
  // and returns the deepest, largest result it stores: nested 99 levels around about 60 KB of rows.
  const noop = async ({ payload, progress }: JobContext<{ deep?: boolean }>) => {
    if (!payload.deep) return undefined;
    await progress(nestedArrays(2000));
    return nestedObjects(98, Array.from({ length: 1000 }, (_, id) => ({ id, name: `row ${id}` })));
  };
  stack = await startDashboardStack('browser-large-values', {}, { noop });
});
afterAll(async () => {
  await stack?.close();
});

/** Opens a job's page and returns how long it took until `ready` was drawn, in milliseconds. */
async function openJob(page: Page, id: string, ready: string): Promise<number> {
  const started = Date.now();
  await page.goto(`${stack.baseUrl}/dashboard/#/jobs/${id}`);
  await page.locator(ready).first().waitFor();
  return Date.now() - started;
}

/** The text of the JSON view labelled `label`. */
async function jsonText(page: Page, label: string): Promise<string> {
  return (await page.locator(`pre[aria-label="${label}"]`).textContent()) ?? '';
}

describe('a job with large values', () => {
  it('shows a 600 KB payload cut at 10,000 characters, all of it on request, and leaves the rest of the app working', async ({ annotate }) => {
    const { page } = stack;
    const rows = Array.from({ length: 6000 }, (_, id) => ({ id, customer: `customer-${id}`, note: 'a note long enough to make each row about a hundred bytes long' }));
    const id = await stack.submit({ type: 'noop', payload: { rows } });
    expect(JSON.stringify({ rows }).length).toBeGreaterThan(600_000);
    await waitFor('the job to complete', async () => (await stack.statusOf(id)) === 'completed');

    const drawnMs = await openJob(page, id, '.json-note');
    await annotate(`600 KB payload: job page drawn in ${drawnMs} ms`);
    expect(drawnMs).toBeLessThan(PROMPT_MS);
    const wholeLength = JSON.stringify({ rows }, null, 2).length;
    const payload = page.locator('pre[aria-label="Payload"]');
    expect((await jsonText(page, 'Payload')).length).toBe(10_001);
    expect(await jsonText(page, 'Payload')).toMatch(/^\{\n {2}"rows": \[\n {4}\{\n {6}"id": 0,/);
    const note = page.locator('.json-note');
    expect(await note.textContent()).toContain(`The first 10,000 of ${wholeLength.toLocaleString('en')} characters shown.`);
    await stack.screenshot('job-large-payload');

    const clicked = Date.now();
    await note.getByRole('button', { name: 'Show all' }).click();
    await note.getByText(`All ${wholeLength.toLocaleString('en')} characters shown.`).waitFor();
    const allMs = Date.now() - clicked;
    await annotate(`600 KB payload: "Show all" drawn in ${allMs} ms`);
    expect(allMs).toBeLessThan(PROMPT_MS);
    expect((await jsonText(page, 'Payload')).length).toBe(wholeLength);
    expect(await jsonText(page, 'Payload')).toContain('"customer": "customer-5999"');
    // The page answers at once with all of it drawn, scrolled to the end of the value.
    const answered = Date.now();
    await payload.evaluate((element) => element.scrollTo(0, element.scrollHeight));
    expect(Date.now() - answered).toBeLessThan(1000);
    await note.getByRole('button', { name: 'Show less' }).click();
    await waitFor('the payload cut again', async () => (await jsonText(page, 'Payload')).length === 10_001);

    // The rest of the app: the list says how large the payload is instead of carrying it.
    await page.getByRole('link', { name: 'Jobs', exact: true }).click();
    const listed = await waitFor('the job in the history', async () => {
      const jobs = ((await (await fetch(`${stack.baseUrl}/jobs?type=noop`)).json()) as { jobs: { id: string; payload: unknown; payloadBytes: number; payloadTruncated: boolean }[] }).jobs;
      return jobs.find((job) => job.id === id);
    });
    expect(listed).toMatchObject({ payload: null, payloadTruncated: true });
    await page.getByRole('button', { name: 'Refresh' }).click();
    const row = page.locator(`tr[data-job="${id}"]`);
    await row.waitFor();
    expect(await row.locator('td.payload').textContent()).toBe(`(${Math.round(listed.payloadBytes / 1024)} KB, open the job to see it)`);
    await page.setViewportSize({ width: 390, height: 844 });
    await stack.screenshot('jobs-large-payload-phone');
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.getByRole('link', { name: 'Overview', exact: true }).click();
    await page.locator('[data-queue="default"]').waitFor();
    await page.getByRole('link', { name: 'Jobs', exact: true }).click();
    await row.getByRole('link', { name: `Job ${id}` }).click();
    await page.locator('.json-note').waitFor();
  });

  it('collapses values nested thousands of levels deep, each level a click away, the keyboard\'s too', async ({ annotate }) => {
    const { page } = stack;
    // As deep as the API accepts: 100 levels of objects.
    const id = await stack.submit({ type: 'noop', payload: { deep: true, nested: nestedObjects(98, {}) } });
    await waitFor('the job to complete', async () => (await stack.statusOf(id)) === 'completed');

    const drawnMs = await openJob(page, id, 'pre[aria-label="Progress"] .json-toggle');
    await annotate(`progress 2,000 deep, result 99 deep: job page drawn in ${drawnMs} ms`);
    expect(drawnMs).toBeLessThan(PROMPT_MS);
    for (const label of ['Payload', 'Result', 'Progress']) {
      const text = await jsonText(page, label);
      // Ten levels open, one line each way, then a button for the rest.
      expect(text.length, label).toBeLessThan(1000);
      expect(await page.locator(`pre[aria-label="${label}"] .json-toggle`).count(), label).toBe(1);
    }
    await stack.screenshot('job-deep-values');

    // The keyboard opens ten levels more, down to the next button.
    const progress = page.locator('pre[aria-label="Progress"]');
    await progress.getByRole('button', { name: 'Expand an array of 1 item' }).focus();
    await page.keyboard.press('Enter');
    await waitFor('ten more levels', async () => (await jsonText(page, 'Progress')).split('\n').length === 41);
    await progress.getByRole('button', { name: 'Expand an array of 1 item' }).click();
    await waitFor('twenty more levels', async () => (await jsonText(page, 'Progress')).split('\n').length === 61);
  });

  it('draws a value nested 3,000 deep, should one ever reach it, as a few lines', async ({ annotate }) => {
    const { page } = stack;
    const id = await stack.submit({ type: 'noop', payload: {} });
    await waitFor('the job to complete', async () => (await stack.statusOf(id)) === 'completed');
    // Past what the API stores (100 levels, 4 KiB of progress): the answer is changed on its way to the page.
    const deep = JSON.stringify(nestedArrays(3000));
    await page.route(`**/jobs/${id}`, async (route) => {
      const job = (await (await route.fetch()).json()) as Record<string, unknown>;
      await route.fulfill({ contentType: 'application/json', body: JSON.stringify({ ...job, result: '§' }).replace('"§"', deep) });
    });
    try {
      const drawnMs = await openJob(page, id, 'pre[aria-label="Result"] .json-toggle');
      await annotate(`result 3,000 deep: job page drawn in ${drawnMs} ms`);
      expect(drawnMs).toBeLessThan(PROMPT_MS);
      expect((await jsonText(page, 'Result')).length).toBeLessThan(300);
    } finally {
      await page.unroute(`**/jobs/${id}`);
    }
  });
});

describe('a job whose values hold markup', () => {
  const IMG = '<img src=x onerror=window.__sluiceXss=1>';
  const SCRIPT = '</script><script>window.__sluiceXss=2</script>';

  it('shows the markup as text: no element made, no script run, on the job\'s page, in the lists and in the errors', async () => {
    const { page } = stack;
    let dialogs = 0;
    const countDialog = (dialog: Dialog) => {
      dialogs += 1;
      void dialog.dismiss();
    };
    page.on('dialog', countDialog);
    const id = await stack.submit({ type: 'noop', payload: { [IMG]: SCRIPT, html: IMG, nested: [SCRIPT, { [SCRIPT]: IMG }] } });
    const failed = await stack.submit({ type: 'fail', payload: { permanent: true, message: `${IMG} ${SCRIPT}` } });
    await waitFor('both jobs to finish', async () => (await stack.statusOf(id)) === 'completed' && (await stack.statusOf(failed)) === 'dead');
    const noMarkup = async (where: string) => {
      expect(await page.locator('body img, body script').count(), where).toBe(0);
      expect(await page.evaluate(() => (globalThis as { __sluiceXss?: number }).__sluiceXss), where).toBeUndefined();
    };

    await page.goto(`${stack.baseUrl}/dashboard/#/jobs/${id}`);
    await page.locator('pre[aria-label="Payload"]').waitFor();
    const payload = await jsonText(page, 'Payload');
    expect(payload).toContain(`"${IMG}": "${SCRIPT}"`);
    expect(payload).toContain(`"html": "${IMG}"`);
    await noMarkup('job page');

    await waitFor('both jobs in the history', async () => {
      const listed = (await (await fetch(`${stack.baseUrl}/jobs?limit=100`)).json()) as { jobs: { id: string; status: string }[] };
      return [id, failed].every((wanted) => listed.jobs.some((job) => job.id === wanted && ['completed', 'dead'].includes(job.status)));
    });
    await page.goto(`${stack.baseUrl}/dashboard/#/jobs`);
    const row = page.locator(`tr[data-job="${id}"]`);
    await row.waitFor();
    expect(await row.locator('td.payload').textContent()).toContain(IMG);
    await noMarkup('jobs list');

    await page.goto(`${stack.baseUrl}/dashboard/#/dead`);
    const dead = page.locator(`tr[data-job="${failed}"]`);
    await dead.waitFor();
    expect(await dead.textContent()).toContain(`${IMG} ${SCRIPT}`);
    await noMarkup('dead letters');

    await page.goto(`${stack.baseUrl}/dashboard/#/jobs/${failed}`);
    await page.locator('.events .error-text').first().waitFor();
    expect(await page.locator('.events .error-text').first().textContent()).toContain(`${IMG} ${SCRIPT}`);
    await noMarkup('timeline');
    page.off('dialog', countDialog);
    expect(dialogs).toBe(0);
  });
});

describe('a page that fails to draw', () => {
  it('says so in its place, keeps the navigation, and draws again once the data is sound', async () => {
    const { page } = stack;
    const id = await stack.submit({ type: 'noop', payload: {} });
    await waitFor('the job to complete', async () => (await stack.statusOf(id)) === 'completed');
    // An answer of a shape the page does not expect: a history that is not a list.
    const breakHistory = async (route: Route) => {
      const job = (await (await route.fetch()).json()) as Record<string, unknown>;
      await route.fulfill({ contentType: 'application/json', body: JSON.stringify({ ...job, history: null }) });
    };
    await page.route(`**/jobs/${id}`, breakHistory);
    await page.goto(`${stack.baseUrl}/dashboard/#/jobs/${id}`);
    const failure = page.getByRole('heading', { name: 'This page could not be shown' });
    await failure.waitFor();
    expect(await page.locator('.page-failure .notice-error').textContent()).toMatch(/null/);
    expect(await page.getByRole('navigation', { name: 'Sections' }).isVisible()).toBe(true);
    await stack.screenshot('page-failure');

    await page.unroute(`**/jobs/${id}`);
    await page.getByRole('button', { name: 'Try again' }).click();
    await page.getByRole('heading', { name: `Job ${id}` }).waitFor();
    expect(await failure.count()).toBe(0);

    // Going elsewhere leaves the failure behind: its link leads back to the overview.
    await page.route(`**/jobs/${id}`, breakHistory);
    await page.reload();
    await failure.waitFor();
    await page.getByRole('link', { name: 'Back to the overview' }).click();
    await page.locator('[data-queue="default"]').waitFor();
    await page.getByRole('link', { name: 'Jobs', exact: true }).click();
    await page.getByRole('heading', { name: 'Jobs' }).waitFor();
    await page.unroute(`**/jobs/${id}`);
  });
});
