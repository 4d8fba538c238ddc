import { randomUUID } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyMigrations, assertSchemaCurrent, createDatabase, createPool, MIGRATIONS_FOLDER, type Database } from '@sluice/core';
import { jobsFindWithHistory, jobsList } from '../src/history/jobs-repository';
import { DAY_MS, dayOf, defaultPartitionName, partitionName } from '../src/history/partitions';
import { createTestDatabase, isolatedConfig, type TestDatabase } from '../../../test/support/context';
import { jobIdAt, partitionsOf, recordEvents, recordJob } from './support/history-lives';

/**
 * Migration 0002 on a database that already holds history: the unpartitioned tables of 0001 become
 * day partitions, and nothing a reader sees changes.
 */
const config = isolatedConfig('history-migration');
const pool = createPool(config.postgres);
const db = createDatabase(pool);
let folder: string;
/** A schema at the latest migration where the rows are recorded first, as the recorder writes them. */
const scratchConfig = isolatedConfig('history-migration-scratch');
let scratch: TestDatabase;

/** Applies the first `count` committed migrations, as an older version of Sluice did. */
async function migrateTo(count: number): Promise<void> {
  folder = mkdtempSync(join(tmpdir(), 'sluice-migrations-'));
  const journal = JSON.parse(readFileSync(join(MIGRATIONS_FOLDER, 'meta/_journal.json'), 'utf8')) as { entries: { tag: string }[] };
  journal.entries = journal.entries.slice(0, count);
  cpSync(MIGRATIONS_FOLDER, folder, { recursive: true });
  writeFileSync(join(folder, 'meta/_journal.json'), JSON.stringify(journal));
  await pool.query(`CREATE SCHEMA IF NOT EXISTS "${config.postgres.schema}"`);
  await migrate(db, { migrationsFolder: folder, migrationsSchema: config.postgres.schema, migrationsTable: '__drizzle_migrations' });
}

beforeAll(async () => {
  await migrateTo(2);
  scratch = await createTestDatabase(scratchConfig);
});

afterAll(async () => {
  await scratch?.drop();
  await pool.query(`DROP SCHEMA IF EXISTS "${config.postgres.schema}" CASCADE`);
  await pool.end();
  rmSync(folder, { recursive: true, force: true });
});

/**
 * Everything the repositories read about `ids`, and the raw rows besides. This code reads the latest
 * schema only, so what the migrated schema reads is compared with the scratch schema's, which holds the
 * same rows at the latest migration.
 */
async function readAll(database: Database, rowsOf: pg.Pool, ids: string[]) {
  return {
    jobs: await Promise.all(ids.map((id) => jobsFindWithHistory(database, id))),
    listed: (await jobsList(database, { limit: 100 })).jobs,
    byKey: (await jobsList(database, { idempotencyKey: 'order-1', limit: 10 })).jobs,
    rows: (await rowsOf.query('SELECT to_jsonb(jobs) AS row FROM jobs ORDER BY id')).rows,
    events: (await rowsOf.query('SELECT to_jsonb(job_events) AS row FROM job_events ORDER BY job_id, seq')).rows,
  };
}

describe('migrating the history to day partitions', () => {
  it('keeps every row of a database at migration 0001, reading the same, each in the partition of its id\'s day', async () => {
    const now = Date.now();
    const at = { old: now - 40 * DAY_MS, recent: now - 2 * DAY_MS, today: now, farAhead: now + 100 * DAY_MS };
    const ids = { old: jobIdAt(at.old), recent: jobIdAt(at.recent), today: jobIdAt(at.today), farAhead: jobIdAt(at.farAhead), notV7: randomUUID() };
    await recordJob(scratch.pool, ids.old, at.old, { then: ['processing', 'failed', 'retrying', 'processing', 'completed'], idempotencyKey: 'order-1' });
    await recordJob(scratch.pool, ids.recent, at.recent, { then: ['processing', 'failed', 'dead'] });
    await recordJob(scratch.pool, ids.today, at.today, { first: 'scheduled' });
    await recordJob(scratch.pool, ids.farAhead, at.farAhead, { then: ['processing'] });
    await recordJob(scratch.pool, ids.notV7, now, { then: ['processing', 'completed'] });
    const recorded = scratchConfig.postgres.schema;
    // The columns of migration 0001's jobs, which later migrations add to.
    const { rows: columns } = await pool.query<{ name: string }>(
      `SELECT column_name AS name FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'jobs' ORDER BY ordinal_position`, [config.postgres.schema]);
    const list = columns.map(({ name }) => `"${name}"`).join(', ');
    await pool.query(`INSERT INTO jobs (${list}) SELECT ${list} FROM "${recorded}".jobs; INSERT INTO job_events SELECT * FROM "${recorded}".job_events`);
    const { rows: copied } = await pool.query<{ jobs: string; events: string }>('SELECT (SELECT count(*) FROM jobs) AS jobs, (SELECT count(*) FROM job_events) AS events');
    expect(copied).toEqual([{ jobs: '5', events: '16' }]);
    const expected = await readAll(scratch.db, scratch.pool, Object.values(ids));
    expect([expected.jobs.filter(Boolean).length, expected.rows.length, expected.events.length, expected.byKey.length]).toEqual([5, 5, 16, 1]);

    await applyMigrations(config.postgres);

    await expect(assertSchemaCurrent(pool, config.postgres.schema)).resolves.toBeUndefined();
    expect(await readAll(db, pool, Object.values(ids))).toEqual(expected);
    const jobs = await partitionsOf(pool, 'jobs');
    const events = await partitionsOf(pool, 'job_events');
    for (const name of ['old', 'recent', 'today'] as const) {
      expect(jobs[ids[name]]).toEqual([partitionName('jobs', dayOf(at[name]))]);
      expect(events[ids[name]]).toEqual([partitionName('job_events', dayOf(at[name]))]);
    }
    // Ids of no day created (a clock far ahead, another UUID version) are kept in the default partitions.
    for (const id of [ids.farAhead, ids.notV7]) {
      expect(jobs[id]).toEqual([defaultPartitionName('jobs')]);
      expect(events[id]).toEqual([defaultPartitionName('job_events')]);
    }
    const { rows } = await pool.query<{ name: string }>(
      `SELECT relname AS name FROM pg_class WHERE relnamespace = current_schema()::regnamespace AND relname ~ '^jobs_p'`,
    );
    const today = dayOf(now);
    expect(rows.map((row) => row.name)).toEqual(expect.arrayContaining(
      [dayOf(at.old), dayOf(at.recent), ...Array.from({ length: 8 }, (_, ahead) => today + ahead)].map((day) => partitionName('jobs', day)),
    ));
  });

  it('records new jobs and events once migrated', async () => {
    const now = Date.now();
    const id = jobIdAt(now);
    await recordJob(pool, id, now, { first: 'scheduled' });
    await recordEvents(pool, id, 2, now, ['pending', 'processing', 'completed']);
    expect(await jobsFindWithHistory(db, id)).toMatchObject({ status: 'completed', history: [{ status: 'scheduled' }, {}, {}, { status: 'completed' }] });
    expect(await partitionsOf(pool, 'jobs')).toMatchObject({ [id]: [partitionName('jobs', dayOf(now))] });
  });
});
