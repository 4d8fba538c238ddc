import type { Database, DeadLetters, JobTypeRegistry, Queue, QueueAdmin, ScriptedRedis, SluiceConfig } from '@sluice/core';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type pg from 'pg';
import { registerErrorHandling } from './plugins/errors';
import { healthRoutes } from './routes/health';
import { jobListRoutes } from './routes/job-list';
import { jobRoutes } from './routes/jobs';
import { queueRoutes } from './routes/queues';

/** What the routes work with, made once by the server (or a test) and passed in. */
export interface AppDeps {
  queue: Queue;
  deadLetters: DeadLetters;
  queueAdmin: QueueAdmin;
  redis: ScriptedRedis;
  redisConfig: SluiceConfig['redis'];
  pool: pg.Pool;
  db: Database;
  registry: JobTypeRegistry;
}

/** Builds the HTTP producer. `server.ts` only listens; tests call `inject`. */
export function buildApp(config: SluiceConfig, deps: AppDeps, logger?: FastifyBaseLogger): FastifyInstance {
  const app = Fastify({
    ...(logger ? { loggerInstance: logger } : { logger: false }),
    bodyLimit: config.api.bodyLimit,
    // Fastify's defaults coerce "100" into 100 and drop unknown fields; the contract wants both refused.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false } },
    return503OnClosing: true,
  }).withTypeProvider<TypeBoxTypeProvider>();

  // JSON only: anything else (text/plain included, which Fastify parses by default) is a 415.
  app.removeContentTypeParser(['text/plain']);
  registerErrorHandling(app);
  void app.register(healthRoutes, { deps });
  void app.register(jobRoutes, { deps });
  void app.register(jobListRoutes, { deps });
  void app.register(queueRoutes, { deps });
  return app;
}
