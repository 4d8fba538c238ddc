import { afterEach } from 'vitest';
import { Type } from 'typebox';
import {
  closeRedis, createRedis, defineJobType, JobTypeCatalog, JobTypeRegistry, Queue, queueKeys, waitForRedis, Worker, type Job, type JobHandler,
  type JobTypeDefinition, type ScriptedRedis, type SluiceConfig, type WorkerConfig,
} from '@sluice/core';
import { dropRedisKeys, isolatedConfig, waitFor } from '../../../../test/support/context';

/** The types the job type routing tests share: `greetLoosely` is `greet` as a second team's worker might define it. */
export const noop = defineJobType({ name: 'noop', payload: Type.Object({}) });
export const greet = defineJobType({ name: 'greet', payload: Type.Object({ name: Type.String() }, { additionalProperties: false }) });
export const greetLoosely = defineJobType({ name: 'greet', payload: Type.Object({}) });
const everyType = new JobTypeRegistry([noop, greet]);

/** A queue's Redis, a producer that knows every type, and the workers and catalogs a test starts on them. */
export interface System {
  config: SluiceConfig;
  redis: ScriptedRedis;
  queue: Queue;
  workers: Worker[];
  catalogs: JobTypeCatalog[];
}

/**
 * The systems of one test file, each on a Redis prefix of its own, with what a test started on
 * them stopped, and their keys removed, after each test.
 */
export function routingSystems(label: string) {
  const systems: System[] = [];
  afterEach(async () => {
    for (const { config, redis, workers, catalogs } of systems.splice(0)) {
      for (const catalog of catalogs) catalog.stop();
      await Promise.all(workers.map((worker) => worker.close(1000)));
      await closeRedis(redis);
      await dropRedisKeys(config);
    }
  });

  return {
    async connect(env: Record<string, string> = {}): Promise<System> {
      const config = isolatedConfig(label, env);
      const redis = createRedis(config.redis);
      await waitForRedis(redis, 5000);
      const system: System = { config, redis, queue: new Queue({ redis, redisConfig: config.redis, queueConfig: config.queue, registry: everyType }), workers: [], catalogs: [] };
      systems.push(system);
      return system;
    },

    /** Starts a worker named `name` serving `types` on the system's queue. */
    async startWorker(
      system: System, name: string, types: JobTypeDefinition[], handlers: Record<string, JobHandler<never>>,
      options: { now?: () => number; worker?: Partial<WorkerConfig> } = {},
    ): Promise<Worker> {
      const { config } = system;
      const worker = new Worker({
        redis: config.redis, queue: config.queue, worker: { ...config.worker, consumerName: name, ...options.worker }, registry: new JobTypeRegistry(types), handlers,
        ...(options.now && { now: options.now }),
      });
      system.workers.push(worker);
      await worker.start();
      return worker;
    },

    /** A catalog of what workers publish on the system's prefix, with `declared` types. */
    catalogOf(system: System, declared: JobTypeDefinition[] = [], options: { knownForMs?: number } = {}): JobTypeCatalog {
      const catalog = new JobTypeCatalog({ redis: system.redis, prefix: system.config.redis.prefix, declared, ...options });
      system.catalogs.push(catalog);
      return catalog;
    },
  };
}

/** The default queue's keys. */
export function keysOf(system: System) {
  return queueKeys(system.config.redis.prefix, 'default');
}

/** Resolves once the job is `wanted`. */
export function status(queue: Queue, id: string, wanted: Job['status'], timeoutMs = 20_000): Promise<Job> {
  return waitFor(`job ${id} to be ${wanted}`, async () => {
    const job = await queue.getJob(id);
    return job?.status === wanted ? job : null;
  }, timeoutMs);
}

/** The default queue's jobs waiting without a worker, per type. */
export function unserved(system: System): Promise<Record<string, string>> {
  return system.redis.hgetall(keysOf(system).unserved);
}
