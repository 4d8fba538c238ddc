import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import type { PostgresConfig } from '../config.js';
import { PostgresUnavailableError } from '../errors.js';
import * as schema from './schema.js';

/** Drizzle over a pool, with Sluice's tables. */
export type Database = NodePgDatabase<typeof schema>;

/** A client's own limit on waiting for a statement's answer, for a server that stopped answering. */
const QUERY_TIMEOUT_MS = 15_000;

/**
 * The API's limit on one statement, which PostgreSQL enforces. A client that merely stops waiting
 * leaves the statement running, so each retry of a slow read (a payload search on a history without
 * its index, months of rollups) would hold one more backend. Workers have none: their recorder's
 * batch statement must finish however large the batch, and a cancelled one would be retried whole.
 */
export const API_STATEMENT_TIMEOUT_MS = 15_000;

/** Settings of a pool beyond its `PostgresConfig`. */
export interface PoolOptions {
  /** Milliseconds after which PostgreSQL cancels a statement of the pool's; none by default. */
  statementTimeoutMs?: number;
}

/** A pool whose connections use the configured schema, and fail fast rather than hang when PostgreSQL is gone. */
export function createPool(config: PostgresConfig, options: PoolOptions = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString: config.url,
    max: config.poolSize,
    connectionTimeoutMillis: 2000,
    idleTimeoutMillis: 30_000,
    // Past the statement limit, so that PostgreSQL's cancel, which says why, arrives first.
    query_timeout: options.statementTimeoutMs === undefined ? QUERY_TIMEOUT_MS : options.statementTimeoutMs + 5_000,
    ...(options.statementTimeoutMs !== undefined && { statement_timeout: options.statementTimeoutMs }),
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

/** SQLSTATE classes and codes that mean "PostgreSQL cannot serve right now", not "this query is wrong". */
const UNAVAILABLE_SQLSTATES = [/^08/, /^57P0[123]$/, /^53300$/];
/** SQLSTATE of a statement cancelled, by its statement_timeout among others. */
const QUERY_CANCELED = '57014';
const UNAVAILABLE_MESSAGES = /timeout|terminated|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|Connection ended|not queryable/i;

/**
 * Maps what a PostgreSQL call threw to what callers act on: a lost or refused connection, or a
 * timeout, becomes `PostgresUnavailableError` (a 503, retried later); anything else is passed through.
 * Drizzle wraps the driver's error, so its `cause` is looked at too.
 */
export function toPostgresError(error: unknown): unknown {
  if (error instanceof PostgresUnavailableError) return error;
  const cause = (error as { cause?: unknown } | null)?.cause;
  const mapped = cause === undefined ? undefined : toPostgresError(cause);
  if (mapped instanceof PostgresUnavailableError) return mapped;
  const code = (error as { code?: unknown }).code;
  if (code === QUERY_CANCELED && error instanceof Error && /statement timeout/.test(error.message)) {
    // Asking again will not help: say what will.
    return new PostgresUnavailableError(new Error('the statement ran past the time allowed and was cancelled; ask for less: a shorter range or a narrower filter', { cause: error }));
  }
  if (typeof code === 'string' && UNAVAILABLE_SQLSTATES.some((pattern) => pattern.test(code))) return new PostgresUnavailableError(error);
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return new PostgresUnavailableError(error);
  if (error instanceof Error && UNAVAILABLE_MESSAGES.test(error.message)) return new PostgresUnavailableError(error);
  return error;
}
