import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Type } from 'typebox';
import { defineJobType, jobsFindWithHistory, JobTypeRegistry, PermanentJobError, queueKeys, type Queue, type ScriptedRedis } from '@sluice/core';
import { createTestDatabase, isolatedConfig, waitFor, type TestDatabase } from '../../../test/support/context';
import { startInProcess, type InProcess } from '../../../test/support/in-process';

const config = isolatedConfig('lifecycle', { CONCURRENCY: '4' });
const registry = new JobTypeRegistry([
  defineJobType({ name: 'echo', payload: Type.Object({ value: Type.Number() }, { additionalProperties: false }) }),
  defineJobType({ name: 'flaky', payload: Type.Object({ failures: Type.Integer() }), retry: { maxAttempts: 3, immediateRetries: 5 } }),
  defineJobType({ name: 'broken', payload: Type.Object({}), retry: { maxAttempts: 5 } }),
]);
const handlers = {
  echo: ({ payload }: { payload: { value: number } }) => ({ doubled: payload.value * 2 }),
  flaky: ({ payload, attempt }: { payload: { failures: number }; attempt: number }) => {
    if (attempt <= payload.failures) throw new Error(`failure ${attempt}`);
    return 'ok';
  },
  broken: () => {
    throw new PermanentJobError('cannot ever work');
  },
};

let database: TestDatabase;
let system: InProcess;
let redis: ScriptedRedis;
let queue: Queue;

beforeAll(async () => {
  database = await createTestDatabase(config);
  system = await startInProcess(config, registry, handlers, { pool: database.pool });
  ({ redis, queue } = system);
});

afterAll(async () => {
  await system?.close();
  await database?.drop();
});

describe('a job through its life', () => {
  it('completes, stores its result, and records pending → processing → completed in PostgreSQL', async () => {
    const added = await queue.add('echo', { value: 21 });
    expect(added).toMatchObject({ status: 'pending', duplicate: false, queue: 'default', type: 'echo' });

    const done = await waitFor('the job to complete in Redis', async () => {
      const job = await queue.getJob(added.id);
      return job?.status === 'completed' ? job : null;
    });
    expect(done.result).toEqual({ doubled: 42 });
    expect(done.attempts).toBe(1);
    expect(done.history.map((event) => event.status)).toEqual(['pending', 'processing', 'completed']);

    const stored = await waitFor('the history in PostgreSQL', async () => {
      const job = await jobsFindWithHistory(database.db, added.id);
      return job?.status === 'completed' ? job : null;
    });
    expect(stored.history.map((event) => [event.status, event.attempt])).toEqual([['pending', 0], ['processing', 1], ['completed', 1]]);
    expect(stored.result).toEqual({ doubled: 42 });
    expect(stored.finishedAt).not.toBeNull();
    expect(stored.history[1]?.worker).toBe(config.worker.consumerName);
  });

  it('records each failed attempt with its error and completes on the third', async () => {
    const added = await queue.add('flaky', { failures: 2 });
    const stored = await waitFor('the flaky job completed in PostgreSQL', async () => {
      const job = await jobsFindWithHistory(database.db, added.id);
      return job?.status === 'completed' ? job : null;
    });
    expect(stored.attempts).toBe(3);
    expect(stored.lastError).toBe('failure 2');
    expect(stored.history.filter((event) => event.status === 'failed').map((event) => event.error)).toEqual(['failure 1', 'failure 2']);
  });

  it('sends a permanent failure straight to the dead-letter stream', async () => {
    const added = await queue.add('broken', {});
    const job = await waitFor('the job to be dead', async () => {
      const current = await queue.getJob(added.id);
      return current?.status === 'dead' ? current : null;
    });
    expect(job.attempts).toBe(1);
    expect(job.lastError).toBe('cannot ever work');
    const dlq = await redis.xrange(queueKeys(config.redis.prefix, 'default').dlq, '-', '+');
    expect(dlq.map(([, fields]) => fields.slice(0, 4))).toContainEqual(['id', added.id, 'reason', 'permanent']);
  });

  it('holds a delayed job back until it is due', async () => {
    const before = Date.now();
    const added = await queue.add('echo', { value: 1 }, { delay: 300 });
    expect(added.status).toBe('scheduled');
    const job = await waitFor('the delayed job to complete', async () => {
      const current = await queue.getJob(added.id);
      return current?.status === 'completed' ? current : null;
    });
    const started = job.history.find((event) => event.status === 'processing');
    expect(Date.parse(started?.at ?? '')).toBeGreaterThanOrEqual(before + 300);
  });

  it('returns the first job for a repeated idempotency key and adds nothing', async () => {
    const first = await queue.add('echo', { value: 5 }, { idempotencyKey: 'order-17' });
    const second = await queue.add('echo', { value: 6 }, { idempotencyKey: 'order-17' });
    expect(second).toMatchObject({ id: first.id, duplicate: true });
  });
});
