import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { closeRedis, createRedis, queueKeys, waitForRedis } from '@sluice/core';
import { isolatedConfig } from '../../../test/support/context';
import { startApp, type AppFixture } from './fixture';

/** A job's fair group through the API: what a submission, a job and a filter carry. */
const config = isolatedConfig('api-groups', { QUEUES: 'default,emails' });
let fixture: AppFixture;

beforeAll(async () => {
  fixture = await startApp(config);
});
afterAll(async () => {
  await fixture?.close();
});

const post = (url: string, payload: Record<string, unknown>) => fixture.app.inject({ method: 'POST', url, payload });
const getJob = async (id: string) => (await fixture.app.inject({ method: 'GET', url: `/jobs/${id}` })).json() as Record<string, unknown>;
/** Jobs added to queue default, whatever their state. */
const added = async () => {
  const { queues } = (await fixture.app.inject({ method: 'GET', url: '/queues' })).json() as { queues: { name: string; counts: Record<string, number> }[] };
  return Object.values(queues.find(({ name }) => name === 'default')?.counts ?? {}).reduce((sum, count) => sum + count, 0);
};

describe('a submission\'s group', () => {
  it('is passed to the queue from POST /jobs and from each job of POST /jobs/bulk', async () => {
    const add = vi.spyOn(fixture.queue, 'add');
    const addBulk = vi.spyOn(fixture.queue, 'addBulk');
    try {
      expect((await post('/jobs', { type: 'noop', payload: {}, group: 'tenant/acme+eu=1@x' })).statusCode).toBe(202);
      expect(add.mock.calls[0]?.[2]).toMatchObject({ group: 'tenant/acme+eu=1@x' });
      const bulk = await post('/jobs/bulk', { jobs: [{ type: 'noop', payload: {}, group: 'acme' }, { type: 'noop', payload: {} }] });
      expect(bulk.statusCode).toBe(202);
      expect(addBulk.mock.calls[0]?.[0].map((job) => job.group)).toEqual(['acme', undefined]);
    } finally {
      add.mockRestore();
      addBulk.mockRestore();
    }
  });

  it.each([
    ['an empty group', ''],
    ['a group of 129 characters', 'g'.repeat(129)],
    ['a group with a space', 'acme corp'],
    ['a group with a character outside the pattern', 'acme#1'],
    ['a group that is not a string', 7],
  ])('refuses %s with a 400 naming the field, adding nothing', async (_case, group) => {
    const before = await added();
    for (const response of [
      await post('/jobs', { type: 'noop', payload: {}, group }),
      await post('/jobs/bulk', { jobs: [{ type: 'noop', payload: {} }, { type: 'noop', payload: {}, group }] }),
    ]) {
      expect(response.statusCode).toBe(400);
      expect(response.json()).toMatchObject({ error: { code: 'VALIDATION_ERROR', message: expect.stringMatching(/group must (match pattern|be string)/) } });
    }
    expect(await added()).toBe(before);
  });
});

describe('a job\'s group in GET /jobs/:id', () => {
  it('is the group its hash holds while Redis has the job, and null for a job without one', async () => {
    const id = await fixture.submit({ type: 'noop', payload: {} });
    expect(await getJob(id)).toMatchObject({ id, group: null });
    // A connection of the configured kind: under a cluster, the job's hash is on its slot's node.
    const redis = createRedis(config.redis);
    await waitForRedis(redis, 5000);
    await redis.hset(queueKeys(config.redis.prefix, 'default').job(id), 'group', 'acme').finally(() => closeRedis(redis));
    expect(await getJob(id)).toMatchObject({ id, group: 'acme' });
  });

  it('is the group PostgreSQL recorded once Redis no longer has the job', async () => {
    const id = '019a0000-0000-7000-8000-000000000001';
    await fixture.database.pool.query(
      `INSERT INTO jobs (id, queue, type, payload, status, max_attempts, run_at, created_at, updated_at, "group")
       VALUES ($1, 'default', 'noop', '{}', 'completed', 3, now(), now(), now(), 'tenant/acme')`,
      [id],
    );
    expect(await getJob(id)).toMatchObject({ id, status: 'completed', group: 'tenant/acme', waiting: null });
  });
});

describe('a group in the filter of a bulk action', () => {
  it('counts only the group\'s jobs the action applies to, and refuses a malformed group', async () => {
    await fixture.database.pool.query(
      `INSERT INTO jobs (id, queue, type, payload, status, max_attempts, run_at, created_at, updated_at, "group")
       SELECT ('019a0000-0000-7000-8000-0000000001' || lpad(n::text, 2, '0'))::uuid, 'emails', 'noop', '{}', 'dead', 3, now(), now(), now(),
              CASE WHEN n % 2 = 0 THEN 'globex' END
       FROM generate_series(1, 10) AS n`,
    );
    const count = async (filter: Record<string, unknown>) => post('/jobs/actions/retry/matching/count', filter);
    expect((await count({ group: 'globex' })).json()).toEqual({ count: 5 });
    expect((await count({ group: 'globex', queue: 'default' })).json()).toEqual({ count: 0 });
    const refused = await count({ group: 'no spaces' });
    expect(refused.statusCode).toBe(400);
    expect(refused.json()).toMatchObject({ error: { code: 'VALIDATION_ERROR', message: expect.stringContaining('group must match pattern') } });
  });
});
