import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Type } from 'typebox';
import {
  bandOrder, closeRedis, createRedis, DeadLetters, defineJobType, JobTypeRegistry, NORMAL_BAND, PRIORITY_BANDS, priorityBand, Queue, queueKeys, QueueLayouts,
  waitForRedis, Worker, type Job, type ScriptedRedis, type SluiceConfig,
} from '@sluice/core';
import { dropRedisKeys, isolatedConfig, singleNodeConfig, waitFor } from '../../../test/support/context';
import { SeededRandom } from '../../../test/support/seeded-random';

const gates: (() => void)[] = [];
let failFirst = true;
const registry = new JobTypeRegistry([
  defineJobType({ name: 'quick', payload: Type.Object({}) }),
  defineJobType({ name: 'gated', payload: Type.Object({}) }),
  defineJobType({ name: 'flaky', payload: Type.Object({}), retry: { maxAttempts: 3, immediateRetries: 0, baseDelayMs: 200, maxDelayMs: 200 } }),
  defineJobType({ name: 'doomed', payload: Type.Object({}), retry: { maxAttempts: 1, immediateRetries: 0, baseDelayMs: 1000, maxDelayMs: 1000 } }),
]);
const handlers = {
  quick: () => 'done',
  gated: () => new Promise<void>((resolve) => gates.push(resolve)),
  flaky: ({ attempt }: { attempt: number }) => {
    if (attempt === 1 && failFirst) throw new Error('first attempt fails');
    return 'done';
  },
  doomed: () => {
    throw new Error('always fails');
  },
};

interface System {
  config: SluiceConfig;
  redis: ScriptedRedis;
  queue: Queue;
  workers: Worker[];
}
const systems: System[] = [];

async function connect(label: string, env: Record<string, string> = {}, configOf = isolatedConfig): Promise<System> {
  const config = configOf(label, env);
  const redis = createRedis(config.redis);
  await waitForRedis(redis, 5000);
  const system: System = { config, redis, queue: new Queue({ redis, redisConfig: config.redis, queueConfig: config.queue, registry }), workers: [] };
  systems.push(system);
  return system;
}

/** Starts a worker and records, in order, the ids of the jobs it starts. */
async function startWorker(system: System, options: { random?: () => number } = {}): Promise<string[]> {
  const { config } = system;
  const worker = new Worker({ redis: config.redis, queue: config.queue, worker: config.worker, registry, handlers, ...options });
  const started: string[] = [];
  worker.on('job:started', ({ id }) => started.push(id));
  system.workers.push(worker);
  await worker.start();
  return started;
}

afterEach(async () => {
  for (const release of gates.splice(0)) release();
  failFirst = true;
  for (const { config, redis, workers } of systems.splice(0)) {
    await Promise.all(workers.map((worker) => worker.close(1000)));
    await closeRedis(redis);
    await dropRedisKeys(config);
  }
});

function status(queue: Queue, id: string, wanted: Job['status']): Promise<Job> {
  return waitFor(`job ${id} to be ${wanted}`, async () => {
    const job = await queue.getJob(id);
    return job?.status === wanted ? job : null;
  });
}

describe('priority bands', () => {
  it('maps the whole priority range onto five bands, 0 alone in the normal one', () => {
    expect(PRIORITY_BANDS.map((band) => band.name)).toEqual(['highest', 'high', 'normal', 'low', 'lowest']);
    expect([1000, 100, 99, 1, 0, -1, -99, -100, -1000].map(priorityBand)).toEqual([0, 0, 1, 1, 2, 3, 3, 4, 4]);
    expect(priorityBand(0)).toBe(NORMAL_BAND);
  });

  it('has the scripts agree with the library on the number of bands, the normal one and the grouped stream after them', () => {
    const steps = readFileSync(new URL('../src/redis/lua/job-steps.lua', import.meta.url), 'utf8');
    expect(steps).toContain(`local BAND_COUNT, NORMAL_BAND, GROUPED_LANE = ${PRIORITY_BANDS.length}, ${NORMAL_BAND}, ${PRIORITY_BANDS.length}`);
    const keys = queueKeys('p', 'q');
    expect(keys.streams).toEqual([...keys.bands, keys.grouped]);
    expect(keys.lanes).toEqual([...keys.streams, keys.fair, keys.fairTags]);
  });

  it('orders the bands highest first under the strict policy, and draws them by weight under the weighted one', () => {
    expect(bandOrder({ kind: 'strict' }, Math.random)).toBe('01234');
    const seeded = new SeededRandom(7);
    const random = (): number => seeded.next();
    const firsts = new Map<string, number>();
    for (let draw = 0; draw < 10_000; draw += 1) {
      const order = bandOrder({ kind: 'weighted', weights: [16, 8, 4, 2, 1] }, random);
      expect([...order].sort().join('')).toBe('01234');
      firsts.set(order[0] as string, (firsts.get(order[0] as string) ?? 0) + 1);
    }
    // Each band comes first in its weight's share of draws: 16/31, 8/31, 4/31, 2/31, 1/31.
    [16, 8, 4, 2, 1].forEach((weight, band) => expect((firsts.get(String(band)) ?? 0) / 10_000).toBeCloseTo(weight / 31, 1));
  });
});

