import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Type } from 'typebox';
import { defineJobType, JobTypeRegistry, Worker } from '@sluice/core';
import { isolatedConfig, waitFor } from '../../../test/support/context';
import { startApp, type AppFixture } from './fixture';

const config = isolatedConfig('api-flow-limits', { QUEUES: 'default,bulk', CONCURRENCY: '4' });
const gates: (() => void)[] = [];
const limited = defineJobType({ name: 'limited', payload: Type.Object({}), limits: { rate: { max: 10, perMs: 60_000 }, concurrency: 1 } });
let fixture: AppFixture;
let worker: Worker;

beforeAll(async () => {
  fixture = await startApp(config);
  worker = new Worker({
    redis: config.redis, queue: config.queue, worker: config.worker, registry: new JobTypeRegistry([limited]),
    handlers: { limited: () => new Promise<void>((resolve) => gates.push(resolve)) },
  });
  await worker.start();
});
afterAll(async () => {
  for (const release of gates.splice(0)) release();
  await worker?.close(1000);
  await fixture?.close();
});

const request = async (method: 'GET' | 'PUT', url: string, payload?: unknown) => {
  const response = await fixture.app.inject({ method, url, ...(payload !== undefined && { payload: payload as Record<string, unknown> }) });
  return { status: response.statusCode, body: response.json() as Record<string, unknown> };
};

describe('PUT /queues/:name/limits', () => {
  it('sets a queue\'s limits, shows them in GET /queues and GET /queues/:name, and lifts them with {}', async () => {
    const set = await request('PUT', '/queues/bulk/limits', { rate: { max: 100, perMs: 1000 }, concurrency: 5 });
    expect(set).toEqual({ status: 200, body: { name: 'bulk', limits: { rate: { max: 100, perMs: 1000 }, concurrency: 5 } } });
    const listed = (await request('GET', '/queues')).body.queues as { name: string; limits: unknown }[];
    expect(listed.map(({ name, limits }) => [name, limits])).toEqual([['default', {}], ['bulk', { rate: { max: 100, perMs: 1000 }, concurrency: 5 }]]);
    expect((await request('GET', '/queues/bulk')).body.limits).toEqual({ rate: { max: 100, perMs: 1000 }, concurrency: 5 });
    expect(await request('PUT', '/queues/bulk/limits', {})).toEqual({ status: 200, body: { name: 'bulk', limits: {} } });
    expect((await request('GET', '/queues/bulk')).body.limits).toEqual({});
  });

  it('sets a queue\'s groupConcurrency, with its other limits or alone, and shows it in GET /queues and GET /queues/:name', async () => {
    const set = await request('PUT', '/queues/bulk/limits', { concurrency: 20, groupConcurrency: 3 });
    expect(set).toEqual({ status: 200, body: { name: 'bulk', limits: { concurrency: 20, groupConcurrency: 3 } } });
    const listed = (await request('GET', '/queues')).body.queues as { name: string; limits: unknown }[];
    expect(listed.find(({ name }) => name === 'bulk')?.limits).toEqual({ concurrency: 20, groupConcurrency: 3 });
    expect(await request('PUT', '/queues/bulk/limits', { groupConcurrency: 100_000 })).toEqual({ status: 200, body: { name: 'bulk', limits: { groupConcurrency: 100_000 } } });
    expect((await request('GET', '/queues/bulk')).body.limits).toEqual({ groupConcurrency: 100_000 });
    await request('PUT', '/queues/bulk/limits', {});
  });

  it.each([0, 100_001, 1.5, '3'])('refuses groupConcurrency %j with a 400 naming the field', async (groupConcurrency) => {
    const refused = await request('PUT', '/queues/bulk/limits', { groupConcurrency });
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ error: { code: 'VALIDATION_ERROR', message: expect.stringContaining('groupConcurrency') } });
  });

  it('refuses limits out of range or of unknown fields with a 400 that names the field, and an unknown queue with a 404', async () => {
    const zero = await request('PUT', '/queues/bulk/limits', { rate: { max: 0, perMs: 1000 } });
    expect(zero.status).toBe(400);
    expect(JSON.stringify(zero.body)).toContain('max');
    const text = await request('PUT', '/queues/bulk/limits', { concurrency: '5' });
    expect(text.status).toBe(400);
    const unknown = await request('PUT', '/queues/bulk/limits', { burst: 5 });
    expect(unknown.status).toBe(400);
    expect(JSON.stringify(unknown.body)).toContain('burst');
    expect((await request('PUT', '/queues/emails/limits', { concurrency: 1 })).body).toMatchObject({ error: { code: 'UNKNOWN_QUEUE' } });
  });
});

describe('limits in what the API shows', () => {
  it('shows a type\'s limits in GET /job-types, and the jobs its cap holds back in GET /queues/:name', async () => {
    await waitFor('the worker\'s types to be known', async () => ((await request('GET', '/job-types')).body.types as { name: string }[]).some((type) => type.name === 'limited'));
    const types = (await request('GET', '/job-types')).body.types as { name: string; limits: unknown }[];
    expect(types.find((type) => type.name === 'limited')?.limits).toEqual({ rate: { max: 10, perMs: 60_000 }, concurrency: 1 });
    for (let n = 0; n < 3; n += 1) await fixture.submit({ type: 'limited', payload: {} });
    const stats = await waitFor('two jobs to be held back by the cap', async () => {
      const { body } = await request('GET', '/queues/default');
      return (body.heldByLimits as Record<string, number>).limited === 2 ? body : null;
    });
    expect(stats.processingByType).toEqual({ limited: 1 });
  });
});
