import { closeRedis, createRedis, partitionOfId, queuePartition, WORKER_GROUP, type ScriptedRedis } from '@sluice/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolatedConfig, waitFor } from '../../../test/support/context';
import { startInProcess } from '../../../test/support/in-process';
import { createJobRegistry } from '@sluice/jobs';
import { startApp, type AppFixture } from './fixture';

const config = isolatedConfig('api-queue-latency', { QUEUES: 'default:3,reads,grouped,delayed,later,latergrouped,paused,busy' });
let fixture: AppFixture;
let redis: ScriptedRedis;

beforeAll(async () => {
  fixture = await startApp(config);
  redis = createRedis(config.redis);
});
afterAll(async () => {
  if (redis) await closeRedis(redis);
  await fixture?.close();
});

interface LatencyView {
  latencyMs: number;
  partitions: { index: number; latencyMs: number }[];
}

async function statsOf(queue: string): Promise<LatencyView> {
  const response = await fixture.app.inject({ method: 'GET', url: `/queues/${queue}` });
  expect(response.statusCode, response.body).toBe(200);
  return response.json() as LatencyView;
}

/** Submits a job and says when, by this process's clock (the same machine's as Redis's), it was sent and answered. */
async function submitTimed(body: Record<string, unknown>): Promise<{ id: string; sentAt: number; answeredAt: number }> {
  const sentAt = Date.now();
  const id = await fixture.submit(body);
  return { id, sentAt, answeredAt: Date.now() };
}

/** Reads a queue's latency, and bounds what it may be for a job added between `sentAt` and `answeredAt`. */
async function expectAgeOf(queue: string, job: { sentAt: number; answeredAt: number }): Promise<LatencyView> {
  const before = Date.now();
  const stats = await statsOf(queue);
  const after = Date.now();
  // Redis's clock and this process's read the same machine's time; a millisecond either way for rounding.
  expect(stats.latencyMs).toBeGreaterThanOrEqual(before - job.answeredAt - 1);
  expect(stats.latencyMs).toBeLessThanOrEqual(after - job.sentAt + 1);
  return stats;
}