describe('priorities that order', () => {
  it('starts a backlog band by band, highest first, and in the order the jobs came within a band', async () => {
    const system = await connect('priority-backlog', { CONCURRENCY: '1' });
    const priorities = [0, -5, 7, 0, -500, 900, 0, 50, -1, 100, 0, -1000, 3, 0];
    const added = await system.queue.addBulk(priorities.map((priority) => ({ type: 'quick', payload: {}, priority })));
    const started = await startWorker(system);
    await waitFor('every job to start', () => started.length === added.length);
    const expected = added
      .map(({ id }, index) => ({ id, band: priorityBand(priorities[index] as number), index }))
      .sort((a, b) => a.band - b.band || a.index - b.index)
      .map(({ id }) => id);
    expect(started).toEqual(expected);
  });

  it('starts a job of a higher band next, ahead of a lower band\'s backlog already running', async () => {
    const system = await connect('priority-jump', { CONCURRENCY: '1' });
    const backlog = await system.queue.addBulk(Array.from({ length: 20 }, () => ({ type: 'gated', payload: {} })));
    const started = await startWorker(system);
    await waitFor('the first of the backlog to run', () => gates.length === 1);
    const urgent = await system.queue.add('quick', {}, { priority: 500 });
    gates.shift()?.();
    await status(system.queue, urgent.id, 'completed');
    expect(started.slice(0, 2)).toEqual([backlog[0]?.id, urgent.id]);
  });

  it('keeps the priority of delayed jobs and retries: each comes back to its band, ahead of a lower backlog', async () => {
    const system = await connect('priority-delayed', { CONCURRENCY: '1' });
    const started = await startWorker(system);
    const flaky = await system.queue.add('flaky', {}, { priority: 10 });
    await status(system.queue, flaky.id, 'retrying');
    const delayed = await system.queue.add('quick', {}, { priority: -1, delay: 100 });
    const backlog = await system.queue.addBulk(Array.from({ length: 30 }, () => ({ type: 'gated', payload: {} })));
    await waitFor('the first of the backlog to run', () => gates.length === 1);
    // The retry (200 ms backoff) comes back to the high band: it runs next, before the rest of the normal backlog.
    await waitFor('the retry to be due', async () => (await system.queue.getJob(flaky.id))?.status === 'pending');
    gates.shift()?.();
    await status(system.queue, flaky.id, 'completed');
    expect(started.indexOf(flaky.id, 1)).toBe(started.indexOf(backlog[0]?.id as string) + 1);
    // The delayed job of a low band waits for the whole normal backlog, though it was due long before.
    await status(system.queue, delayed.id, 'pending');
    const low = (await system.redis.xrange(queueKeys(system.config.redis.prefix, 'default').bands[priorityBand(-1)] as string, '-', '+')).map(([, fields]) => fields[1]);
    expect(low).toEqual([delayed.id]);
    for (let released = 1; released < backlog.length; released += 1) {
      await waitFor('the next of the backlog to run', () => gates.length === 1);
      gates.shift()?.();
    }
    await status(system.queue, delayed.id, 'completed');
    expect(started.at(-1)).toBe(delayed.id);
  });

  it('sends a dead job of a band back to that band when it is retried', async () => {
    const system = await connect('priority-dead', { CONCURRENCY: '1' });
    await startWorker(system);
    const doomed = await system.queue.add('doomed', {}, { priority: -300 });
    await status(system.queue, doomed.id, 'dead');
    await system.workers[0]?.close(1000);
    const keys = queueKeys(system.config.redis.prefix, 'default');
    const deadLetters = new DeadLetters(system.redis, new QueueLayouts(system.redis, system.config.redis.prefix, system.config.queue.partitions), system.config.queue.queues);
    await deadLetters.retry(doomed.id);
    const lowest = (await system.redis.xrange(keys.bands[priorityBand(-300)] as string, '-', '+')).map(([, fields]) => fields[1]);
    expect(lowest).toEqual([doomed.id]);
    expect(await system.redis.xlen(keys.stream)).toBe(0);
  });

  it('cancels a waiting job of any band, deleting its entry from its band\'s stream', async () => {
    const system = await connect('priority-cancel');
    const keys = queueKeys(system.config.redis.prefix, 'default');
    const high = await system.queue.add('quick', {}, { priority: 42 });
    expect(await system.redis.xlen(keys.bands[1] as string)).toBe(1);
    await system.queue.cancel(high.id);
    expect(await system.redis.xlen(keys.bands[1] as string)).toBe(0);
    expect((await system.queue.getJob(high.id))?.status).toBe('cancelled');
  });

  it('orders each partition of a partitioned queue by band', async () => {
    const system = await connect('priority-partitions', { QUEUE_PARTITIONS: '3', CONCURRENCY: '1' });
    const priorities = Array.from({ length: 30 }, (_, index) => (index % 3 === 0 ? 200 : index % 3 === 1 ? 0 : -200));
    const added = await system.queue.addBulk(priorities.map((priority, index) => ({ type: 'quick', payload: {}, priority, partitionKey: `key-${index % 7}` })));
    const started = await startWorker(system);
    await waitFor('every job to start', () => started.length === added.length);
    const partitionOf = new Map(added.map(({ id }) => [id, id.slice(-2)]));
    const bandOf = new Map(added.map(({ id }, index) => [id, priorityBand(priorities[index] as number)]));
    for (const partition of new Set(partitionOf.values())) {
      const bands = started.filter((id) => partitionOf.get(id) === partition).map((id) => bandOf.get(id) as number);
      expect(bands).toEqual([...bands].sort((a, b) => a - b));
    }
  });

  it('lets a low band move under a flood of a higher one with the weighted policy, and not with the strict one', async () => {
    const shareOfLow = async (label: string, env: Record<string, string>): Promise<number> => {
      const system = await connect(label, { CONCURRENCY: '1', ...env });
      const jobs = [...Array.from({ length: 150 }, () => ({ type: 'quick', payload: {}, priority: 50 })), ...Array.from({ length: 150 }, () => ({ type: 'quick', payload: {}, priority: -50 }))];
      const added = await system.queue.addBulk(jobs);
      const low = new Set(added.slice(150).map(({ id }) => id));
      const seeded = new SeededRandom(11);
      const started = await startWorker(system, { random: () => seeded.next() });
      await waitFor('a hundred jobs to start', () => started.length >= 100);
      return started.slice(0, 100).filter((id) => low.has(id)).length / 100;
    };
    expect(await shareOfLow('priority-strict', {})).toBe(0);
    // High (8) against low (2): the low band comes first in 2 / (8 + 2) of the reads.
    const weighted = await shareOfLow('priority-weighted', { PRIORITY_POLICY: 'weighted' });
    expect(weighted).toBeGreaterThan(0.1);
    expect(weighted).toBeLessThan(0.3);
  });

  it('wakes an idle worker for a job of any band', async () => {
    // On one node even in the cluster project: its client list shows the worker's blocking read.
    const system = await connect('priority-wake', { WORKER_BLOCK_MS: '10000' }, singleNodeConfig);
    const started = await startWorker(system);
    await waitFor('the worker to wait in its blocking read', async () => String(await system.redis.client('LIST')).split('\n')
      .some((line) => line.includes(`name=${system.config.worker.consumerName}:default `) && / flags=b /.test(line)));
    for (const priority of [-1000, 1000, 0]) {
      const { id } = await system.queue.add('quick', {}, { priority });
      await waitFor(`the job of priority ${priority} to start well within the blocking read`, () => started.includes(id), 3000);
    }
  });
});
