import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A folder of this test run's own, removed when it ends: test/support/packed.ts packs the packages into it once. */
    packDir: string;
  }
}

/**
 * Fails the run at once, with a clear message, when Redis or PostgreSQL does not answer; gives the
 * run its folder for packed packages.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  await checkServices();
  const packDir = await mkdtemp(join(tmpdir(), 'sluice-packed-'));
  project.provide('packDir', packDir);
  return () => rm(packDir, { recursive: true, force: true });
}

async function checkServices(): Promise<void> {
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    throw new Error(`The tests need Redis at ${redisUrl}: ${String(error)}. Start it, or run \`npm test\`, which starts it with Docker.`);
  } finally {
    redis.disconnect();
  }
  const client = new pg.Client({ connectionString: databaseUrl.replace(/\/[^/]*$/, '/postgres'), connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
  } catch (error) {
    throw new Error(`The tests need PostgreSQL at ${databaseUrl}: ${String(error)}. Start it, or run \`npm test\`, which starts it with Docker.`);
  } finally {
    await client.end().catch(() => undefined);
  }
}
