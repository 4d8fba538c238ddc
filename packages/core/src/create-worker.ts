import { loadConfig, type SluiceConfig } from './config.js';
import { messageOf } from './errors.js';
import type { JobHandler } from './handler.js';
import { createPool } from './history/db.js';
import { HistoryMaintenance } from './history/history-maintenance.js';
import { checkSchema } from './history/migrate.js';
import { HistoryRecorder } from './history/recorder.js';
import { OutboxRelay } from './outbox/outbox-relay.js';
import type { Logger } from './logger.js';
import { createLogger } from './pino-logger.js';
import { Queue } from './queue.js';
import { closeRedis, createRedis } from './redis/client.js';
import { JobTypeRegistry, type JobTypeDefinition } from './registry.js';
import { claimLeaseMs } from './schedules/schedule-runs.js';
import { Scheduler } from './schedules/scheduler.js';
import { Worker } from './worker.js';

/** What `createWorker` runs: your job types, a handler for each, and optionally the configuration. */
export interface CreateWorkerOptions {
  /** The job types this worker serves, each declared with `defineJobType`. */
  types: readonly JobTypeDefinition[];
  /** One handler per type, by type name. */
  handlers: Readonly<Record<string, JobHandler<never>>>;
  /** Default: `loadConfig(process.env)`, i.e. the same environment variables as the stock worker. */
  config?: SluiceConfig;
  /** Default: JSON lines on stdout at `LOG_LEVEL`. */
  logger?: Logger;
}

/** A running worker with everything around it; `close` stops it all. */
export interface SluiceWorker {
  /** The worker itself: its events (`job:completed`, `job:failed`, `worker:recycle`…) and counts. */
  readonly worker: Worker;
  readonly config: SluiceConfig;
  readonly logger: Logger;
  /**
   * Stops taking jobs, gives those running up to `timeoutMs` (default SHUTDOWN_TIMEOUT_MS) to finish,
   * records the last history in PostgreSQL and closes every connection. Safe to call more than once.
   */
  close(timeoutMs?: number): Promise<void>;
}

/**
 * Starts a worker for your job types with what it needs around it: the worker (which also promotes
 * due jobs, reclaims crashed workers' jobs and publishes your types for the API to accept), the
 * history recorder that writes every transition to PostgreSQL, the history's daily maintenance, and
 * a scheduler that runs the ticks of the schedules of its queues, and the outbox relay that adds the
 * jobs of committed `enqueueInTransaction` calls to Redis.
 * The PostgreSQL schema must have been migrated (`sluice migrate`).
 */
export async function createWorker(options: CreateWorkerOptions): Promise<SluiceWorker> {
  const config = options.config ?? loadConfig(process.env);
  const logger = options.logger ?? createLogger(config.log, 'worker');
  const registry = new JobTypeRegistry(options.types);
  assertHandlersMatch(registry.names(), Object.keys(options.handlers));

  const pool = createPool(config.postgres);
  const recorderRedis = createRedis(config.redis, { failFast: false, connectionName: `${config.worker.consumerName}:recorder` });
  recorderRedis.on('error', (error) => logger.debug({ err: messageOf(error) }, 'redis connection error'));
  const worker = new Worker({ redis: config.redis, queue: config.queue, worker: config.worker, registry, handlers: options.handlers, logger });
  const recorder = new HistoryRecorder({
    redis: recorderRedis, pool, prefix: config.redis.prefix, queues: config.queue.queues, layouts: worker.layouts, owner: config.worker.consumerName, logger,
  });
  const maintenance = new HistoryMaintenance({
    pool, retentionDays: config.postgres.historyRetentionDays, metricsRetentionDays: config.postgres.metricsRetentionDays, payloadIndex: config.postgres.payloadIndex, logger,
  });
  // The schedules' ticks of this worker's queues, checked against every type live workers publish.
  const scheduleQueue = new Queue({ redis: recorderRedis, redisConfig: config.redis, queueConfig: config.queue, registry: worker.types, schema: config.postgres.schema });
  const scheduler = new Scheduler({
    redis: recorderRedis, prefix: config.redis.prefix, queue: scheduleQueue, claimLeaseMs: claimLeaseMs(config.queue.idempotencyTtlMs), logger,
  });
  const relay = new OutboxRelay({ pool, schema: config.postgres.schema, queue: scheduleQueue, logger });

  const releaseConnections = async (): Promise<void> => {
    await closeRedis(recorderRedis);
    await pool.end();
  };
  try {
    await checkSchema(pool, config.postgres.schema, logger);
    await worker.start();
  } catch (error) {
    await worker.close(0);
    await releaseConnections();
    throw error;
  }
  recorder.start();
  maintenance.start();
  scheduler.start();
  relay.start();

  let closing: Promise<void> | undefined;
  return {
    worker,
    config,
    logger,
    close(timeoutMs = config.worker.shutdownTimeoutMs) {
      closing ??= (async () => {
        await scheduler.stop();
        await relay.stop();
        await worker.close(timeoutMs);
        await recorder.stop();
        await maintenance.stop();
        await releaseConnections();
      })();
      return closing;
    },
  };
}

/** A type without a handler would never run, and a handler without a type would never be called: both are mistakes. */
function assertHandlersMatch(types: readonly string[], handlers: readonly string[]): void {
  const withoutHandler = types.filter((name) => !handlers.includes(name));
  const withoutType = handlers.filter((name) => !types.includes(name));
  const problems = [
    ...(withoutHandler.length > 0 ? [`no handler for job type ${withoutHandler.map((name) => `"${name}"`).join(', ')}`] : []),
    ...(withoutType.length > 0 ? [`a handler for ${withoutType.map((name) => `"${name}"`).join(', ')}, which is not among the types`] : []),
  ];
  if (problems.length > 0) throw new TypeError(`createWorker: ${problems.join('; ')}. Give one handler per type, keyed by the type's name.`);
}
