import type pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { HistoryMaintenance } from '../src/history/history-maintenance';
import { DAY_MS, dayOf, partitionName } from '../src/history/partitions';
import { createTestDatabase, isolatedConfig, type TestDatabase } from '../../../test/support/context';
import { jobIdAt, recordJob } from './support/history-lives';

/**
 * The GIN index behind GET /jobs?payload=, kept by HistoryMaintenance as HISTORY_PAYLOAD_INDEX says:
 * built on every partition of jobs, those made later included, and dropped when turned off.
 */
let database: TestDatabase | undefined;

afterAll(async () => {
  await database?.drop();
});

/** Each partition of jobs with the definition of its payload index, null where it has none or an unfinished one. */
async function payloadIndexes(pool: pg.Pool): Promise<Record<string, string | null>> {
  const { rows } = await pool.query<{ partition: string; definition: string | null }>(
    `SELECT child.relname AS partition, CASE WHEN pg_index.indisvalid THEN pg_get_indexdef(pg_index.indexrelid) END AS definition
     FROM pg_inherits
     JOIN pg_class child ON child.oid = pg_inherits.inhrelid
     JOIN pg_class parent ON parent.oid = pg_inherits.inhparent
     LEFT JOIN pg_class index ON index.relname = child.relname || '_payload_idx' AND index.relnamespace = child.relnamespace
     LEFT JOIN pg_index ON pg_index.indexrelid = index.oid
     WHERE parent.relnamespace = current_schema()::regnamespace AND parent.relname = 'jobs'`,
  );
  return Object.fromEntries(rows.map((row) => [row.partition, row.definition]));
}

describe('payload index', () => {
  it('is built on every partition of jobs, holding rows or made later, dropped when turned off and built again when on', async () => {
    database = await createTestDatabase(isolatedConfig('payload-index'));
    const today = dayOf(Date.now());
    await recordJob(database.pool, jobIdAt(Date.now() - 400 * DAY_MS), Date.now() - 400 * DAY_MS);
    const maintenance = (now: number, payloadIndex: boolean) =>
      new HistoryMaintenance({ pool: database!.pool, retentionDays: 3650, payloadIndex, now: () => now }).runOnce();

    expect(await maintenance(Date.now(), true)).toMatchObject({ payloadIndex: 'built' });
    const built = await payloadIndexes(database.pool);
    expect(Object.keys(built)).toEqual(expect.arrayContaining(['jobs_default', partitionName('jobs', today), partitionName('jobs', today + 7)]));
    for (const [partition, definition] of Object.entries(built)) expect(definition, partition).toMatch(/USING gin \(payload jsonb_path_ops\)/);
    expect(await maintenance(Date.now(), true)).toMatchObject({ payloadIndex: 'none' });

    const later = today + 40;
    expect((await maintenance(later * DAY_MS, true))?.created).toContain(partitionName('jobs', later));
    expect((await payloadIndexes(database.pool))[partitionName('jobs', later)]).toMatch(/USING gin \(payload jsonb_path_ops\)/);

    expect(await maintenance(later * DAY_MS, false)).toMatchObject({ payloadIndex: 'dropped' });
    expect(Object.values(await payloadIndexes(database.pool)).every((definition) => definition === null)).toBe(true);
    expect(await maintenance(later * DAY_MS, true)).toMatchObject({ payloadIndex: 'built' });
    expect(Object.values(await payloadIndexes(database.pool)).every((definition) => definition?.includes('jsonb_path_ops'))).toBe(true);
  });

  it('finishes a build cut short, and when turned off drops the partitions\' indexes it had not attached yet', async () => {
    const config = isolatedConfig('payload-index-cut');
    const cut = await createTestDatabase(config);
    try {
      const maintenance = (payloadIndex: boolean) => new HistoryMaintenance({ pool: cut.pool, retentionDays: 3650, payloadIndex }).runOnce();
      await maintenance(false);
      const today = partitionName('jobs', dayOf(Date.now()));
      const tomorrow = partitionName('jobs', dayOf(Date.now()) + 1);
      await recordJob(cut.pool, jobIdAt(Date.now()), Date.now());
      await recordJob(cut.pool, jobIdAt(Date.now() + 1), Date.now() + 1);
      // As a run stopped midway leaves them: the parent's index, one partition's built but not attached, one's failed (invalid).
      await cut.pool.query('CREATE INDEX jobs_payload_idx ON ONLY jobs USING gin (payload jsonb_path_ops)');
      await cut.pool.query(`CREATE INDEX CONCURRENTLY "${tomorrow}_payload_idx" ON "${tomorrow}" USING gin (payload jsonb_path_ops)`);
      await expect(cut.pool.query(`CREATE UNIQUE INDEX CONCURRENTLY "${today}_payload_idx" ON "${today}" ((1))`)).rejects.toThrow(/could not create unique index/);
      expect(await maintenance(false)).toMatchObject({ payloadIndex: 'dropped' });
      const { rows } = await cut.pool.query<{ name: string }>(
        "SELECT relname AS name FROM pg_class WHERE relnamespace = current_schema()::regnamespace AND relname LIKE '%payload_idx'",
      );
      expect(rows).toEqual([]);

      await cut.pool.query(`CREATE UNIQUE INDEX CONCURRENTLY "${today}_payload_idx" ON "${today}" ((1))`).catch(() => undefined);
      expect(await maintenance(true)).toMatchObject({ payloadIndex: 'built' });
      const indexes = await payloadIndexes(cut.pool);
      for (const [partition, definition] of Object.entries(indexes)) expect(definition, partition).toMatch(/USING gin \(payload jsonb_path_ops\)/);
    } finally {
      await cut.drop();
    }
  });
});

