import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobEventsInsertBatch } from '../src/history/job-events-repository';
import { jobsFindWithHistory, jobsList } from '../src/history/jobs-repository';
import { createTestDatabase, isolatedConfig, type TestDatabase } from '../../../test/support/context';

/**
 * The recorder's one statement, fed events in the events stream's own format (one JSON array per
 * script call) in the orders a recorder can meet them: whole lives, lives split across batches,
 * batches written twice or re-read with more entries after a crash.
 */
const config = isolatedConfig('history-batches');
let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase(config);
});

afterAll(async () => {
  await database?.drop();
});

const T0 = Date.parse('2030-01-01T00:00:00Z');
type Event = Record<string, string | number>;

function submitted(job: string, extra: Event = {}): Event {
  return {
    job, seq: 1, status: 'pending', attempt: 0, at: T0, queue: 'default', type: 'noop', payload: '{"n":1}',
    maxAttempts: '3', priority: '0', runAt: String(T0), idempotencyKey: '', ...extra,
  };
}
const event = (job: string, seq: number, status: string, attempt: number, extra: Event = {}): Event => ({ job, seq, status, attempt, at: T0 + seq * 1000, ...extra });
const entry = (...events: Event[]): string => JSON.stringify(events);

async function row(id: string): Promise<Record<string, unknown>> {
  const { rows } = await database.pool.query(
    `SELECT status, attempts, last_seq, last_error, result, finished_at, idempotency_key, created_at, updated_at FROM jobs WHERE id = $1`, [id],
  );
  return rows[0] as Record<string, unknown>;
}

async function history(id: string): Promise<string> {
  const { rows } = await database.pool.query<{ h: string }>(
    `SELECT string_agg(seq || ':' || status || ':' || attempt || coalesce(':' || error, ''), ' ' ORDER BY seq) AS h FROM job_events WHERE job_id = $1`, [id],
  );
  return rows[0]?.h ?? '';
}

