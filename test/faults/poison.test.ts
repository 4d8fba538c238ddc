import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeRedis, createRedis, Queue, queueKeys, waitForRedis, WORKER_GROUP, type ScriptedRedis } from '@sluice/core';
import { createCrashingRegistry } from '../fixtures/crash-jobs';
import { createTestDatabase, dropRedisKeys, envFor, isolatedConfig, waitFor, type TestDatabase } from '../support/context';
import { WorkerPool } from '../support/worker-pool';

const MAX_DELIVERIES = 3;
const NOOPS = 50;
const settings = { MAX_DELIVERIES: String(MAX_DELIVERIES), VISIBILITY_TIMEOUT_MS: '1000', CONCURRENCY: '10' };

const config = isolatedConfig('poison', settings);
const keys = queueKeys(config.redis.prefix, config.queue.queues[0] ?? 'default');
let database: TestDatabase;
let redis: ScriptedRedis;
const pool = new WorkerPool({
  file: 'test/fixtures/crashing-worker.ts',
  env: { ...envFor(config), ...settings },
  size: 2,
  name: 'poison',
  maxRestarts: 10,
});
let crashId: string;
let noopIds: string[];

interface EventRow {
  job_id: string;
  status: string;
  worker: string | null;
  reason: string | null;
}

async function eventsOf(ids: readonly string[]): Promise<EventRow[]> {
  const { rows } = await database.pool.query<EventRow>(
    'SELECT job_id, status, worker, reason FROM job_events WHERE job_id = ANY($1::uuid[]) ORDER BY job_id, seq', [ids],
  );
  return rows;
}

beforeAll(async () => {
  database = await createTestDatabase(config);
  redis = createRedis(config.redis);
  await waitForRedis(redis, 5000);
  const queue = new Queue({ redis, redisConfig: config.redis, queueConfig: config.queue, registry: createCrashingRegistry() });

  pool.start();
  await pool.ready();
  // The crash job sits among the others, as it would in a real backlog.
  const noop = { type: 'noop', payload: {} };
  const added = await queue.addBulk([
    ...Array.from({ length: NOOPS / 2 }, () => noop),
    { type: 'crash', payload: {} },
    ...Array.from({ length: NOOPS / 2 }, () => noop),
  ]);
  crashId = added[NOOPS / 2]?.id ?? '';
  noopIds = added.filter((job) => job.type === 'noop').map((job) => job.id);

  // Nothing left in the stream or in any worker's hands: every job completed or was dead-lettered.
  await waitFor('every job to leave the stream', async () => {
    const [length, pending] = await Promise.all([redis.xlen(keys.stream), redis.xpending(keys.stream, WORKER_GROUP) as Promise<[number]>]);
    return length === 0 && pending[0] === 0;
  }, 45_000, 100);
  await waitFor('the history of every job in PostgreSQL', async () => {
    const { rows } = await database.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM jobs WHERE status IN ('completed', 'dead') AND id = ANY($1::uuid[])`, [[crashId, ...noopIds]],
    );
    return rows[0]?.n === NOOPS + 1;
  }, 30_000, 200);
}, 120_000);

afterAll(async () => {
  await pool.stop();
  if (redis) await closeRedis(redis);
  await dropRedisKeys(config);
  await database?.drop();
});

describe(`a job that kills its worker every time, with MAX_DELIVERIES=${MAX_DELIVERIES}`, () => {
  it('is dead-lettered as poison, in the job hash, the DLQ stream and the PostgreSQL history', async () => {
    expect(await redis.hmget(keys.job(crashId), 'status', 'deadReason')).toEqual(['dead', 'poison']);
    const dlq = await redis.xrange(keys.dlq, '-', '+');
    const entries = dlq.map(([, fields]) => Object.fromEntries(Array.from({ length: fields.length / 2 }, (_, i) => [fields[2 * i], fields[2 * i + 1]])));
    expect(entries.filter((entry) => entry.id === crashId)).toEqual([expect.objectContaining({ id: crashId, reason: 'poison' })]);

    const history = await eventsOf([crashId]);
    expect(history.at(-1)).toMatchObject({ status: 'dead', reason: 'poison' });
    const { rows } = await database.pool.query<{ status: string }>('SELECT status FROM jobs WHERE id = $1', [crashId]);
    expect(rows).toEqual([{ status: 'dead' }]);
  });

  it(`was started at most ${MAX_DELIVERIES} times, each start killing its worker`, async () => {
    const starts = (await eventsOf([crashId])).filter((event) => event.status === 'processing');
    expect(starts.length).toBeGreaterThanOrEqual(1);
    expect(starts.length).toBeLessThanOrEqual(MAX_DELIVERIES);
    const killed = pool.started.filter((service) => service.child.signalCode === 'SIGKILL').map((service) => service.name);
    expect(killed.sort()).toEqual(starts.map((event) => event.worker).sort());
  });

  it(`leaves the other jobs unaffected: all ${NOOPS} noop jobs complete`, async () => {
    // A job that did not complete shows who started it: the crash job's own workers point at it.
    const { rows } = await database.pool.query<{ id: string; status: string; reason: string | null; started_by: string[] }>(
      `SELECT j.id, j.status,
              (SELECT reason FROM job_events e WHERE e.job_id = j.id AND e.status = 'dead' LIMIT 1) AS reason,
              ARRAY(SELECT worker FROM job_events e WHERE e.job_id = j.id AND e.status = 'processing' ORDER BY seq) AS started_by
       FROM jobs j WHERE j.id = ANY($1::uuid[])`, [noopIds],
    );
    const crashStartedBy = (await eventsOf([crashId])).filter((event) => event.status === 'processing').map((event) => event.worker);
    expect(rows).toHaveLength(NOOPS);
    expect({ crashStartedBy, notCompleted: rows.filter((row) => row.status !== 'completed') }).toEqual({ crashStartedBy, notCompleted: [] });
  });
});
