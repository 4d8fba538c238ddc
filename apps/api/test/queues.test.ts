import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Worker } from '@sluice/core';
import { createJobRegistry } from '@sluice/jobs';
import { createHandlers } from '@sluice/jobs/handlers';
import { isolatedConfig, waitFor } from '../../../test/support/context';
import { startApp, type AppFixture } from './fixture';

const config = isolatedConfig('api-queues', { QUEUES: 'default,bulk', CONCURRENCY: '4' });
const silent = { debug() {}, info() {}, warn() {}, error() {} };
let fixture: AppFixture;
let worker: Worker | undefined;

function startWorker(): Promise<void> {
  worker = new Worker({
    redis: config.redis, queue: config.queue, worker: config.worker, registry: createJobRegistry(),
    handlers: createHandlers({ smtpUrl: undefined, smtpFrom: 'x@y.z', logger: silent }),
  });
  return worker.start();
}

async function stopWorker(): Promise<void> {
  await worker?.close(1000);
  worker = undefined;
}

beforeAll(async () => {
  fixture = await startApp(config);
});
afterAll(async () => {
  await stopWorker();
  await fixture?.close();
});

const submit = (body: Record<string, unknown>) => fixture.submit(body);

const get = async <T>(url: string): Promise<T> => {
  const response = await fixture.app.inject({ method: 'GET', url });
  expect(response.statusCode, response.body).toBe(200);
  return response.json() as T;
};

type Stats = { queues: Record<string, Record<string, number> & { paused: boolean; consumers: { name: string; pending: number; idleMs: number }[]; throughput: Record<string, number> }> };

describe('queue statistics', () => {
  it('counts jobs per state as they move, from counters the transitions keep', async () => {
    await submit({ type: 'noop', payload: {} });
    await submit({ type: 'noop', payload: {} });
    await submit({ type: 'noop', payload: {}, delay: 60_000 });
    const cancelled = await submit({ type: 'noop', payload: {} });
    await fixture.app.inject({ method: 'POST', url: `/jobs/${cancelled}/cancel` });
    await submit({ type: 'noop', payload: {}, queue: 'bulk' });

    let stats = await get<Stats>('/stats');
    expect(stats.queues.default).toMatchObject({ pending: 2, scheduled: 1, processing: 0, retrying: 0, completed: 0, dead: 0, cancelled: 1, paused: false });
    expect(stats.queues.bulk).toMatchObject({ pending: 1, scheduled: 0 });
    const listed = await get<{ queues: { name: string; depth: number }[] }>('/queues');
    expect(listed.queues.map((queue) => [queue.name, queue.depth])).toEqual([['default', 2], ['bulk', 1]]);

    await submit({ type: 'fail', payload: { permanent: true } });
    await startWorker();
    await waitFor('the ready jobs to finish', async () => {
      const current = await get<Stats>('/stats');
      return current.queues.default?.completed === 2 && current.queues.default.dead === 1 && current.queues.bulk?.completed === 1;
    });
    stats = await get<Stats>('/stats');
    expect(stats.queues.default).toMatchObject({ pending: 0, scheduled: 1, processing: 0, completed: 2, dead: 1, cancelled: 1 });
    expect(stats.queues.default?.throughput).toMatchObject({ completedLastMinute: 2, failedLastMinute: 1 });
    expect(stats.queues.default?.consumers).toEqual([{ name: config.worker.consumerName, pending: 0, idleMs: expect.any(Number) }]);
  });

  it('answers 404 for a queue it does not serve', async () => {
    const response = await fixture.app.inject({ method: 'GET', url: '/queues/elsewhere' });
    expect(response.statusCode).toBe(404);
    expect(response.json()).toMatchObject({ error: { code: 'UNKNOWN_QUEUE', message: 'Queue "elsewhere" is not served here. Known queues: default, bulk.' } });
    expect((await fixture.app.inject({ method: 'POST', url: '/queues/elsewhere/pause' })).statusCode).toBe(404);
  });
});

describe('pausing a queue', () => {
  it('stops workers taking its jobs, survives a worker restart, and resume lets them run', async () => {
    const paused = await fixture.app.inject({ method: 'POST', url: '/queues/bulk/pause' });
    expect(paused.json()).toEqual({ name: 'bulk', paused: true });
    // Workers look at the pause flag every 250 ms, and one already blocked in a read may still take
    // what arrives within that read's wait.
    await new Promise((resolve) => setTimeout(resolve, 250 + config.worker.blockMs + 100));
    const held = await submit({ type: 'noop', payload: {}, queue: 'bulk' });
    const other = await submit({ type: 'noop', payload: {} });
    await waitFor('a job of the running queue to complete', async () => (await get<{ status: string }>(`/jobs/${other}`)).status === 'completed');

    await stopWorker();
    await startWorker();
    const stillHeld = await submit({ type: 'noop', payload: {}, queue: 'bulk' });
    const otherAgain = await submit({ type: 'noop', payload: {} });
    await waitFor('the restarted worker to run the other queue', async () => (await get<{ status: string }>(`/jobs/${otherAgain}`)).status === 'completed');
    expect((await get<{ status: string }>(`/jobs/${held}`)).status).toBe('pending');
    expect((await get<{ status: string }>(`/jobs/${stillHeld}`)).status).toBe('pending');
    expect((await get<Stats>('/stats')).queues.bulk?.paused).toBe(true);

    const resumed = await fixture.app.inject({ method: 'POST', url: '/queues/bulk/resume' });
    expect(resumed.json()).toEqual({ name: 'bulk', paused: false });
    await waitFor('the held jobs to complete', async () => {
      const statuses = await Promise.all([held, stillHeld].map(async (id) => (await get<{ status: string }>(`/jobs/${id}`)).status));
      return statuses.every((status) => status === 'completed');
    });
  });
});
