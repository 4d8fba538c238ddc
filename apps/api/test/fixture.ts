import { closeRedis, createRedis, DeadLetters, JobTypeCatalog, type JobTypeDefinition, Queue, QueueAdmin, QueueLayouts, type SluiceConfig, waitForRedis } from '@sluice/core';
import { builtinJobTypes } from '@sluice/jobs';
import type { FastifyInstance } from 'fastify';
import { expect } from 'vitest';
import { buildApp, type AppOptions } from '../src/app';
import { createTestDatabase, dropRedisKeys, type TestDatabase } from '../../../test/support/context';

/** A real app on real Redis and PostgreSQL, isolated by `config`'s prefix and schema. */
export interface AppFixture {
  app: FastifyInstance;
  queue: Queue;
  database: TestDatabase;
  /** POST /jobs that must answer 202; returns the job id. */
  submit(body: Record<string, unknown>): Promise<string>;
  /** The status GET /jobs/:id reports. */
  statusOf(id: string): Promise<string>;
  close(): Promise<void>;
}

/** `declared`: types declared to the API besides the built-in ones, as JOB_TYPES_FILE would. */
/** `readDatabase`: where lists and finished jobs are read, as DATABASE_READ_URL's replica would be. */
export async function startApp(
  config: SluiceConfig,
  options: AppOptions & { database?: TestDatabase; readDatabase?: TestDatabase; declared?: JobTypeDefinition[] } = {},
): Promise<AppFixture> {
  const database = options.database ?? (await createTestDatabase(config));
  const redis = createRedis(config.redis);
  redis.on('error', () => undefined);
  await waitForRedis(redis, 5000);
  // Declared, as JOB_TYPES_FILE would: these tests run no worker to publish them.
  const types = new JobTypeCatalog({ redis, prefix: config.redis.prefix, declared: [...builtinJobTypes, ...(options.declared ?? [])] });
  await types.start();
  const queue = new Queue({ redis, redisConfig: config.redis, queueConfig: config.queue, registry: types, schema: config.postgres.schema });
  const layouts = new QueueLayouts(redis, config.redis.prefix, config.queue.partitions);
  const deadLetters = new DeadLetters(redis, layouts, config.queue.queues, { retentionMs: config.queue.retentionMs });
  const queueAdmin = new QueueAdmin(redis, layouts, config.queue.queues);
  const app = await buildApp(config, {
    queue, deadLetters, queueAdmin, redis, redisConfig: config.redis, layouts, pool: database.pool, db: database.db, ...(options.readDatabase && { readDb: options.readDatabase.db }), types,
  }, options);
  await app.ready();
  return {
    app,
    queue,
    database,
    async submit(body) {
      const response = await app.inject({ method: 'POST', url: '/jobs', payload: body });
      expect(response.statusCode, response.body).toBe(202);
      return (response.json() as { id: string }).id;
    },
    async statusOf(id) {
      return ((await app.inject({ method: 'GET', url: `/jobs/${id}` })).json() as { status: string }).status;
    },
    async close() {
      types.stop();
      await app.close();
      await closeRedis(redis);
      await dropRedisKeys(config).catch(() => undefined);
      if (!options.database) await database.drop();
    },
  };
}
