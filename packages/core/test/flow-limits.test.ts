import { afterEach, describe, expect, it } from 'vitest';
import { Type } from 'typebox';
import {
  defineJobType, InvalidLimitsError, JobTypeRegistry, MAX_POSTPONEMENTS, partitionShare, Queue, RetryAfterError, type FlowLimits, type Job,
} from '@sluice/core';
import { waitFor } from '../../../test/support/context';
import { allCompleted, WorkerSystems, type WorkerSystem } from '../../../test/support/worker-system';

/** Handlers that wait to be let go, and how many run at once, by type. */
const gates: (() => void)[] = [];
const running = new Map<string, { now: number; most: number }>();
const starts = new Map<string, number[]>();

function gated(type: string): () => Promise<void> {
  return async () => {
    const count = running.get(type) ?? { now: 0, most: 0 };
    running.set(type, count);
    count.now += 1;
    count.most = Math.max(count.most, count.now);
    await new Promise<void>((resolve) => gates.push(resolve));
    count.now -= 1;
  };
}

function timed(type: string): () => void {
  return () => {
    starts.set(type, [...(starts.get(type) ?? []), Date.now()]);
  };
}

let postponements = 0;
const types = [
  defineJobType({ name: 'capped', payload: Type.Object({}), limits: { concurrency: 2 } }),
  defineJobType({ name: 'one-at-a-time', payload: Type.Object({}), limits: { concurrency: 1 } }),
  defineJobType({ name: 'metered', payload: Type.Object({}), limits: { rate: { max: 5, perMs: 1000 } } }),
  defineJobType({ name: 'free', payload: Type.Object({}) }),
  defineJobType({ name: 'quick', payload: Type.Object({}) }),
  defineJobType({ name: 'patient', payload: Type.Object({}), retry: { maxAttempts: 1 } }),
  defineJobType({ name: 'stubborn', payload: Type.Object({}), retry: { maxAttempts: 1 } }),
];
const registry = new JobTypeRegistry(types);
const handlers = {
  capped: gated('capped'),
  'one-at-a-time': gated('one-at-a-time'),
  metered: timed('metered'),
  free: gated('free'),
  quick: timed('quick'),
  patient: ({ attempt }: { attempt: number }) => {
    postponements += 1;
    if (postponements === 1) throw new RetryAfterError(200, 'the service said: slow down');
    return `ran on attempt ${attempt}`;
  },
  stubborn: () => {
    throw new RetryAfterError(0);
  },
};

const systems = new WorkerSystems(registry);
const connect = (label: string, env: Record<string, string> = {}): Promise<WorkerSystem> => systems.connect(label, env);

const startWorkers = (system: WorkerSystem, count: number): Promise<void> => systems.startWorkers(system, registry, handlers, count);

afterEach(async () => {
  for (const release of gates.splice(0)) release();
  running.clear();
  starts.clear();
  postponements = 0;
  await systems.closeAll();
});

function status(queue: Queue, id: string, wanted: Job['status'], timeoutMs?: number): Promise<Job> {
  return waitFor(`job ${id} to be ${wanted}`, async () => {
    const job = await queue.getJob(id);
    return job?.status === wanted ? job : null;
  }, timeoutMs);
}

/** Lets the gated handlers go one at a time until `ids` have all completed. */
function releaseUntilDone(queue: Queue, ids: readonly string[]): Promise<Job[]> {
  return allCompleted(queue, ids, 20_000, () => gates.shift()?.());
}

/**
 * The most handler starts within any `windowMs` of one another. The limits count starts on Redis's
 * clock, a moment before each handler begins; windows a little shorter than the limit's leave room
 * for that moment, which a busy machine stretches.
 */
function mostInWindow(times: readonly number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  return Math.max(0, ...sorted.map((time, index) => sorted.filter((other, later) => later >= index && other - time < windowMs).length));
}

