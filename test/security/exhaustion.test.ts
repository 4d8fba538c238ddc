import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LIST_PAGE_MAX_BYTES, LIST_VALUE_MAX_BYTES, PermanentJobError, Worker } from '@sluice/core';
import { createJobRegistry } from '@sluice/jobs';
import { isolatedConfig, waitFor } from '../support/context';
import { startApp, type AppFixture } from '../../apps/api/test/fixture';
import { MAX_STATS_STREAM_CLIENTS } from '../../apps/api/src/routes/stats-stream';

const BIG_JOBS = 12;
/** Enough jobs just under the listed size that a page of 100 would pass the byte budget. */
const SMALL_JOBS = 80;
const BIG_PAYLOAD_BYTES = 1_500_000;
const config = isolatedConfig('security-exhaustion', { BODY_LIMIT: String(4 * 1024 * 1024) });
let fixture: AppFixture;
let baseUrl: string;

beforeAll(async () => {
  fixture = await startApp(config, { statsIntervalMs: 100 });
  await fixture.app.listen({ port: 0, host: '127.0.0.1' });
  const address = fixture.app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  baseUrl = `http://127.0.0.1:${address.port}`;
});
afterAll(async () => {
  await fixture?.close();
});

/** Opens a request on a connection of its own and resolves with its response's head, never reading the body. */
function open(method: string, path: string): Promise<{ response: IncomingMessage; request: ClientRequest }> {
  return new Promise((resolve, reject) => {
    const outgoing = request(`${baseUrl}${path}`, { method, agent: false }, (response) => resolve({ response, request: outgoing }));
    outgoing.on('error', reject);
    outgoing.setTimeout(5000, () => outgoing.destroy(new Error(`${method} ${path}: no answer within 5 s`)));
    outgoing.end();
  });
}

describe('GET /stats/stream', () => {
  it('answers HEAD at once with the stream\'s headers, holding nothing open', async () => {
    const { response } = await open('HEAD', '/stats/stream');
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/event-stream/);
    await new Promise<void>((resolve) => {
      response.on('end', resolve);
      response.resume();
    });
    expect(fixture.app.statsHub.listenerCount).toBe(0);
  });

  it(`streams to at most ${MAX_STATS_STREAM_CLIENTS} clients that never read, and answers the next 503 with Retry-After`, async () => {
    const held: ClientRequest[] = [];
    try {
      for (let i = 0; i < MAX_STATS_STREAM_CLIENTS; i += 1) {
        const { response, request: outgoing } = await open('GET', '/stats/stream');
        expect(response.statusCode).toBe(200);
        response.pause();
        held.push(outgoing);
      }
      const { response } = await open('GET', '/stats/stream');
      expect(response.statusCode).toBe(503);
      expect(Number(response.headers['retry-after'])).toBeGreaterThan(0);
      const body = await new Promise<string>((resolve) => {
        let text = '';
        response.setEncoding('utf8').on('data', (chunk: string) => (text += chunk)).on('end', () => resolve(text));
      });
      expect(JSON.parse(body)).toMatchObject({ error: { code: expect.any(String), message: expect.stringContaining(String(MAX_STATS_STREAM_CLIENTS)) } });
      held.pop()?.destroy();
      await waitFor('a place to free up', () => fixture.app.statsHub.listenerCount < MAX_STATS_STREAM_CLIENTS);
      const again = await open('GET', '/stats/stream');
      expect(again.response.statusCode).toBe(200);
      held.push(again.request);
    } finally {
      for (const outgoing of held) outgoing.destroy();
    }
  });
});

interface Listed {
  id: string;
  payload: Record<string, unknown> | null;
  payloadBytes: number;
  payloadTruncated: boolean;
  result: unknown;
  resultBytes: number;
  resultTruncated: boolean;
}

/** Every page of `path`, each checked to stay within the byte budget (one job may exceed it alone). */
async function everyPage(path: string): Promise<{ jobs: Listed[]; pages: number }> {
  const jobs: Listed[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const response = await fixture.app.inject({ method: 'GET', url: `${path}${path.includes('?') ? '&' : '?'}limit=100${cursor ? `&cursor=${cursor}` : ''}` });
    expect(response.statusCode, response.body.slice(0, 500)).toBe(200);
    const page = response.json() as { jobs: Listed[]; nextCursor: string | null };
    if (page.jobs.length > 1) expect(Buffer.byteLength(response.body)).toBeLessThanOrEqual(LIST_PAGE_MAX_BYTES + 4096);
    jobs.push(...page.jobs);
    cursor = page.nextCursor;
    pages += 1;
  } while (cursor && pages < 50);
  return { jobs, pages };
}

