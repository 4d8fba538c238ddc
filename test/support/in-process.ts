import type pg from 'pg';
import {
  closeRedis, createRedis, HistoryRecorder, Queue, waitForRedis, Worker, type JobHandler, type JobTypeRegistry, type ScriptedRedis, type SluiceConfig,
} from '@sluice/core';
import { dropRedisKeys } from './context';

/** A producer, a worker and (given a pool) a history recorder in the test's own process, on `config`. */
export interface InProcess {
  redis: ScriptedRedis;
  queue: Queue;
  worker: Worker;
  /** Stops all of it and deletes the test's Redis keys; the database is the test's to drop. */
  close(): Promise<void>;
}

/** Starts what most library tests need: a ready connection, a Queue, a started Worker and optionally a recorder. */
export async function startInProcess(
  config: SluiceConfig,
  registry: JobTypeRegistry,
  handlers: Readonly<Record<string, JobHandler<never>>>,
  options: { pool?: pg.Pool } = {},
): Promise<InProcess> {
  const redis = createRedis(config.redis);
  await waitForRedis(redis, 5000);
  const queue = new Queue({ redis, redisConfig: config.redis, queueConfig: config.queue, registry });
  const worker = new Worker({ redis: config.redis, queue: config.queue, worker: config.worker, registry, handlers });
  const recorder = options.pool
    ? new HistoryRecorder({ redis, pool: options.pool, prefix: config.redis.prefix, queues: config.queue.queues, layouts: worker.layouts, owner: 'test' })
    : undefined;
  await worker.start();
  recorder?.start();
  return {
    redis,
    queue,
    worker,
    async close() {
      await worker.close(1000);
      await recorder?.stop();
      await closeRedis(redis);
      await dropRedisKeys(config);
    },
  };
}
