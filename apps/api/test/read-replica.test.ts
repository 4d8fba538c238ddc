import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, isolatedConfig, type TestDatabase } from '../../../test/support/context';
import { startApp, type AppFixture } from './fixture';

const config = isolatedConfig('api-read-replica');
let fixture: AppFixture;
// A second schema stands in for a replica: it holds what the primary held when it last caught up.
let replica: TestDatabase;

/** A finished job's row, as the recorder writes it, with an id of today (the history is partitioned by the day an id names). */
async function insertJob(database: TestDatabase, id: string, type: string): Promise<void> {
  await database.pool.query(
    `INSERT INTO jobs (id, queue, type, payload, status, max_attempts, run_at, created_at, updated_at)
     VALUES ($1, 'default', $2, '{}', 'completed', 3, now(), now(), now())`,
    [id, type],
  );
}

/** A UUIDv7 of now, as Sluice makes job ids. */
function jobIdOfNow(tail: string): string {
  const ms = Date.now().toString(16).padStart(12, '0');
  return `${ms.slice(0, 8)}-${ms.slice(8)}-7000-8000-${tail.padStart(12, '0')}`;
}

beforeAll(async () => {
  replica = await createTestDatabase(isolatedConfig('api-read-replica-copy'));
  fixture = await startApp(config, { readDatabase: replica });
});
afterAll(async () => {
  await fixture?.close();
  await replica?.drop();
});

describe('DATABASE_READ_URL: lists and finished jobs read from a replica', () => {
  it('lists from the replica, reads a finished job from it, and reads one it has not caught up with from the primary', async () => {
    const onBoth = jobIdOfNow('a1');
    const onPrimaryOnly = jobIdOfNow('b2');
    await insertJob(fixture.database, onBoth, 'email');
    await insertJob(replica, onBoth, 'webhook');
    await insertJob(fixture.database, onPrimaryOnly, 'email');

    const list = (await fixture.app.inject({ method: 'GET', url: '/jobs' })).json() as { jobs: { id: string; type: string }[] };
    expect(list.jobs.map((job) => [job.id, job.type])).toEqual([[onBoth, 'webhook']]);
    const fromReplica = await fixture.app.inject({ method: 'GET', url: `/jobs/${onBoth}` });
    expect(fromReplica.json()).toMatchObject({ id: onBoth, type: 'webhook' });
    const fromPrimary = await fixture.app.inject({ method: 'GET', url: `/jobs/${onPrimaryOnly}` });
    expect(fromPrimary.statusCode).toBe(200);
    expect(fromPrimary.json()).toMatchObject({ id: onPrimaryOnly, type: 'email', status: 'completed' });
  });
});
