import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Type } from 'typebox';
import {
  closeRedis, createRedis, createWorker, defineJobType, jobsFindWithHistory, JobTypeRegistry, outboxBacklog, OutboxRelay, outboxSetAsideKey, Queue,
  waitForRedis, type BulkJob, type ScriptedRedis, type SluiceWorker,
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

describe('an outbox row the relay cannot read', () => {
  it('is set aside in Redis with why, and the rows after it are relayed', async () => {
    // Rows written by hand or by another version: older ids than any job enqueued since, so first in line.
    const unreadable = [
      { id: '00000000-0000-7000-8000-000000000001', queue: 'default', submission: { type: 'echo' } },
      { id: '00000000-0000-7000-8000-000000000002', queue: 'default', submission: 'echo' },
      { id: '00000000-0000-7000-8000-000000000003', queue: '{}', submission: { type: 'echo', payload: {}, maxAttempts: 1, priority: 0, due: { delayMs: 0 }, idempotencyKey: '', group: '' } },
    ];
    for (const row of unreadable) {
      await database.pool.query('INSERT INTO job_outbox (id, queue, submission) VALUES ($1, $2, $3::jsonb)', [row.id, row.queue, JSON.stringify(row.submission)]);
    }
    const ids = await committed(echoes(3));
    const relay = new OutboxRelay({ pool: database.pool, schema: config.postgres.schema, queue });

    expect(await relay.runOnce()).toBe(6);
    expect((await outboxBacklog(database.pool)).rows).toBe(0);
    for (const id of ids) expect(await queue.getJob(id)).toMatchObject({ status: 'pending', type: 'echo' });
    const entries = await redis.xrange(outboxSetAsideKey(config.redis.prefix), '-', '+');
    const fields = entries.map(([, values]) => Object.fromEntries(values.reduce<[string, string][]>(
      (pairs, value, index) => (index % 2 === 0 ? [...pairs, [value, values[index + 1] as string]] : pairs), [],
    )));
    expect(fields.map(({ id }) => id)).toEqual(unreadable.map(({ id }) => id));
    expect(fields.map(({ problem }) => problem)).toEqual([
      'submission.payload must be an object',
      'submission must be an object',
      'queue must match ^[A-Za-z0-9_.:-]{1,64}$ (got "{}")',
    ]);
    expect(JSON.parse(fields[0]?.submission as string)).toEqual({ type: 'echo' });
    for (const row of unreadable) expect(await queue.getJob(row.id)).toBeNull();
  });
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
