import {
  checkSchema, closeRedis, createDatabase, createLogger, DeadLetters, HistoryMaintenance, JobTypeCatalog, loadDeclaredJobTypes, QueueAdmin, createPool,
  createRedis, loadConfig, messageOf, openApiRefusal, Queue, waitForRedis,
} from '@sluice/core';
import { buildApp } from './app.js';

/** Starts the HTTP producer: config from the environment, checks, listen, and a graceful close on SIGTERM/SIGINT. */
export async function runApiServer(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const config = loadConfig(env);
  const refusal = openApiRefusal(config.api);
  if (refusal) throw new Error(refusal);
  const logger = createLogger(config.log, 'api');
  const pool = createPool(config.postgres);
  await checkSchema(pool, config.postgres.schema, logger);
  const redis = createRedis(config.redis, { connectionName: 'sluice-api', autoPipelining: true });
  redis.on('error', (error) => logger.debug({ err: messageOf(error) }, 'redis connection error'));
  // Without Redis the API still starts: submissions answer 503 until it is back.
  await waitForRedis(redis, 5000).catch((error: unknown) => logger.warn({ err: messageOf(error) }, 'Redis is unavailable at start'));
  const declared = config.api.jobTypesFile ? await loadDeclaredJobTypes(config.api.jobTypesFile) : [];
  const types = new JobTypeCatalog({ redis, prefix: config.redis.prefix, declared, logger });
  await types.start();
  const queue = new Queue({ redis, redisConfig: config.redis, queueConfig: config.queue, registry: types });
  const deadLetters = new DeadLetters(redis, config.redis, config.queue.queues);
  const queueAdmin = new QueueAdmin(redis, config.redis, config.queue.queues);
  const app = await buildApp(config, { queue, deadLetters, queueAdmin, redis, redisConfig: config.redis, pool, db: createDatabase(pool), types }, { logger });
  // Partitions are kept by whichever process gets there first; an API alone keeps them too.
  const maintenance = new HistoryMaintenance({ pool, retentionDays: config.postgres.historyRetentionDays, logger });

  if (config.api.apiKeys.length === 0) {
    logger.warn({}, 'API_KEYS is not set: the API is open to anyone who can reach it');
  }

  let closing = false;
  const close = async (signal: string): Promise<void> => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, 'closing');
    await app.close();
    types.stop();
    await maintenance.stop();
    await closeRedis(redis);
    await pool.end();
    process.exit(0);
  };
  process.on('SIGTERM', () => void close('SIGTERM'));
  process.on('SIGINT', () => void close('SIGINT'));

  await app.listen({ port: config.api.port, host: config.api.host });
  maintenance.start();
}