describe('flow limits of a job type', () => {
  it('holds a type to its concurrency cap across workers, without spending the held jobs\' attempts', async () => {
    const system = await connect('limits-type-cap', { CONCURRENCY: '10' });
    await startWorkers(system, 2);
    const added = await system.queue.addBulk(Array.from({ length: 8 }, () => ({ type: 'capped', payload: {} })));
    await waitFor('two to run', () => running.get('capped')?.now === 2);
    const jobs = await releaseUntilDone(system.queue, added.map(({ id }) => id));
    expect(running.get('capped')?.most).toBe(2);
    expect(jobs.map((job) => job.attempts)).toEqual(Array.from({ length: 8 }, () => 1));
  });

  it('holds a type to its rate across workers: at most max starts in any window', async () => {
    const system = await connect('limits-type-rate', { CONCURRENCY: '10' });
    await startWorkers(system, 3);
    const added = await system.queue.addBulk(Array.from({ length: 15 }, () => ({ type: 'metered', payload: {} })));
    for (const { id } of added) await status(system.queue, id, 'completed', 10_000);
    const times = starts.get('metered') ?? [];
    expect(times).toHaveLength(15);
    expect(mostInWindow(times, 900)).toBeLessThanOrEqual(5);
    // Three windows' worth: the last five start no sooner than two windows after the first.
    expect(Math.max(...times) - Math.min(...times)).toBeGreaterThanOrEqual(1900);
  });

  it('lets held jobs go highest band first', async () => {
    const system = await connect('limits-bands', { CONCURRENCY: '10' });
    await startWorkers(system, 1);
    const first = await system.queue.add('one-at-a-time', {});
    await waitFor('the first to run', () => running.get('one-at-a-time')?.now === 1);
    const low = await system.queue.addBulk(Array.from({ length: 3 }, () => ({ type: 'one-at-a-time', payload: {}, priority: -10 })));
    await waitFor('the low ones to be held', async () => Number((await system.redis.hget(system.workers[0]?.layouts.current('default')[0]?.keys.limited ?? '', 'one-at-a-time')) ?? 0) === 3);
    const high = await system.queue.add('one-at-a-time', {}, { priority: 10 });
    const jobs = await releaseUntilDone(system.queue, [first.id, ...low.map(({ id }) => id), high.id]);
    const startedAt = (job: Job): number => new Date(job.history.find((event) => event.status === 'processing')?.at ?? 0).getTime();
    const [, lowJobs, highJob] = [jobs[0], jobs.slice(1, 4), jobs[4] as Job];
    for (const job of lowJobs) expect(startedAt(highJob)).toBeLessThanOrEqual(startedAt(job));
  });

  it('says why a held job waits: its type\'s cap or rate', async () => {
    const system = await connect('limits-waiting', { CONCURRENCY: '10' });
    await startWorkers(system, 1);
    const [, second] = await system.queue.addBulk(Array.from({ length: 2 }, () => ({ type: 'one-at-a-time', payload: {} })));
    const waiting = await waitFor('the second to be held back', async () => {
      const reason = await system.queue.waiting(second?.id as string);
      return reason?.reason === 'concurrency_cap' ? reason : null;
    });
    expect(waiting.message).toContain('Held back by job type "one-at-a-time"\'s concurrency cap (1 at once)');
    const metered = await system.queue.addBulk(Array.from({ length: 6 }, () => ({ type: 'metered', payload: {} })));
    const held = await waitFor('one to be held back by the rate', async () => {
      const reasons = await Promise.all(metered.map(({ id }) => system.queue.waiting(id)));
      return reasons.find((reason) => reason?.reason === 'rate_limit') ?? null;
    });
    expect(held.message).toContain('rate limit (5 per 1000 ms)');
  });

  it('splits a cap over a partitioned queue\'s partitions, rounding up, so the queue holds to it', async () => {
    expect(partitionShare({ concurrency: 2, rate: { max: 100, perMs: 1000 } }, 3)).toEqual({ concurrency: 1, rate: { max: 34, perMs: 1000 } });
    const system = await connect('limits-partitions', { CONCURRENCY: '10', QUEUE_PARTITIONS: '2' });
    await startWorkers(system, 2);
    const added = await system.queue.addBulk(Array.from({ length: 8 }, () => ({ type: 'capped', payload: {} })));
    await waitFor('two to run', () => running.get('capped')?.now === 2);
    await releaseUntilDone(system.queue, added.map(({ id }) => id));
    expect(running.get('capped')?.most).toBe(2);
  });

  it('refuses limits out of range when a type is declared', () => {
    expect(() => new JobTypeRegistry([defineJobType({ name: 'bad', payload: Type.Object({}), limits: { rate: { max: 0, perMs: 1000 } } })]))
      .toThrow('limits.rate.max must be an integer from 1 to 100000');
    expect(() => new JobTypeRegistry([defineJobType({ name: 'bad', payload: Type.Object({}), limits: { concurrency: 1.5 } })]))
      .toThrow('limits.concurrency must be an integer from 1 to 100000');
  });
});

