import {
  API_STATEMENT_TIMEOUT_MS, checkSchema, closeRedis, createDatabase, createLogger, DeadLetters, HistoryMaintenance, JobTypeCatalog, loadDeclaredJobTypes, QueueAdmin, createPool,
  createRedis, loadConfig, messageOf, openApiRefusal, Queue, QueueLayouts, Scheduler, claimLeaseMs, waitForRedis,
} from '@sluice/core';
import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.js';

/** How often the API learns partition counts other processes have used (a queue repartitioned while it runs). */
const LAYOUT_REFRESH_MS = 10_000;

/**
 * Starts the HTTP producer: config from the environment, checks, listen, and a graceful close on
 * SIGTERM/SIGINT. When it cannot start it closes what it opened before throwing, so the process ends.
 */
export async function runApiServer(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const config = loadConfig(env);
  const refusal = openApiRefusal(config.api);
  if (refusal) throw new Error(refusal);
  // Read before any connection opens: a bad file must not leave one open.
  const declared = config.api.jobTypesFile ? await loadDeclaredJobTypes(config.api.jobTypesFile) : [];
  const logger = createLogger(config.log, 'api');
  const limits = { statementTimeoutMs: API_STATEMENT_TIMEOUT_MS };
  const pool = createPool(config.postgres, limits);
  const readPool = config.postgres.readUrl === undefined ? undefined : createPool({ ...config.postgres, url: config.postgres.readUrl }, limits);
  const redis = createRedis(config.redis, { connectionName: 'sluice-api', autoPipelining: true });
  // A WAIT holds its connection until the replicas answer: submissions that wait get one of their own.
  const replicatedRedis = config.redis.waitReplicas > 0 ? createRedis(config.redis, { connectionName: 'sluice-api-replicated' }) : undefined;
  redis.on('error', (error) => logger.debug({ err: messageOf(error) }, 'redis connection error'));
  replicatedRedis?.on('error', (error) => logger.debug({ err: messageOf(error) }, 'redis connection error'));
  const types = new JobTypeCatalog({ redis, prefix: config.redis.prefix, declared, logger });
  const layouts = new QueueLayouts(redis, config.redis.prefix, config.queue.partitions);
  let layoutRefresh: NodeJS.Timeout | undefined;
  // Partitions are kept by whichever process gets there first; an API alone keeps them too.
  const maintenance = new HistoryMaintenance({
    pool, retentionDays: config.postgres.historyRetentionDays, metricsRetentionDays: config.postgres.metricsRetentionDays, payloadIndex: config.postgres.payloadIndex, logger,
  });
  let app: FastifyInstance | undefined;
  let scheduler: Scheduler | undefined;
  const release = async (): Promise<void> => {
    await app?.close();
    await scheduler?.stop();
    clearInterval(layoutRefresh);
    types.stop();
    await maintenance.stop();
    await closeRedis(redis);
    if (replicatedRedis) await closeRedis(replicatedRedis);
    await pool.end();
    await readPool?.end();
  };

  try {
    await checkSchema(pool, config.postgres.schema, logger);
    // Without Redis the API still starts: submissions answer 503 until it is back.
    await Promise.all([redis, ...(replicatedRedis ? [replicatedRedis] : [])].map((connection) => waitForRedis(connection, 5000)))
      .catch((error: unknown) => logger.warn({ err: messageOf(error) }, 'Redis is unavailable at start'));
    await types.start();
    await layouts.refresh().catch((error: unknown) => logger.warn({ err: messageOf(error) }, 'partition counts not read at start; reading them again shortly'));
    layoutRefresh = setInterval(() => void layouts.refresh().catch((error: unknown) => logger.debug({ err: messageOf(error) }, 'partition counts not read')), LAYOUT_REFRESH_MS);
    const queue = new Queue({ redis, redisConfig: config.redis, queueConfig: config.queue, registry: types, schema: config.postgres.schema, ...(replicatedRedis && { replicatedRedis }) });
    const deadLetters = new DeadLetters(redis, layouts, config.queue.queues, { retentionMs: config.queue.retentionMs });
    const queueAdmin = new QueueAdmin(redis, layouts, config.queue.queues);
    app = await buildApp(config, { queue, deadLetters, queueAdmin, redis, redisConfig: config.redis, layouts, pool, db: createDatabase(pool), ...(readPool && { readDb: createDatabase(readPool) }), types }, { logger });
    await app.listen({ port: config.api.port, host: config.api.host });
    // The API runs the schedules' ticks too, so they run with no worker of their queue up (the jobs wait for one).
    scheduler = new Scheduler({ redis, prefix: config.redis.prefix, queue, claimLeaseMs: claimLeaseMs(config.queue.idempotencyTtlMs), logger });
    scheduler.start();
  } catch (error) {
    await release().catch(() => undefined);
    throw error;
  }

  if (config.api.apiKeys.length === 0) {
    logger.warn({}, 'API_KEYS is not set: the API is open to anyone who can reach it');
  }
  let closing = false;
  const close = async (signal: string): Promise<void> => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, 'closing');
    await release();
    process.exit(0);
  };
  process.on('SIGTERM', () => void close('SIGTERM'));
  process.on('SIGINT', () => void close('SIGINT'));
  maintenance.start();
}
