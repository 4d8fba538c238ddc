import { randomUUID } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import pg from 'pg';
import { inject } from 'vitest';
import { applyMigrations, createDatabase, createPool, loadConfig, type Database, type SluiceConfig } from '@sluice/core';

export { waitFor } from './wait-for';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Seed nodes (REDIS_CLUSTER_NODES) of the Redis Cluster test/support/cluster-setup.ts starts for the projects that run on one. */
    redisClusterNodes?: string;
  }
}

/**
 * A configuration isolated for one test file: its own Redis key prefix and its own PostgreSQL
 * schema, on the servers named by REDIS_URL / DATABASE_URL (this machine's defaults otherwise),
 * or on the Redis Cluster of the vitest project running the test, if it has one.
 */
export function isolatedConfig(label: string, env: Record<string, string> = {}): SluiceConfig {
  const clusterNodes = providedClusterNodes();
  return singleNodeConfig(label, { ...(clusterNodes !== undefined && { REDIS_CLUSTER_NODES: clusterNodes }), ...env });
}

/**
 * `isolatedConfig` on REDIS_URL's node even in a project that runs on a Redis Cluster: for tests
 * of what only a single server shows, such as traffic through a proxy in front of it.
 */
export function singleNodeConfig(label: string, env: Record<string, string> = {}): SluiceConfig {
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
    QUEUES: config.queue.queues.map((queue) => `${queue}:${config.queue.partitions[queue] ?? 1}`).join(','),
    WORKER_BLOCK_MS: String(config.worker.blockMs),
    ...(config.redis.clusterNodes.length > 0 && { REDIS_CLUSTER_NODES: config.redis.clusterNodes.map(addressOf).join(',') }),
  };
}

/** The Redis Cluster's seed nodes the running vitest project provides, if it runs on one. */
function providedClusterNodes(): string | undefined {
  try {
    return inject('redisClusterNodes');
  } catch {
    // Only a vitest worker has anything provided: the benchmarks and the soak, which run outside vitest, use this module too.
    return undefined;
  }
}

/** `host:port`, an IPv6 host in brackets, as REDIS_CLUSTER_NODES takes it. */
function addressOf({ host, port }: { host: string; port: number }): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
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

/** Deletes every Redis key under `config`'s prefix, on every master of a cluster. */
export async function dropRedisKeys(config: SluiceConfig): Promise<void> {
  const noRetries = { retryStrategy: () => null, maxRetriesPerRequest: 0 };
  // Auto-pipelined, the deletes of one scan batch go to each node in one write, however many slots they are in.
  const redis = config.redis.clusterNodes.length > 0
    ? new Cluster(config.redis.clusterNodes, { clusterRetryStrategy: () => null, enableAutoPipelining: true, redisOptions: noRetries })
    : new Redis(config.redis.url, { ...noRetries, enableAutoPipelining: true });
  redis.on('error', () => undefined);
  try {
    // A cluster connection knows its masters once it is ready.
    await redis.ping();
    for (const server of serversOf(redis)) {
      let cursor = '0';
      do {
        const [next, keys] = await server.scan(cursor, 'MATCH', `${config.redis.prefix}:*`, 'COUNT', 1000);
        cursor = next;
        // Key by key: a cluster refuses a command whose keys are in different slots.
        await Promise.all(keys.map((key) => redis.unlink(key)));
      } while (cursor !== '0');
    }
  } finally {
    redis.disconnect();
  }
}

/**
 * The servers behind a connection, for commands about a server rather than keys (SCAN, CLIENT
 * LIST): every master of a cluster, or the connection's one node.
 */
export function serversOf(redis: Redis | Cluster): Redis[] {
  return redis instanceof Cluster ? redis.nodes('master') : [redis];
}
