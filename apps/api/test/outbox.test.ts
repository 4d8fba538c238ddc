import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OutboxRelay, type BulkJob } from '@sluice/core';
import { isolatedConfig } from '../../../test/support/context';
import { startApp, type AppFixture } from './fixture';

const config = isolatedConfig('api-outbox');
let fixture: AppFixture;

beforeAll(async () => {
  fixture = await startApp(config);
});
afterAll(async () => {
  await fixture?.close();
});

/** Enqueues `jobs` in a transaction that `end` finishes (COMMIT, ROLLBACK), after `meanwhile` runs with it open. */
async function inTransaction(jobs: BulkJob[], end: 'COMMIT' | 'ROLLBACK', meanwhile: (ids: string[]) => Promise<void> = async () => undefined): Promise<string[]> {
  const client = await fixture.database.pool.connect();
  try {
    await client.query('BEGIN');
    const ids = (await fixture.queue.enqueueInTransaction(client, jobs)).map(({ id }) => id);
    await meanwhile(ids);
    await client.query(end);
    return ids;
  } finally {
    client.release();
  }
}

const get = (id: string) => fixture.app.inject({ method: 'GET', url: `/jobs/${id}` });

const gauge = async (name: string): Promise<number> => {
  const text = (await fixture.app.inject({ method: 'GET', url: '/metrics' })).body;
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name} `));
  return Number(line?.slice(name.length + 1));
};

describe('a job enqueued in a transaction, seen through the API', () => {
  it('GET /jobs/:id answers for a committed job still in the outbox: pending or scheduled, outbox: true, no history yet', async () => {
    const [ready, later] = await inTransaction([
      { type: 'noop', payload: { n: 1 }, priority: 10, idempotencyKey: 'outbox-read', group: 'tenant-1' },
      { type: 'noop', payload: {}, delay: 60_000 },
    ], 'COMMIT');
    const readyView = await get(ready as string);
    expect(readyView.statusCode).toBe(200);
    expect(readyView.json()).toMatchObject({
      id: ready, queue: 'default', type: 'noop', payload: { n: 1 }, status: 'pending', outbox: true, attempts: 0, priority: 10,
      idempotencyKey: 'outbox-read', group: 'tenant-1', history: [], waiting: null,
    });
    const laterView = (await get(later as string)).json() as { status: string; runAt: string; createdAt: string; outbox: boolean };
    expect(laterView).toMatchObject({ status: 'scheduled', outbox: true });
    expect(Date.parse(laterView.runAt) - Date.parse(laterView.createdAt)).toBe(60_000);

    expect(await gauge('sluice_outbox_rows')).toBe(2);
    expect(await gauge('sluice_outbox_oldest_seconds')).toBeGreaterThanOrEqual(0);

    // Once relayed, Redis answers, without the outbox mark, and the outbox is empty.
    await new OutboxRelay({ pool: fixture.database.pool, schema: config.postgres.schema, queue: fixture.queue }).runOnce();
    const relayed = (await get(ready as string)).json() as Record<string, unknown>;
    expect(relayed).toMatchObject({ status: 'pending', history: [{ status: 'pending', attempt: 0 }] });
    expect(relayed).not.toHaveProperty('outbox');
    expect(await gauge('sluice_outbox_rows')).toBe(0);
    expect(await gauge('sluice_outbox_oldest_seconds')).toBe(0);
  });

  it('GET /jobs/:id is 404 for a job whose transaction is still open, and for one rolled back', async () => {
    const [rolledBack] = await inTransaction([{ type: 'noop', payload: {} }], 'ROLLBACK', async ([open]) => {
      expect((await get(open as string)).statusCode).toBe(404);
    });
    const response = await get(rolledBack as string);
    expect(response.statusCode).toBe(404);
    expect(response.json()).toMatchObject({ error: { code: 'JOB_NOT_FOUND' } });
  });

  it('GET /jobs/:id is 404, not a 500, for an outbox row the relay cannot read; once set aside, sluice_outbox_set_aside_entries counts it', async () => {
    const id = '00000000-0000-7000-8000-00000000000a';
    await fixture.database.pool.query('INSERT INTO job_outbox (id, queue, submission) VALUES ($1, $2, $3::jsonb)', [id, 'default', '{"type": "noop"}']);
    const response = await get(id);
    expect(response.statusCode).toBe(404);
    expect(response.json()).toMatchObject({ error: { code: 'JOB_NOT_FOUND' } });
    expect(await gauge('sluice_outbox_set_aside_entries')).toBe(0);
    await new OutboxRelay({ pool: fixture.database.pool, schema: config.postgres.schema, queue: fixture.queue }).runOnce();
    expect(await gauge('sluice_outbox_rows')).toBe(0);
    expect(await gauge('sluice_outbox_set_aside_entries')).toBe(1);
  });
});
