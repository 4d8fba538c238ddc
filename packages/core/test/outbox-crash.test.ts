import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Type } from 'typebox';
import {
  closeRedis, createRedis, createWorker, defineJobType, JobTypeRegistry, outboxBacklog, Queue, queueKeys, waitForRedis, type ScriptedRedis, type SluiceWorker,
} from '@sluice/core';
import { createTestDatabase, dropRedisKeys, envFor, isolatedConfig, waitFor, type TestDatabase } from '../../../test/support/context';
import { ServiceProcess } from '../../../test/support/processes';

const JOBS = 200;
const config = isolatedConfig('outbox_crash');
const echo = defineJobType({ name: 'echo', payload: Type.Object({ value: Type.Number() }) });
const keys = queueKeys(config.redis.prefix, 'default');

let database: TestDatabase;
let redis: ScriptedRedis;
let queue: Queue;
let worker: SluiceWorker | undefined;
let relay: ServiceProcess | undefined;

beforeAll(async () => {
  database = await createTestDatabase(config);
  redis = createRedis(config.redis);
  await waitForRedis(redis, 5000);
  queue = new Queue({ redis, redisConfig: config.redis, queueConfig: config.queue, registry: new JobTypeRegistry([echo]), schema: config.postgres.schema });
});

afterAll(async () => {
  await relay?.stop('SIGKILL');
  await worker?.close(1000);
  await closeRedis(redis);
  await dropRedisKeys(config);
  await database?.drop();
});

describe('an outbox relay killed mid-batch', () => {
  it('killed (SIGKILL) after adding its batch to Redis and before deleting the rows: each job still runs exactly once, none is lost', async () => {
    const client = await database.pool.connect();
    let ids: string[];
    try {
      await client.query('BEGIN');
      ids = (await queue.enqueueInTransaction(client, Array.from({ length: JOBS }, (_, value) => ({ type: 'echo', payload: { value } })))).map(({ id }) => id);
      await client.query('COMMIT');
    } finally {
      client.release();
    }

    relay = ServiceProcess.start('stopping-relay', 'test/fixtures/stopping-relay.ts', envFor(config));
    await relay.waitForOutput(`added ${JOBS} jobs to Redis`);
    await relay.stop('SIGKILL');
    // PostgreSQL rolls the dead relay's transaction back: every row is still there, and every job in Redis.
    await waitFor('the dead relay\'s transaction to end', async () => {
      // Its connection's last statement read this schema's outbox: no other test's session matches.
      const { rows } = await database.pool.query<{ waiting: boolean }>(
        "SELECT count(*) = 0 AS waiting FROM pg_stat_activity WHERE state = 'idle in transaction' AND query LIKE '%' || $1 || '%job_outbox%'",
        [config.postgres.schema],
      );
      return rows[0]?.waiting;
    });
    expect((await outboxBacklog(database.pool)).rows).toBe(JOBS);
    expect(await redis.xlen(keys.stream)).toBe(JOBS);
    expect(await redis.exists(...ids.slice(0, 10).map((id) => keys.outboxRelayed(id)))).toBe(10);

    const runs = new Map<string, number>();
    worker = await createWorker({ types: [echo], handlers: { echo: ({ id }: { id: string }) => void runs.set(id, (runs.get(id) ?? 0) + 1) }, config });
    await waitFor('every job to complete', async () => (await Promise.all(ids.map((id) => queue.getJob(id)))).every((job) => job?.status === 'completed'), 20_000);
    await waitFor('the outbox to be empty', async () => (await outboxBacklog(database.pool)).rows === 0);
    expect(ids.filter((id) => runs.get(id) !== 1)).toEqual([]);
    expect(runs.size).toBe(JOBS);
    for (const id of ids.slice(0, 20)) {
      const job = await queue.getJob(id);
      expect(job?.history.filter((event) => event.status === 'pending')).toHaveLength(1);
    }
    await waitFor('the relayed markers to be removed', async () => (await redis.exists(...ids.slice(0, 10).map((id) => keys.outboxRelayed(id)))) === 0);
  });
});
