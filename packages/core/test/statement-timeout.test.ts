import { afterAll, describe, expect, it } from 'vitest';
import { API_STATEMENT_TIMEOUT_MS, createPool, toPostgresError } from '../src/history/db';
import { PostgresUnavailableError } from '../src/errors';
import { HistoryMaintenance } from '../src/history/history-maintenance';
import { dayOf, partitionName } from '../src/history/partitions';
import { createTestDatabase, isolatedConfig, waitFor, type TestDatabase } from '../../../test/support/context';

/**
 * A statement the API's pool gives up on stops in PostgreSQL too: else a slow read (a payload search
 * on a history without its index) would go on using a backend and its CPU after its request was
 * answered 503, and every retry would add one more.
 */
const config = isolatedConfig('statement-timeout');
let database: TestDatabase | undefined;

afterAll(async () => {
  await database?.drop();
});

describe("the API pool's statement limit", () => {
  it('has PostgreSQL cancel a statement running past it, answered as PostgreSQL being unavailable', { timeout: 40_000 }, async () => {
    database = await createTestDatabase(config);
    const pool = createPool(config.postgres, { statementTimeoutMs: API_STATEMENT_TIMEOUT_MS });
    try {
      const marker = `statement-timeout-${process.pid}-${Date.now()}`;
      const error = await pool.query(`SELECT pg_sleep(30), '${marker}'`).then(() => undefined, (caught: unknown) => caught);
      expect((error as { code?: string }).code).toBe('57014');
      expect(toPostgresError(error)).toBeInstanceOf(PostgresUnavailableError);
      expect((toPostgresError(error) as Error).message).toMatch(/ran past the time allowed and was cancelled; ask for less/);
      // As drizzle wraps it, in the API's reads.
      expect((toPostgresError(new Error('Failed query', { cause: error })) as Error).message).toMatch(/ran past the time allowed/);
      const { rows } = await database.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%' || $1 || '%' AND pid <> pg_backend_pid()`,
        [marker],
      );
      expect(rows[0]?.n).toBe(0);
    } finally {
      await pool.end();
    }
  });

  it("lets the payload index's build run past it, and gives the connection back with it", { timeout: 60_000 }, async () => {
    database ??= await createTestDatabase(config);
    const pool = createPool(config.postgres, { statementTimeoutMs: API_STATEMENT_TIMEOUT_MS });
    const holder = await database.pool.connect();
    try {
      await new HistoryMaintenance({ pool, retentionDays: 30, payloadIndex: false }).runOnce();
      // A build waits for the transactions writing to its partition: this one outlasts the statement limit.
      await holder.query('BEGIN');
      await holder.query(`LOCK TABLE "${partitionName('jobs', dayOf(Date.now()))}" IN ROW EXCLUSIVE MODE`);
      const run = new HistoryMaintenance({ pool, retentionDays: 30, payloadIndex: true }).runOnce();
      await waitFor('an index build waiting past the statement limit', async () => {
        const { rows } = await database?.pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity
           WHERE query LIKE 'CREATE INDEX CONCURRENTLY%' AND state = 'active' AND now() - query_start > interval '${API_STATEMENT_TIMEOUT_MS + 1000} milliseconds'`,
        ) ?? { rows: [] };
        return rows[0]?.n === 1;
      }, API_STATEMENT_TIMEOUT_MS + 10_000, 200);
      await holder.query('COMMIT');
      expect((await run)?.payloadIndex).toBe('built');
      const { rows } = await pool.query<{ statement_timeout: string }>('SHOW statement_timeout');
      expect(rows[0]?.statement_timeout).toBe(`${API_STATEMENT_TIMEOUT_MS / 1000}s`);
    } finally {
      await holder.query('ROLLBACK').catch(() => undefined);
      holder.release();
      await pool.end();
    }
  });
});

