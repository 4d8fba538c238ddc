import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Type } from 'typebox';
import {
  closeRedis, createRedis, createWorker, defineJobType, jobsFindWithHistory, JobTypeRegistry, Queue, waitForRedis, type BulkJob, type ScriptedRedis,
  type SluiceWorker,
} from '@sluice/core';
import { createTestDatabase, dropRedisKeys, isolatedConfig, waitFor, type TestDatabase } from '../../../test/support/context';

const config = isolatedConfig('outbox_faults');
const echo = defineJobType({ name: 'echo', payload: Type.Object({ value: Type.Number() }, { additionalProperties: false }) });
const registry = new JobTypeRegistry([echo]);

let database: TestDatabase;
let redis: ScriptedRedis;
let queue: Queue;

async function committed(jobs: readonly BulkJob[]): Promise<string[]> {
  const client = await database.pool.connect();
  try {
    await client.query('BEGIN');
    const added = await queue.enqueueInTransaction(client, jobs);
    await client.query('COMMIT');
    return added.map(({ id }) => id);
  } finally {
    client.release();
  }
}

const echoes = (count: number): BulkJob[] => Array.from({ length: count }, (_, value) => ({ type: 'echo', payload: { value } }));

beforeAll(async () => {
  database = await createTestDatabase(config);
  redis = createRedis(config.redis);
  await waitForRedis(redis, 5000);
  queue = new Queue({ redis, redisConfig: config.redis, queueConfig: config.queue, registry, schema: config.postgres.schema });
});

afterAll(async () => {
  await closeRedis(redis);
  await dropRedisKeys(config);
  await database?.drop();
});

describe('a worker whose PostgreSQL pool holds one connection (DATABASE_POOL_SIZE=1)', () => {
  let worker: SluiceWorker | undefined;

  afterAll(async () => {
    await worker?.close(1000);
  });

  it('relays committed jobs and records their history: the relay\'s LISTEN connection is not one of the pool\'s', async () => {
    worker = await createWorker({
      types: [echo],
      handlers: { echo: () => undefined },
      config: { ...config, postgres: { ...config.postgres, poolSize: 1 } },
    });
    const [id] = await committed(echoes(1));
    await waitFor('the job to complete', async () => (await queue.getJob(id as string))?.status === 'completed');
    const stored = await waitFor('its history to be recorded', async () => {
      const job = await jobsFindWithHistory(database.db, id as string);
      return job?.status === 'completed' ? job : null;
    });
    expect(stored.history.map(({ status }) => status)).toEqual(expect.arrayContaining(['pending', 'completed']));
  });
});
