import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionOfId } from '@sluice/core';
import { isolatedConfig } from '../../../test/support/context';
import { startApp, type AppFixture } from './fixture';

const config = isolatedConfig('api-partitions', { QUEUES: 'default:3,single' });
let fixture: AppFixture;

beforeAll(async () => {
  fixture = await startApp(config);
});
afterAll(async () => {
  await fixture?.close();
});

describe('a queue of several partitions through the API', () => {
  it('spreads submissions, keeps one partitionKey in one partition, finds each job by its id, and shows the queue as one with a row per partition', async () => {
    const spread = await Promise.all(Array.from({ length: 9 }, () => fixture.submit({ type: 'noop', payload: {} })));
    expect(spread.map((id) => partitionOfId(id)?.index).sort()).toEqual([0, 0, 0, 1, 1, 1, 2, 2, 2]);
    const keyed = await Promise.all(Array.from({ length: 5 }, () => fixture.submit({ type: 'noop', payload: {}, partitionKey: 'tenant-9' })));
    expect(new Set(keyed.map((id) => partitionOfId(id)?.index)).size).toBe(1);
    for (const id of [...spread, ...keyed]) expect(await fixture.statusOf(id)).toBe('pending');

    const stats = (await fixture.app.inject({ method: 'GET', url: '/stats' })).json() as {
      queues: Record<string, { pending: number; partitions: { index: number; of: number; pending: number }[] }>;
    };
    expect(stats.queues.default?.pending).toBe(14);
    expect(stats.queues.default?.partitions.map((partition) => `${partition.index}/${partition.of}`)).toEqual(['0/3', '1/3', '2/3']);
    expect(stats.queues.default?.partitions.reduce((sum, partition) => sum + partition.pending, 0)).toBe(14);
    expect(stats.queues.single?.partitions).toHaveLength(1);

    const metrics = (await fixture.app.inject({ method: 'GET', url: '/metrics' })).body;
    const depths = ['0/3', '1/3', '2/3'].map((partition) => Number(new RegExp(`^sluice_queue_partition_depth\\{queue="default",partition="${partition}"\\} (\\d+)$`, 'm').exec(metrics)?.[1]));
    expect(depths.reduce((sum, depth) => sum + depth, 0)).toBe(14);
    expect(metrics).toMatch(/^sluice_queue_depth\{queue="default"\} 14$/m);
  });

  it('refuses a partitionKey that is empty or too long, saying which field', async () => {
    const empty = await fixture.app.inject({ method: 'POST', url: '/jobs', payload: { type: 'noop', payload: {}, partitionKey: '' } });
    expect(empty.statusCode).toBe(400);
    expect(empty.json()).toMatchObject({ error: { message: expect.stringContaining('partitionKey') } });
    const long = await fixture.app.inject({ method: 'POST', url: '/jobs', payload: { type: 'noop', payload: {}, partitionKey: 'k'.repeat(1000) } });
    expect(long.statusCode).toBe(400);
  });
});
