import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queueKeys, Worker } from '@sluice/core';
import { createJobRegistry } from '@sluice/jobs';
import { isolatedConfig, waitFor } from '../../../test/support/context';
import { startApp, type AppFixture } from './fixture';

const config = isolatedConfig('api-cancel', { CONCURRENCY: '1' });
let fixture: AppFixture;
let worker: Worker | undefined;
const ran: string[] = [];

beforeAll(async () => {
  fixture = await startApp(config);
});
afterAll(async () => {
  await worker?.close(1000);
  await fixture?.close();
});

const submit = (body: Record<string, unknown>) => fixture.submit(body);

const cancel = (id: string) => fixture.app.inject({ method: 'POST', url: `/jobs/${id}/cancel` });
const job = async (id: string) => (await fixture.app.inject({ method: 'GET', url: `/jobs/${id}` })).json() as { status: string; history: { status: string }[] };

describe('POST /jobs/:id/cancel', () => {
  it('cancels pending and scheduled jobs, and no worker ever runs them', async () => {
    const pending = await submit({ type: 'sleep', payload: { ms: 1 } });
    const scheduled = await submit({ type: 'sleep', payload: { ms: 1 }, delay: 200 });
    const kept = await submit({ type: 'sleep', payload: { ms: 1 } });
    for (const id of [pending, scheduled]) {
      const response = await cancel(id);
      expect(response.statusCode).toBe(200);
      expect(response.json()).toMatchObject({ id, status: 'cancelled' });
    }
    const scheduledDueAt = Date.now() + 200;

    const sleepHandler = ({ id, payload }: { id: string; payload: { ms: number } }) => {
      ran.push(id);
      return new Promise((resolve) => setTimeout(resolve, payload.ms));
    };
    worker = new Worker({ redis: config.redis, queue: config.queue, worker: config.worker, registry: createJobRegistry(), handlers: { sleep: sleepHandler } });
    await worker.start();
    await waitFor('the kept job to complete', async () => (await job(kept)).status === 'completed');
    // An absence cannot be waited for: give the promoter a few rounds past the cancelled job's due time.
    await waitFor('a few promoter rounds past the scheduled job\'s due time', () => Date.now() > scheduledDueAt + 500);
    expect(ran).toEqual([kept]);
    expect((await job(pending)).history.map((event) => event.status)).toEqual(['pending', 'cancelled']);
    expect((await job(scheduled)).history.map((event) => event.status)).toEqual(['scheduled', 'cancelled']);
  });

  it('answers 409 once a job is processing or finished, 404 when unknown', async () => {
    const done = await submit({ type: 'sleep', payload: { ms: 1 } });
    await waitFor('the job to complete', async () => (await job(done)).status === 'completed');
    const finished = await cancel(done);
    expect(finished.statusCode).toBe(409);
    expect(finished.json()).toMatchObject({ error: { code: 'INVALID_STATE', message: `Job ${done} is completed; only pending, scheduled or retrying jobs can be cancelled.` } });

    const long = await submit({ type: 'sleep', payload: { ms: 1000 } });
    await waitFor('the long job to start', async () => (await job(long)).status === 'processing');
    expect((await cancel(long)).statusCode).toBe(409);
    expect((await cancel('01900000-0000-7000-8000-000000000000')).statusCode).toBe(404);
  });

  it('leaves nothing of a cancelled job in the stream or the delayed set', async () => {
    await worker?.close(1000);
    worker = undefined;
    const keys = queueKeys(config.redis.prefix, 'default');
    const { Redis } = await import('ioredis');
    const redis = new Redis(config.redis.url);
    try {
      const before = await redis.xlen(keys.stream);
      const id = await submit({ type: 'sleep', payload: { ms: 1 } });
      const later = await submit({ type: 'sleep', payload: { ms: 1 }, delay: 60_000 });
      await cancel(id);
      await cancel(later);
      expect(await redis.xlen(keys.stream)).toBe(before);
      expect(await redis.zscore(keys.delayed, later)).toBeNull();
    } finally {
      redis.disconnect();
    }
  });
});
