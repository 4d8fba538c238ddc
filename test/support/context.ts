import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { applyMigrations, createDatabase, createPool, loadConfig, type Database, type SluiceConfig } from '@sluice/core';

export { waitFor } from './wait-for';

/**
 * A configuration isolated for one test file: its own Redis key prefix and its own PostgreSQL
 * schema, on the servers named by REDIS_URL / DATABASE_URL (this machine's defaults otherwise).
 */
export function isolatedConfig(label: string, env: Record<string, string> = {}): SluiceConfig {
  const id = randomUUID().slice(0, 8);
  const safe = label.toLowerCase().replace(/[^a-z0-9]/g, '_');
  return loadConfig({
    REDIS_URL: process.env.REDIS_URL,
    DATABASE_URL: process.env.DATABASE_URL,
    REDIS_PREFIX: `test-${safe}-${id}`,
    DATABASE_SCHEMA: `test_${safe}_${id}`,
    WORKER_BLOCK_MS: '200',
    LOG_LEVEL: 'silent',
    ...env,
  });
}

/** The environment a child process needs to share `config`'s Redis prefix and schema. */
export function envFor(config: SluiceConfig): Record<string, string> {
  return {
    REDIS_URL: config.redis.url,
    REDIS_PREFIX: config.redis.prefix,
    DATABASE_URL: config.postgres.url,
    DATABASE_SCHEMA: config.postgres.schema,
    QUEUES: config.queue.queues.join(','),
    WORKER_BLOCK_MS: String(config.worker.blockMs),
  };
}

/** A migrated schema of its own, with a pool and drizzle on it, and a `drop` that removes it all. */
export interface TestDatabase {
  pool: pg.Pool;
  db: Database;
  drop(): Promise<void>;
}

/** Creates and migrates `config`'s schema. */
export async function createTestDatabase(config: SluiceConfig): Promise<TestDatabase> {
  await applyMigrations(config.postgres);
  const pool = createPool(config.postgres);
  return {
    pool,
    db: createDatabase(pool),
    async drop() {
      await pool.query(`DROP SCHEMA IF EXISTS "${config.postgres.schema}" CASCADE`);
      await pool.end();
    },
  };
}

/** Deletes every Redis key under `config`'s prefix. */
export async function dropRedisKeys(config: SluiceConfig): Promise<void> {
  const { Redis } = await import('ioredis');
  const redis = new Redis(config.redis.url, { retryStrategy: () => null, maxRetriesPerRequest: 0 });
  redis.on('error', () => undefined);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${config.redis.prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
