import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Type } from 'typebox';
import { closeRedis, createRedis, defineJobType, historyBacklog, HistoryRecorder, type JobContext, jobsFindWithHistory, JobTypeRegistry, PermanentJobError, Queue, queueKeys, QueueLayouts, type ScriptedRedis, waitForRedis } from '@sluice/core';
import { newJobId } from '../src/job-id';
import { createTestDatabase, dropRedisKeys, isolatedConfig, waitFor, type TestDatabase } from '../../../test/support/context';
import { startInProcess, type InProcess } from '../../../test/support/in-process';

const config = isolatedConfig('history-isolation');
const keys = queueKeys(config.redis.prefix, 'default');
const registry = new JobTypeRegistry([
  defineJobType({ name: 'noop', payload: Type.Object({}) }),
  defineJobType({ name: 'odd-result', payload: Type.Object({}) }),
  defineJobType({ name: 'odd-error', payload: Type.Object({}), retry: { maxAttempts: 1 } }),
  defineJobType({ name: 'cut-error', payload: Type.Object({}), retry: { maxAttempts: 1 } }),
]);
const handlers = {
  noop: () => undefined,
  'odd-result': async ({ progress }: JobContext) => {
    await progress({ step: 'half\ud800' });
    return { text: 'nul\u0000here', lone: '\udc00', ['key\u0000']: 1 };
  },
  'odd-error': () => {
    throw new PermanentJobError('status text with a NUL\u0000 and \ud83d alone');
  },
  // An error cut at 2000 characters right inside a surrogate pair.
  'cut-error': () => {
    throw new PermanentJobError(`${'x'.repeat(1999)}😀 and more`);
  },
};

let database: TestDatabase;
let redis: ScriptedRedis;
let queue: Queue;

beforeAll(async () => {
  database = await createTestDatabase(config);
  redis = createRedis(config.redis);
  await waitForRedis(redis, 5000);
  queue = new Queue({ redis, redisConfig: config.redis, queueConfig: config.queue, registry });
});

afterAll(async () => {
  await closeRedis(redis);
  await dropRedisKeys(config);
  await database?.drop();
});

/** A recorder draining by hand; all share one owner, so each takes the lease the last one held. */
function recorder(): HistoryRecorder {
  return new HistoryRecorder({ redis, pool: database.pool, prefix: config.redis.prefix, queues: ['default'], owner: 'by-hand', leaseMs: 1000 });
}

/** A first event as the enqueue script writes it, whose payload PostgreSQL's jsonb cannot read. */
function unreadableEvent(jobId: string): Record<string, unknown> {
  const now = Date.now();
  return {
    job: jobId, seq: 1, status: 'pending', attempt: 0, at: now, queue: 'default', type: 'noop', payload: '{"x":"\\ud800"}',
    maxAttempts: 3, priority: 0, runAt: now, idempotencyKey: '',
  };
}

async function drain(history: HistoryRecorder): Promise<void> {
  while (await history.runOnce('default'));
}