describe('list pages are bounded in bytes', () => {
  const big = new Set<string>();
  const small = new Set<string>();

  beforeAll(async () => {
    const medium = 'm'.repeat(LIST_VALUE_MAX_BYTES - 200);
    for (let i = 0; i < SMALL_JOBS; i += 1) small.add(await fixture.submit({ type: 'noop', payload: { i, medium }, delay: 60_000 }));
    for (let i = 0; i < BIG_JOBS; i += 1) big.add(await fixture.submit({ type: 'noop', payload: { i, blob: 'x'.repeat(BIG_PAYLOAD_BYTES) }, delay: 60_000 }));
    // The history in PostgreSQL, as the recorder would write it, with a result too large to list on one job.
    await fixture.database.pool.query(
      `INSERT INTO jobs (id, queue, type, payload, status, max_attempts, run_at, created_at, updated_at, result)
       SELECT id::uuid, 'default', 'noop', payload::jsonb, 'completed', 3, now(), now() - (n || ' ms')::interval, now(), CASE WHEN n = 1 THEN $2::jsonb END
       FROM unnest($1::text[], $3::text[]) WITH ORDINALITY AS t(id, payload, n)`,
      [
        [...small, ...big],
        JSON.stringify({ report: 'r'.repeat(LIST_VALUE_MAX_BYTES) }),
        [...small].map((_, i) => JSON.stringify({ i, medium })).concat([...big].map((_, i) => JSON.stringify({ i, blob: 'x'.repeat(BIG_PAYLOAD_BYTES) }))),
      ],
    );
  }, 60_000);

  it('GET /jobs leaves large payloads and results out, stops a page early with a cursor, and still lists every job once', async () => {
    const { jobs, pages } = await everyPage('/jobs');
    expect(pages).toBeGreaterThan(1);
    expect(jobs.map((job) => job.id).sort()).toEqual([...small, ...big].sort());
    for (const job of jobs) {
      if (big.has(job.id)) {
        expect(job).toMatchObject({ payload: null, payloadTruncated: true });
        expect(job.payloadBytes).toBeGreaterThan(BIG_PAYLOAD_BYTES);
      } else {
        expect(job).toMatchObject({ payloadTruncated: false, payload: expect.objectContaining({ medium: expect.any(String) }) });
        expect(job.payloadBytes).toBeGreaterThan(LIST_VALUE_MAX_BYTES / 2);
      }
    }
    expect(jobs.filter((job) => job.resultTruncated)).toEqual([expect.objectContaining({ result: null, resultBytes: expect.any(Number) })]);
    // The job itself is whole.
    const [first] = big;
    const whole = await fixture.app.inject({ method: 'GET', url: `/jobs/${first}` });
    expect((whole.json() as { payload: { blob: string } }).payload.blob).toHaveLength(BIG_PAYLOAD_BYTES);
  });

  it('GET /jobs/dead does the same for the dead-letter stream', async () => {
    const worker = new Worker({
      redis: config.redis, queue: config.queue, worker: config.worker, registry: createJobRegistry(),
      handlers: { noop: () => { throw new PermanentJobError('refused'); } },
    });
    await worker.start();
    try {
      for (const id of [...small, ...big]) await fixture.app.inject({ method: 'POST', url: `/jobs/${id}/cancel` });
      const dying = [await fixture.submit({ type: 'noop', payload: { tiny: true } })];
      for (let i = 0; i < 4; i += 1) dying.push(await fixture.submit({ type: 'noop', payload: { i, blob: 'y'.repeat(BIG_PAYLOAD_BYTES) } }));
      const medium = 'm'.repeat(LIST_VALUE_MAX_BYTES - 200);
      for (let i = 0; i < SMALL_JOBS; i += 1) dying.push(await fixture.submit({ type: 'noop', payload: { i, medium } }));
      await waitFor('the jobs to be dead', async () => (await Promise.all(dying.map((id) => fixture.statusOf(id)))).every((status) => status === 'dead'), 20_000);
      const { jobs, pages } = await everyPage('/jobs/dead');
      expect(pages).toBeGreaterThan(1);
      expect(jobs.map((job) => job.id).sort()).toEqual([...dying].sort());
      expect(jobs.find((job) => job.id === dying[0])).toMatchObject({ payload: { tiny: true }, payloadTruncated: false, resultTruncated: false });
      for (const job of jobs.filter((entry) => dying.slice(1, 5).includes(entry.id))) expect(job).toMatchObject({ payload: null, payloadTruncated: true });
    } finally {
      await worker.close(1000);
    }
  }, 60_000);
});