describe('writing a batch of events to PostgreSQL', () => {
  it('stores a whole life from one batch as one row in its final state, with every event', async () => {
    const id = randomUUID();
    await jobEventsInsertBatch(database.pool, [
      entry(submitted(id)),
      entry(event(id, 2, 'processing', 1, { worker: 'w1' })),
      entry(event(id, 3, 'completed', 1, { worker: 'w1', result: '{"ok":true}' })),
    ]);
    expect(await row(id)).toMatchObject({
      status: 'completed', attempts: 1, last_seq: 3, result: { ok: true }, finished_at: new Date(T0 + 3000), created_at: new Date(T0), updated_at: new Date(T0 + 3000),
    });
    expect(await history(id)).toBe('1:pending:0 2:processing:1 3:completed:1');
  });

  it('changes nothing when a batch is written twice, or an older one after a newer', async () => {
    const id = randomUUID();
    const first = [entry(submitted(id))];
    const second = [entry(event(id, 2, 'processing', 1)), entry(event(id, 3, 'completed', 1))];
    await jobEventsInsertBatch(database.pool, first);
    await jobEventsInsertBatch(database.pool, second);
    await jobEventsInsertBatch(database.pool, second);
    await jobEventsInsertBatch(database.pool, first);
    expect(await row(id)).toMatchObject({ status: 'completed', attempts: 1, last_seq: 3 });
    expect(await history(id)).toBe('1:pending:0 2:processing:1 3:completed:1');
  });

  it('takes the newest state when a batch is re-read with more entries than were written', async () => {
    const id = randomUUID();
    const entries = [entry(submitted(id)), entry(event(id, 2, 'processing', 1)), entry(event(id, 3, 'completed', 1, { result: '7' }))];
    await jobEventsInsertBatch(database.pool, entries.slice(0, 2));
    await jobEventsInsertBatch(database.pool, entries);
    expect(await row(id)).toMatchObject({ status: 'completed', last_seq: 3, result: 7 });
  });

  it('keeps the newest error across retries and clears finished_at when a dead job is sent back', async () => {
    const id = randomUUID();
    await jobEventsInsertBatch(database.pool, [
      entry(submitted(id)),
      entry(event(id, 2, 'processing', 1)),
      entry(event(id, 3, 'failed', 1, { error: 'boom' }), event(id, 4, 'dead', 1, { reason: 'exhausted', error: 'boom' })),
    ]);
    expect(await row(id)).toMatchObject({ status: 'dead', last_error: 'boom', finished_at: new Date(T0 + 4000) });
    await jobEventsInsertBatch(database.pool, [entry(event(id, 5, 'pending', 0, { reason: 'retried from the dead-letter stream' }))]);
    expect(await row(id)).toMatchObject({ status: 'pending', last_error: 'boom', finished_at: null, last_seq: 5 });
    await jobEventsInsertBatch(database.pool, [
      entry(event(id, 6, 'processing', 1)),
      entry(event(id, 7, 'failed', 1, { error: 'again' }), event(id, 8, 'retrying', 1, { nextAt: String(T0 + 60_000) })),
    ]);
    expect(await row(id)).toMatchObject({ status: 'retrying', attempts: 1, last_error: 'again', finished_at: null, last_seq: 8 });
    expect(await history(id)).toBe('1:pending:0 2:processing:1 3:failed:1:boom 4:dead:1:boom 5:pending:0 6:processing:1 7:failed:1:again 8:retrying:1');
  });

  it.each([
    ['its id cannot be found in the JSON as the events stream writes it', randomUUID(), (events: Event[]) => JSON.stringify(events, null, 1)],
    ['its id tells a time past what a UUIDv7 can', 'ffffffff-ffff-4fff-bfff-ffffffffffff', (events: Event[]) => JSON.stringify(events)],
  ])('records the newest state of a job when %s, and of the others in its batch', async (_case, id, write) => {
    const other = randomUUID();
    await jobEventsInsertBatch(database.pool, [entry(submitted(id)), entry(submitted(other))]);
    await jobEventsInsertBatch(database.pool, [
      write([event(id, 2, 'processing', 1), event(id, 3, 'completed', 1, { result: '1' })]), entry(event(other, 2, 'processing', 1)),
    ]);
    expect(await row(id)).toMatchObject({ status: 'completed', attempts: 1, last_seq: 3, result: 1 });
    expect(await history(id)).toBe('1:pending:0 2:processing:1 3:completed:1');
    expect(await row(other)).toMatchObject({ status: 'processing', last_seq: 2 });
  });

  it('keeps the idempotency key of a job submitted with a key an older job used (after the window), and finds both by it', async () => {
    const [older, newer] = [randomUUID(), randomUUID()];
    await jobEventsInsertBatch(database.pool, [entry(submitted(older, { idempotencyKey: 'order-42' }))]);
    await jobEventsInsertBatch(database.pool, [entry(submitted(newer, { idempotencyKey: 'order-42', at: T0 + 60_000 })), entry(event(newer, 2, 'processing', 1))]);
    expect(await row(older)).toMatchObject({ idempotency_key: 'order-42', status: 'pending' });
    expect(await row(newer)).toMatchObject({ idempotency_key: 'order-42', status: 'processing', last_seq: 2 });
    const page = await jobsList(database.db, { idempotencyKey: 'order-42', limit: 10 });
    expect(page.jobs.map((job) => job.id)).toEqual([newer, older]);
  });

  it('stores the fair group the first event carries, keeps it through the events after, and finds the group\'s jobs by it', async () => {
    const [grouped, other, plain] = [randomUUID(), randomUUID(), randomUUID()];
    await jobEventsInsertBatch(database.pool, [entry(submitted(grouped, { group: 'tenant/acme' })), entry(submitted(plain))]);
    await jobEventsInsertBatch(database.pool, [
      entry(event(grouped, 2, 'processing', 1)), entry(submitted(other, { group: 'tenant/acme', at: T0 + 60_000 })), entry(event(grouped, 3, 'completed', 1)),
    ]);
    expect(await jobsFindWithHistory(database.db, grouped)).toMatchObject({ status: 'completed', group: 'tenant/acme' });
    expect(await jobsFindWithHistory(database.db, plain)).toMatchObject({ group: null });
    const page = await jobsList(database.db, { group: 'tenant/acme', limit: 10 });
    expect(page.jobs.map((job) => [job.id, job.group])).toEqual([[other, 'tenant/acme'], [grouped, 'tenant/acme']]);
    expect((await jobsList(database.db, { group: 'tenant/acme', status: 'pending', limit: 10 })).jobs.map((job) => job.id)).toEqual([other]);
  });
});