describe('flow limits of a queue', () => {
  it('holds a queue to the cap set on it, and lets go when it is lifted, as running workers take it up', async () => {
    const system = await connect('limits-queue-cap', { CONCURRENCY: '10' });
    await system.admin.setLimits('default', { concurrency: 2 });
    await startWorkers(system, 2);
    const added = await system.queue.addBulk(Array.from({ length: 6 }, () => ({ type: 'free', payload: {} })));
    await waitFor('two to run', () => running.get('free')?.now === 2);
    expect(await system.admin.limits('default')).toEqual({ concurrency: 2 });
    await system.admin.setLimits('default', {});
    await waitFor('the rest to run once the cap is lifted', () => running.get('free')?.now === 6, 5000);
    expect(await system.admin.limits('default')).toEqual({});
    await releaseUntilDone(system.queue, added.map(({ id }) => id));
  });

  it('says a job waits for its queue\'s limits while they let nothing more start', async () => {
    const system = await connect('limits-queue-waiting', { CONCURRENCY: '10' });
    await system.admin.setLimits('default', { concurrency: 1 });
    await startWorkers(system, 1);
    const [, second] = await system.queue.addBulk(Array.from({ length: 2 }, () => ({ type: 'free', payload: {} })));
    await waitFor('one to run', () => running.get('free')?.now === 1);
    expect(await system.queue.waiting(second?.id as string)).toMatchObject({ reason: 'queue_limit', message: 'Queue default is at its limits (1 at once): its jobs wait in line until it has room.' });
  });

  it('holds a queue to the rate set on it', async () => {
    const system = await connect('limits-queue-rate', { CONCURRENCY: '10' });
    await system.admin.setLimits('default', { rate: { max: 4, perMs: 1000 } });
    await startWorkers(system, 2);
    const added = await system.queue.addBulk(Array.from({ length: 10 }, () => ({ type: 'quick', payload: {} })));
    for (const { id } of added) await status(system.queue, id, 'completed', 10_000);
    const times = starts.get('quick') ?? [];
    expect(mostInWindow(times, 900)).toBeLessThanOrEqual(4);
    expect(Math.max(...times) - Math.min(...times)).toBeGreaterThanOrEqual(1900);
  });

  it('refuses limits out of range, and a queue it does not serve', async () => {
    const system = await connect('limits-queue-refused');
    await expect(system.admin.setLimits('default', { rate: { max: 5, perMs: 0 } })).rejects.toThrow(InvalidLimitsError);
    await expect(system.admin.setLimits('default', { concurrency: 0 } as FlowLimits)).rejects.toThrow('limits.concurrency must be an integer from 1 to 100000');
    await expect(system.admin.setLimits('elsewhere', { concurrency: 1 })).rejects.toThrow('Queue "elsewhere" is not served here');
  });
});

describe('a handler that postpones its job', () => {
  it('runs the job again after the time it asks for, without counting the attempt', async () => {
    const system = await connect('limits-postpone');
    await startWorkers(system, 1);
    const { id } = await system.queue.add('patient', {});
    const waiting = await status(system.queue, id, 'scheduled');
    expect(waiting.attempts).toBe(0);
    const done = await status(system.queue, id, 'completed');
    expect(done.result).toBe('ran on attempt 1');
    expect(done.history.map((event) => event.status)).toEqual(['pending', 'processing', 'scheduled', 'pending', 'processing', 'completed']);
    const postponed = done.history[2];
    expect(postponed?.reason).toBe('the service said: slow down');
    expect(new Date(postponed?.nextAt ?? 0).getTime() - new Date(postponed?.at ?? 0).getTime()).toBe(200);
  });

  it('fails the attempt of a job postponed too often, so none is postponed forever', async () => {
    const system = await connect('limits-postpone-forever');
    await startWorkers(system, 1);
    const { id } = await system.queue.add('stubborn', {});
    const dead = await status(system.queue, id, 'dead', 20_000);
    expect(dead.lastError).toContain(`its handler postponed the job ${MAX_POSTPONEMENTS} times`);
    expect(dead.history.filter((event) => event.status === 'scheduled')).toHaveLength(MAX_POSTPONEMENTS);
  });
});
