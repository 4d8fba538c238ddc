import { checkSchema, createLogger, createPool, createRedis, HistoryRecorder, loadConfig, messageOf, Worker, closeRedis } from '@sluice/core';
import { createJobRegistry } from '@sluice/jobs';
import { createHandlers } from '@sluice/jobs/handlers';

/**
 * A worker process: consumes every queue in QUEUES, records history into PostgreSQL, and on
 * SIGTERM/SIGINT stops taking jobs, lets in-flight ones finish within SHUTDOWN_TIMEOUT_MS, flushes
 * history and exits 0. A second signal exits at once; unfinished jobs stay pending for another worker.
 */
async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const logger = createLogger(config.log, 'worker');
  const pool = createPool(config.postgres);
  await checkSchema(pool, config.postgres.schema, logger);

  const registry = createJobRegistry();
  const handlers = createHandlers({ smtpUrl: config.worker.smtpUrl, smtpFrom: config.worker.smtpFrom, logger });
  const worker = new Worker({ redis: config.redis, queue: config.queue, worker: config.worker, registry, handlers, logger });
  const recorderRedis = createRedis(config.redis, { failFast: false, connectionName: `${config.worker.consumerName}:recorder` });
  recorderRedis.on('error', (error) => logger.debug({ err: messageOf(error) }, 'redis connection error'));
  const recorder = new HistoryRecorder({
    redis: recorderRedis, pool, prefix: config.redis.prefix, queues: config.queue.queues, owner: config.worker.consumerName, logger,
  });

  let signals = 0;
  const shutdown = async (signal: string): Promise<void> => {
    signals += 1;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    logger.info({ signal, running: worker.runningCount, deadlineMs: config.worker.shutdownTimeoutMs }, 'shutting down');
    await worker.close();
    await recorder.stop();
    await closeRedis(recorderRedis);
    await pool.end();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  await worker.start();
  recorder.start();
}

main().catch((error: unknown) => {
  console.error(`worker: cannot start: ${messageOf(error)}`);
  process.exit(1);
});
