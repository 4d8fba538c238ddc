import {
  closeRedis, createRedis, Queue, QueueAdmin, QueueLayouts, waitForRedis, Worker, type Job, type JobHandler, type JobTypeRegistry, type ScriptedRedis, type SluiceConfig,
} from '@sluice/core';
import { dropRedisKeys, isolatedConfig, waitFor } from './context';

/** One test's world: its own Redis prefix, a producer and an operator over it, and the in-process workers it starts. */
export interface WorkerSystem {
  config: SluiceConfig;
  redis: ScriptedRedis;
  queue: Queue;
  admin: QueueAdmin;
  workers: Worker[];
}

/** The worlds of one test file, whose producers know `registry`; `closeAll` after each test removes what they left. */
export class WorkerSystems {
  private readonly open: WorkerSystem[] = [];

  constructor(private readonly registry: JobTypeRegistry) {}

  async connect(label: string, env: Record<string, string> = {}): Promise<WorkerSystem> {
    const config = isolatedConfig(label, env);
    const redis = createRedis(config.redis);
    await waitForRedis(redis, 5000);
    const layouts = new QueueLayouts(redis, config.redis.prefix, config.queue.partitions);
    const system: WorkerSystem = {
      config, redis, workers: [],
      queue: new Queue({ redis, redisConfig: config.redis, queueConfig: config.queue, registry: this.registry }),
      admin: new QueueAdmin(redis, layouts, config.queue.queues),
    };
    this.open.push(system);
    return system;
  }

  /** Starts a worker named `<consumer>-<name>` serving `handlers`' types of `registry`. */
  async startWorker(system: WorkerSystem, registry: JobTypeRegistry, handlers: Record<string, JobHandler<never>>, name: string): Promise<Worker> {
    const { config } = system;
    const worker = new Worker({ redis: config.redis, queue: config.queue, worker: { ...config.worker, consumerName: `${config.worker.consumerName}-${name}` }, registry, handlers });
    system.workers.push(worker);
    await worker.start();
    return worker;
  }

  /** Starts `count` workers named by their index, each serving `handlers`' types of `registry`. */
  async startWorkers(system: WorkerSystem, registry: JobTypeRegistry, handlers: Record<string, JobHandler<never>>, count: number): Promise<void> {
    for (let n = 0; n < count; n += 1) await this.startWorker(system, registry, handlers, String(n));
  }

  /** Stops every worker, and removes every world's keys. */
  async closeAll(): Promise<void> {
    for (const { config, redis, workers } of this.open.splice(0)) {
      await Promise.all(workers.map((worker) => worker.close(1000)));
      await closeRedis(redis);
      await dropRedisKeys(config);
    }
  }
}

/**
 * Resolves with the jobs of `ids` once every one has completed; `step` runs before each look (to let
 * one held handler go, say), which then comes every 20 ms.
 */
export function allCompleted(queue: Queue, ids: readonly string[], timeoutMs = 20_000, step?: () => void): Promise<Job[]> {
  return waitFor(`${ids.length} jobs to complete`, async () => {
    step?.();
    const jobs = await Promise.all(ids.map((id) => queue.getJob(id)));
    return jobs.every((job) => job?.status === 'completed') ? (jobs as Job[]) : null;
  }, timeoutMs, step ? 20 : undefined);
}