describe('an event PostgreSQL refuses', () => {
  it('is set aside, named in the set-aside stream, while every event before and after it is recorded', async () => {
    const before = await queue.add('noop', {});
    const bad = newJobId();
    await redis.xadd(keys.events, '*', 'events', JSON.stringify([unreadableEvent(bad)]));
    const after = await queue.add('noop', {});
    await drain(recorder());

    expect((await jobsFindWithHistory(database.db, before.id))?.status).toBe('pending');
    expect((await jobsFindWithHistory(database.db, after.id))?.status).toBe('pending');
    expect(await jobsFindWithHistory(database.db, bad)).toBeNull();
    expect(await redis.xlen(keys.events)).toBe(0);
    const setAside = await redis.xrange(keys.historySetAside, '-', '+');
    expect(setAside).toHaveLength(1);
    const fields = setAside[0]?.[1] ?? [];
    expect(fields[fields.indexOf('jobs') + 1]).toBe(bad);
    expect(fields[fields.indexOf('error') + 1]).toMatch(/json/i);
    expect((await historyBacklog(redis, new QueueLayouts(redis, config.redis.prefix, config.queue.partitions), ['default'])).default).toEqual({ entries: 0, lagMs: 0, setAside: 1 });
  });

  it('is taken out of a script call\'s entry alone: the other jobs of that entry are recorded', async () => {
    const now = Date.now();
    const good = newJobId();
    const bad = newJobId();
    const goodEvent = { ...unreadableEvent(good), payload: '{"fine":true}', at: now };
    await redis.xadd(keys.events, '*', 'events', JSON.stringify([goodEvent, unreadableEvent(bad), { job: good, seq: 2, status: 'cancelled', attempt: 0, at: now + 1 }]));
    await drain(recorder());
    const recorded = await jobsFindWithHistory(database.db, good);
    expect(recorded?.status).toBe('cancelled');
    expect(recorded?.payload).toEqual({ fine: true });
    expect(recorded?.history.map((event) => event.status)).toEqual(['pending', 'cancelled']);
    expect(await jobsFindWithHistory(database.db, bad)).toBeNull();
    expect(await redis.xlen(keys.events)).toBe(0);
  });
});

describe('what handlers produce', () => {
  let system: InProcess;
  beforeAll(async () => {
    system = await startInProcess(config, registry, handlers, { pool: database.pool });
  });
  afterAll(async () => {
    await system?.close();
  });

  async function storedWhen(id: string, status: string) {
    return waitFor(`job ${id} to be ${status} in PostgreSQL`, async () => {
      const job = await jobsFindWithHistory(database.db, id);
      return job?.status === status ? job : null;
    }, 15_000);
  }

  it('stores results and progress holding NUL characters and unpaired surrogates, with U+FFFD in their place', async () => {
    const { id } = await system.queue.add('odd-result', {});
    const job = await storedWhen(id, 'completed');
    expect(job.result).toEqual({ text: 'nul\ufffdhere', lone: '\ufffd', ['key\ufffd']: 1 });
    expect((await system.queue.getJob(id))?.progress).toEqual({ step: 'half\ufffd' });
  });

  it('stores error messages holding them, and messages cut inside a surrogate pair', async () => {
    const odd = await system.queue.add('odd-error', {});
    const cut = await system.queue.add('cut-error', {});
    expect((await storedWhen(odd.id, 'dead')).lastError).toBe('status text with a NUL\ufffd and \ufffd alone');
    expect((await storedWhen(cut.id, 'dead')).lastError).toBe(`${'x'.repeat(1999)}\ufffd`);
  });

  it('leaves nothing unrecorded behind them, and nothing more set aside', async () => {
    await waitFor('the events stream to drain', async () => (await redis.xlen(keys.events)) === 0);
    // The two events set aside on purpose above, and no other.
    expect((await historyBacklog(redis, new QueueLayouts(redis, config.redis.prefix, config.queue.partitions), ['default'])).default?.setAside).toBe(2);
  });
});

describe('stopping the recorder', () => {
  it('drains what the events stream held when the stop began, not what other workers keep adding', async () => {
    const history = recorder();
    history.start();
    let stopped = false;
    // Another worker's events, added faster than PostgreSQL records them, until the stop returns.
    const producer = (async () => {
      for (let round = 0; round < 2000 && !stopped; round += 1) {
        const pipeline = redis.pipeline();
        for (let i = 0; i < 200; i += 1) pipeline.xadd(keys.events, '*', 'events', JSON.stringify([{ ...unreadableEvent(newJobId()), payload: '{}' }]));
        await pipeline.exec();
      }
    })();
    await waitFor('the producer to get ahead', async () => (await redis.xlen(keys.events)) > 2000);
    const startedAt = Date.now();
    await history.stop();
    const took = Date.now() - startedAt;
    stopped = true;
    await producer;
    expect(took).toBeLessThan(5000);
    expect(await redis.xlen(keys.events)).toBeGreaterThan(0);
    await redis.del(keys.events);
  }, 30_000);
});