describe('queue latency: the age of the oldest job waiting for a worker', () => {
  it('is 0 for queues where nothing waits, in every partition', async () => {
    const stats = await statsOf('default');
    expect(stats.latencyMs).toBe(0);
    expect(stats.partitions.map((partition) => partition.latencyMs)).toEqual([0, 0, 0]);
    const list = (await fixture.app.inject({ method: 'GET', url: '/queues' })).json() as { queues: { name: string; latencyMs: number }[] };
    expect(list.queues.map((queue) => queue.latencyMs)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('counts a job not yet delivered from when it was added, in its own partition and as the queue\'s', async () => {
    const job = await submitTimed({ type: 'noop', payload: {}, partitionKey: 'tenant-a' });
    const index = partitionOfId(job.id)?.index;
    await waitFor('the job to have waited 150 ms', async () => (await statsOf('default')).latencyMs >= 150);
    const stats = await expectAgeOf('default', job);
    const byPartition = stats.partitions.map((partition) => partition.latencyMs);
    expect(byPartition.filter((latency) => latency > 0)).toHaveLength(1);
    expect(byPartition[index as number]).toBe(stats.latencyMs);

    const metrics = (await fixture.app.inject({ method: 'GET', url: '/metrics' })).body;
    const gauge = Number(/^sluice_queue_latency_seconds\{queue="default"\} ([\d.]+)$/m.exec(metrics)?.[1]);
    expect(gauge).toBeGreaterThanOrEqual(0.15);
  });

  it('leaves out jobs a worker has read: the next one waiting sets the age', async () => {
    const older = await submitTimed({ type: 'noop', payload: {}, queue: 'reads' });
    await waitFor('the first job to have waited 150 ms', async () => (await statsOf('reads')).latencyMs >= 150);
    const newer = await submitTimed({ type: 'noop', payload: {}, queue: 'reads' });
    const { stream } = queuePartition(config.redis.prefix, 'reads', 1, 0).keys;
    // A worker's read, as XREADGROUP hands entries on, one at a time: first the older job.
    await redis.xgroup('CREATE', stream, WORKER_GROUP, '0', 'MKSTREAM');
    const first = (await redis.xreadgroup('GROUP', WORKER_GROUP, 'latency-test', 'COUNT', 1, 'STREAMS', stream, '>')) as [string, [string, string[]][]][];
    expect(first[0]?.[1][0]?.[1]).toContain(older.id);
    const stats = await expectAgeOf('reads', newer);
    expect(stats.latencyMs).toBeLessThan(Date.now() - older.answeredAt);
    await redis.xreadgroup('GROUP', WORKER_GROUP, 'latency-test', 'COUNT', 1, 'STREAMS', stream, '>');
    expect((await statsOf('reads')).latencyMs).toBe(0);
  });

  it('counts grouped jobs waiting their group\'s turn', async () => {
    const job = await submitTimed({ type: 'noop', payload: {}, queue: 'grouped', group: 'acme' });
    await waitFor('the grouped job to have waited 100 ms', async () => (await statsOf('grouped')).latencyMs >= 100);
    await expectAgeOf('grouped', job);
  });

  it('counts the jobs behind a worker whose every slot is busy: it reads no more than it can start', async () => {
    let letGo: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      letGo = resolve;
    });
    const busyConfig = { ...config, queue: { ...config.queue, queues: ['busy'] }, worker: { ...config.worker, concurrency: 1 } };
    const workers = await startInProcess(busyConfig, createJobRegistry(), { sleep: () => held });
    try {
      const running = await fixture.submit({ type: 'sleep', payload: { ms: 1 }, queue: 'busy' });
      await waitFor('the first job to run', async () => (await fixture.statusOf(running)) === 'processing', 10_000, 20);
      const behind = await submitTimed({ type: 'sleep', payload: { ms: 1 }, queue: 'busy' });
      await waitFor('the job behind it to have waited 300 ms', async () => (await statsOf('busy')).latencyMs >= 300);
      await expectAgeOf('busy', behind);
      expect(await fixture.statusOf(behind.id)).toBe('pending');
    } finally {
      letGo();
      await workers.worker.close(1000);
      await closeRedis(workers.redis);
    }
  });

  it('keeps counting the jobs of a paused queue, which its workers leave waiting, beside `paused`', async () => {
    await fixture.app.inject({ method: 'POST', url: '/queues/paused/pause' });
    const workers = await startInProcess({ ...config, queue: { ...config.queue, queues: ['paused'] } }, createJobRegistry(), {});
    try {
      const job = await submitTimed({ type: 'noop', payload: {}, queue: 'paused' });
      await waitFor('the job to have waited 300 ms', async () => (await statsOf('paused')).latencyMs >= 300);
      const stats = (await expectAgeOf('paused', job)) as LatencyView & { paused: boolean };
      expect(stats.paused).toBe(true);
      expect(await fixture.statusOf(job.id)).toBe('pending');
    } finally {
      await workers.worker.close(1000);
      await closeRedis(workers.redis);
    }
  });

  it('does not count a job scheduled for later, which is not waiting for a worker yet', async () => {
    await fixture.submit({ type: 'noop', payload: {}, queue: 'delayed', delay: 600_000 });
    const scheduled = (await fixture.app.inject({ method: 'GET', url: '/queues/delayed' })).json() as { scheduled: number; latencyMs: number };
    expect(scheduled).toMatchObject({ scheduled: 1, latencyMs: 0 });
  });

  it('counts a delayed grouped job from when it became due and joined its group\'s turn, not from when it was added', async () => {
    const delay = 1500;
    await fixture.app.inject({ method: 'POST', url: '/queues/latergrouped/pause' });
    const workers = await startInProcess({ ...config, queue: { ...config.queue, queues: ['latergrouped'] } }, createJobRegistry(), {});
    try {
      const job = await submitTimed({ type: 'noop', payload: {}, queue: 'latergrouped', group: 'acme', delay });
      await waitFor('the job to be promoted', async () => (await fixture.statusOf(job.id)) === 'pending', 10_000, 20);
      const after = Date.now();
      const { latencyMs } = await statsOf('latergrouped');
      expect(latencyMs).toBeLessThanOrEqual(after - (job.sentAt + delay) + 1);
      await waitFor('the grouped job to have waited 100 ms since it was due', async () => (await statsOf('latergrouped')).latencyMs >= 100);
    } finally {
      await workers.worker.close(1000);
      await closeRedis(workers.redis);
    }
  });

  it('counts a delayed job from when it became due, when the promoter moved it into its stream', async () => {
    const delay = 400;
    // Paused, so the job is promoted but not started: a worker of this queue alone promotes it.
    await fixture.app.inject({ method: 'POST', url: '/queues/later/pause' });
    const workers = await startInProcess({ ...config, queue: { ...config.queue, queues: ['later'] } }, createJobRegistry(), {});
    try {
      const job = await submitTimed({ type: 'noop', payload: {}, queue: 'later', delay });
      await waitFor('the job to be promoted', async () => (await fixture.statusOf(job.id)) === 'pending', 10_000, 20);
      const after = Date.now();
      const { latencyMs } = await statsOf('later');
      // Measured from its creation it would be at least `delay`: from its due time, only what passed since.
      expect(latencyMs).toBeLessThanOrEqual(after - (job.sentAt + delay) + 1);
    } finally {
      // Not workers.close(): that would also delete the file's keys, which the app's fixture deletes at the end.
      await workers.worker.close(1000);
      await closeRedis(workers.redis);
    }
  });
});
