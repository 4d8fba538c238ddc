import { afterAll, describe, expect, it } from 'vitest';
import { HistoryMaintenance } from '../src/history/history-maintenance';
import { dayOf, partitionName } from '../src/history/partitions';
import { createTestDatabase, isolatedConfig, type TestDatabase } from '../../../test/support/context';

/** The GIN index behind GET /jobs?payload= is on every partition of jobs, those made by migration and by maintenance alike. */
let database: TestDatabase | undefined;

afterAll(async () => {
  await database?.drop();
});

describe('payload index', () => {
  it('is on every partition of jobs, including days HistoryMaintenance creates later', async () => {
    database = await createTestDatabase(isolatedConfig('payload-index'));
    const later = dayOf(Date.now()) + 40;
    const run = await new HistoryMaintenance({ pool: database.pool, retentionDays: 3650, now: () => later * 86_400_000 }).runOnce();
    expect(run?.created).toContain(partitionName('jobs', later));
    const { rows } = await database.pool.query<{ partition: string; indexdef: string | null }>(
      `SELECT child.relname AS partition, index.indexdef
       FROM pg_inherits
       JOIN pg_class child ON child.oid = pg_inherits.inhrelid
       JOIN pg_class parent ON parent.oid = pg_inherits.inhparent
       LEFT JOIN pg_indexes index ON index.schemaname = current_schema() AND index.tablename = child.relname AND index.indexname = child.relname || '_payload_idx'
       WHERE parent.relnamespace = current_schema()::regnamespace AND parent.relname = 'jobs'`,
    );
    expect(rows.map((row) => row.partition)).toEqual(expect.arrayContaining(['jobs_default', partitionName('jobs', later), partitionName('jobs', later + 7)]));
    for (const row of rows) expect(row.indexdef, row.partition).toMatch(/USING gin \(payload jsonb_path_ops\)/);
  });
});
