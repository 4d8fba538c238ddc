import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import type { PostgresConfig } from '../config';
import * as schema from './schema';

/** Drizzle over a pool, with Sluice's tables. */
export type Database = NodePgDatabase<typeof schema>;

/** A pool whose connections use the configured schema, and fail fast rather than hang when PostgreSQL is gone. */
export function createPool(config: PostgresConfig): pg.Pool {
  const pool = new pg.Pool({
    connectionString: config.url,
    max: config.poolSize,
    connectionTimeoutMillis: 2000,
    idleTimeoutMillis: 30_000,
    query_timeout: 15_000,
    options: `-c search_path=${config.schema}`,
  });
  // An idle client losing its connection is an expected event: the pool replaces it on next use.
  pool.on('error', () => undefined);
  return pool;
}

/** Drizzle on top of `pool`. */
export function createDatabase(pool: pg.Pool): Database {
  return drizzle(pool, { schema });
}
