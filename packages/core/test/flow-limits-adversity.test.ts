import { afterEach, describe, expect, it } from 'vitest';
import { Type } from 'typebox';
import {
  DeadLetters, defineJobType, MAX_POSTPONEMENTS, RetryAfterError, JobTypeRegistry, Queue, QueueLayouts, Worker, type Job, type JobHandler,
} from '@sluice/core';
import { waitFor } from '../../../test/support/context';
import { WorkerSystems, type WorkerSystem } from '../../../test/support/worker-system';

/** Handlers that wait to be let go. */
const gates: (() => void)[] = [];

async function gated(): Promise<void> {
  await new Promise<void>((resolve) => gates.push(resolve));
}

/** One type, `capped`, as two versions of a worker declare it: with a cap of one, and with no limits. */
const cappedRegistry = new JobTypeRegistry([defineJobType({ name: 'capped', payload: Type.Object({}), limits: { concurrency: 1 } })]);
const unlimitedRegistry = new JobTypeRegistry([defineJobType({ name: 'capped', payload: Type.Object({}) })]);

/** A type whose handler postpones its job while the service it calls says so. */
const politeType = defineJobType({ name: 'polite', payload: Type.Object({}), retry: { maxAttempts: 1 } });
const politeRegistry = new JobTypeRegistry([politeType]);
/** A type capped at one at once whose handler outlives its attempt's timeout, ignoring its signal. */
const stubbornType = defineJobType({ name: 'slow-capped', payload: Type.Object({}), timeoutMs: 200, retry: { maxAttempts: 1 }, limits: { concurrency: 1 } });
const slowRunning = { now: 0, most: 0 };
async function slowCapped(): Promise<void> {
  slowRunning.now += 1;
  slowRunning.most = Math.max(slowRunning.most, slowRunning.now);
  await new Promise((resolve) => setTimeout(resolve, 1500));
  slowRunning.now -= 1;
}
/** A type whose handler asks for its job to wait as long as there is: the service said "not today". */
const patientType = defineJobType({ name: 'endless-wait', payload: Type.Object({}) });
/** What producers know: every type above. */
const producerRegistry = new JobTypeRegistry([defineJobType({ name: 'capped', payload: Type.Object({}), limits: { concurrency: 1 } }), politeType, stubbornType, patientType]);
let serviceSays: 'wait' | 'wait once' | 'ok' = 'wait';
async function polite(): Promise<string> {
  if (serviceSays === 'ok') return 'done';
  if (serviceSays === 'wait once') serviceSays = 'ok';
  throw new RetryAfterError(0, 'the service said: slow down');
}

const systems = new WorkerSystems(producerRegistry);
const connect = (label: string, env: Record<string, string> = {}): Promise<WorkerSystem> => systems.connect(label, env);

function startWorker(system: WorkerSystem, registry: JobTypeRegistry, handlers: Record<string, JobHandler<never>>, name: string): Promise<Worker> {
  return systems.startWorker(system, registry, handlers, name);
}

/** The jobs of `type` held back by its limits in the queue's first partition. */
async function heldCount(system: WorkerSystem, type: string): Promise<number> {
  const layouts = new QueueLayouts(system.redis, system.config.redis.prefix, system.config.queue.partitions);
  const keys = layouts.current('default')[0]?.keys;
  return Number((await system.redis.hget(keys?.limited ?? '', type)) ?? 0);
}

afterEach(async () => {
  serviceSays = 'wait';
  Object.assign(slowRunning, { now: 0, most: 0 });
  for (const release of gates.splice(0)) release();
  await systems.closeAll();
});

function status(queue: Queue, id: string, wanted: Job['status'], timeoutMs?: number): Promise<Job> {
  return waitFor(`job ${id} to be ${wanted}`, async () => {
    const job = await queue.getJob(id);
    return job?.status === wanted ? job : null;
  }, timeoutMs);
}

describe('jobs held back by their type\'s limits', () => {
  it('run once the workers of their type are replaced by a version that lifts the limits, in a rolling deploy', async () => {
    const system = await connect('limits-lifted-by-rolling-deploy', { CONCURRENCY: '10' });
    const old = await startWorker(system, cappedRegistry, { capped: gated }, 'old');
    const added = await system.queue.addBulk(Array.from({ length: 3 }, () => ({ type: 'capped', payload: {} })));
    await waitFor('two to be held back by the cap', async () => (await heldCount(system, 'capped')) === 2);
    const replacement = await startWorker(system, unlimitedRegistry, { capped: () => 'done' }, 'new');
    await waitFor('the new worker to know it serves the type', () => replacement.types.servedIn('default').has('capped'));
    await old.close(500);
    for (const { id } of added) await status(system.queue, id, 'completed', 10_000);
  });
});

describe('a concurrency cap', () => {
  it('holds while a handler past its timeout, that ignores its signal, still runs', async () => {
    const system = await connect('cap-abandoned-handler', { CONCURRENCY: '10' });
    await startWorker(system, new JobTypeRegistry([stubbornType]), { 'slow-capped': slowCapped }, 'only');
    const added = await system.queue.addBulk(Array.from({ length: 3 }, () => ({ type: 'slow-capped', payload: {} })));
    for (const { id } of added) await status(system.queue, id, 'dead', 15_000);
    await waitFor('every handler to return', () => slowRunning.now === 0, 5000);
    expect(slowRunning.most).toBe(1);
  });
});

describe('a job its handler postponed', () => {
  it('asked to wait for ever (Infinity ms) waits the longest delay, not none', async () => {
    const system = await connect('postponed-for-ever');
    await startWorker(system, new JobTypeRegistry([patientType]), { 'endless-wait': () => {
      throw new RetryAfterError(Number.POSITIVE_INFINITY, 'not today');
    } }, 'only');
    const before = Date.now();
    const { id } = await system.queue.add('endless-wait', {});
    const waiting = await status(system.queue, id, 'scheduled');
    expect(new Date(waiting.runAt).getTime() - before).toBeGreaterThan(24 * 3_600_000);
  });

  it('may be postponed again once an operator sends it back from the dead-letter stream', async () => {
    const system = await connect('postponed-then-retried');
    await startWorker(system, politeRegistry, { polite }, 'only');
    const { id } = await system.queue.add('polite', {});
    const dead = await status(system.queue, id, 'dead', 20_000);
    expect(dead.history.filter((event) => event.status === 'scheduled')).toHaveLength(MAX_POSTPONEMENTS);
    serviceSays = 'wait once';
    const layouts = new QueueLayouts(system.redis, system.config.redis.prefix, system.config.queue.partitions);
    await new DeadLetters(system.redis, layouts, system.config.queue.queues, { retentionMs: system.config.queue.retentionMs }).retry(id);
    const ended = await waitFor('the job to end again', async () => {
      const job = await system.queue.getJob(id);
      return job?.status === 'completed' || (job?.status === 'dead' && job.history.filter((event) => event.status === 'dead').length === 2) ? job : null;
    }, 10_000);
    expect(ended.status).toBe('completed');
    expect(ended.result).toBe('done');
  });
});
