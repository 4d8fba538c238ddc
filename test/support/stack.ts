import type { SluiceConfig } from '@sluice/core';
import { createTestDatabase, dropRedisKeys, isolatedConfig, type TestDatabase } from './context';
import { ServiceProcess } from './processes';
import { freePort } from './redis-server';

/** What `npm start` runs, the API and stock workers, on a port, Redis prefix and PostgreSQL schema of its own. */
export interface Stack {
  config: SluiceConfig;
  database: TestDatabase;
  port: number;
  /** The API's address, e.g. `http://127.0.0.1:40123`. */
  url: string;
  /**
   * The settings that set this stack apart from `npm start`'s defaults, and all a process needs to join
   * it: a worker of the examples, the sluice command (which finds the API through PORT).
   */
  env: Record<string, string>;
  api: ServiceProcess;
  workers: ServiceProcess[];
  /** Stops every process (each must exit 0) and removes the stack's Redis keys and schema. */
  stop(): Promise<(number | null)[]>;
}

/** Migrates a fresh schema and starts the API and `workers` stock worker processes, as `npm start` does. */
export async function startStack(label: string, workers: number): Promise<Stack> {
  const config = isolatedConfig(label);
  const database = await createTestDatabase(config);
  const port = await freePort();
  // Nothing else differs from npm start: the queues, timings and limits are the defaults.
  const env = {
    REDIS_URL: config.redis.url,
    REDIS_PREFIX: config.redis.prefix,
    DATABASE_URL: config.postgres.url,
    DATABASE_SCHEMA: config.postgres.schema,
    PORT: String(port),
  };
  const api = ServiceProcess.start('api', 'apps/api/src/server.ts', env);
  const stockWorkers = Array.from({ length: workers }, (_, i) =>
    ServiceProcess.start(`worker-${i + 1}`, 'apps/worker/src/main.ts', { ...env, WORKER_NAME: `${label}-worker-${i + 1}` }),
  );
  const stop = async (): Promise<(number | null)[]> => {
    const codes = await Promise.all([api, ...stockWorkers].map((service) => service.stop('SIGTERM')));
    await dropRedisKeys(config);
    await database.drop();
    return codes;
  };
  try {
    await Promise.all([api.waitForOutput('Server listening'), ...stockWorkers.map((worker) => worker.waitForOutput('worker started'))]);
  } catch (error) {
    await stop();
    throw error;
  }
  return { config, database, port, url: `http://127.0.0.1:${port}`, env, api, workers: stockWorkers, stop };
}
