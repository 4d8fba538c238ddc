import type { Server } from 'node:http';
import {
  createLogger, createWorker, loadConfig, type JobHandler, type JobTypeDefinition, type Logger, type SluiceConfig, type Worker,
} from '@sluice/core';
import { createWorkerMetrics, serveMetrics } from './metrics.js';

/** The handlers of a worker process, or a function making them once the configuration and logger exist. */
export type HandlersOption =
  | Readonly<Record<string, JobHandler<never>>>
  | ((config: SluiceConfig, logger: Logger) => Readonly<Record<string, JobHandler<never>>>);

/** What makes one kind of worker process: its job types and their handlers. */
export interface WorkerProcessOptions {
  /** Name in the logs. */
  name: string;
  /** The job types it serves, each declared with `defineJobType`. */
  types: readonly JobTypeDefinition[];
  handlers: HandlersOption;
}

/**
 * Runs a worker process: config from the environment, consumes every queue in QUEUES, records
 * history into PostgreSQL and serves its metrics when METRICS_PORT is set. On SIGTERM/SIGINT it
 * stops taking jobs, lets in-flight ones finish within SHUTDOWN_TIMEOUT_MS, flushes history and
 * exits 0; a second signal exits at once.
 */
export async function runWorkerProcess(options: WorkerProcessOptions): Promise<void> {
  const config = loadConfig(process.env);
  const logger = createLogger(config.log, options.name);
  const handlers = typeof options.handlers === 'function' ? options.handlers(config, logger) : options.handlers;
  const running = await createWorker({ types: options.types, handlers, config, logger });
  const { worker } = running;

  const metricsEndpoint = { port: config.worker.metricsPort, host: config.worker.metricsHost, key: config.worker.metricsKey };
  let metricsServer: Server | undefined;
  try {
    metricsServer = metricsEndpoint.port > 0 ? await serveMetrics(createWorkerMetrics(worker), metricsEndpoint, logger) : undefined;
  } catch (error) {
    // The worker runs already: it hands back what it took before the process reports that it cannot start.
    await running.close(0);
    throw error;
  }
  logTransitions(worker, logger);

  let stopping: Promise<void> | undefined;
  const stop = (reason: string): Promise<void> =>
    (stopping ??= (async () => {
      logger.info({ signal: reason, running: worker.runningCount, deadlineMs: config.worker.shutdownTimeoutMs }, 'shutting down');
      metricsServer?.close();
      await running.close();
      process.exit(0);
    })());
  let signals = 0;
  const onSignal = (signal: string): void => {
    signals += 1;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    // A signal during a stop already under way (a recycle) joins it: it is the first the process was sent.
    void stop(signal);
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  // Handlers that ignore their timeouts hold slots for good: a fresh process is the only way out.
  worker.on('worker:recycle', ({ abandoned }) => {
    if (stopping) return;
    logger.error({ abandoned }, 'too many handlers still running past their attempts; stopping so a fresh worker takes over');
    void stop('recycle');
  });
}

/**
 * One structured line per transition a worker makes, with what an operator searches logs by. Starts
 * and completions are at debug level (LOG_LEVEL=debug): at thousands of jobs a second they would
 * cost more than the jobs; failures are warnings.
 */
function logTransitions(worker: Worker, logger: Logger): void {
  worker.on('job:started', ({ id, queue, type, attempt, waitMs }) => logger.debug({ jobId: id, queue, type, attempt, waitMs }, 'job started'));
  worker.on('job:completed', ({ id, queue, type, attempt, durationMs }) => logger.debug({ jobId: id, queue, type, attempt, durationMs }, 'job completed'));
  worker.on('job:failed', ({ id, queue, type, attempt, durationMs, error, next }) =>
    logger.warn({ jobId: id, queue, type, attempt, durationMs, err: error, next }, 'job failed'),
  );
}
