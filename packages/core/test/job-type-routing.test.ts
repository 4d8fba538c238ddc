import { describe, expect, it } from 'vitest';
import { type JobTypeCatalog, type JobTypeDefinition, JobTypeRegistry, Queue, queueKeys, QueueLayouts, queueStats, Worker } from '@sluice/core';
import { waitFor } from '../../../test/support/context';
import { greet, greetLoosely, noop, routingSystems, status, unserved, type System } from './support/type-routing';

const { connect, startWorker, catalogOf: newCatalog } = routingSystems('type-routing');

async function catalogOf(system: System, declared: JobTypeDefinition[] = []): Promise<JobTypeCatalog> {
  const catalog = newCatalog(system, declared);
  await catalog.refresh();
  return catalog;
}

describe('a worker meets a job type it does not serve', () => {
  it('hands it to a worker that serves it, without spending an attempt: all 20 greet jobs complete beside a worker that serves only noop', async () => {
    const system = await connect();
    await startWorker(system, 'builtin', [noop], { noop: () => undefined });
    await startWorker(system, 'greeter', [greet], { greet: ({ payload }: { payload: { name: string } }) => `hello ${payload.name}` });
    const ids = await Promise.all(Array.from({ length: 20 }, (_, i) => system.queue.add('greet', { name: `n${i}` }).then((job) => job.id)));
    const jobs = await Promise.all(ids.map((id) => status(system.queue, id, 'completed')));
    expect(jobs.map((job) => job.attempts)).toEqual(Array(20).fill(1));
    expect(jobs.map((job) => job.result)).toEqual(ids.map((_, i) => `hello n${i}`));
    expect((await queueStats(system.redis, new QueueLayouts(system.redis, system.config.redis.prefix, system.config.queue.partitions), ['default'])).default?.counts.dead).toBe(0);
  });

  it('keeps a job no worker serves waiting, counted per type, until a worker of its type starts', async () => {
    const system = await connect();
    await startWorker(system, 'builtin', [noop], { noop: () => undefined });
    const { id } = await system.queue.add('greet', { name: 'late' });
    await waitFor('greet to be counted as waiting without a worker', async () => ((await unserved(system)).greet === '1' ? true : null));
    const waiting = await system.queue.getJob(id);
    expect(waiting).toMatchObject({ status: 'pending', attempts: 0 });
    // It waits in its type's set, not in the stream or the delayed set: no worker handles it again until one of its type comes.
    const keys = queueKeys(system.config.redis.prefix, 'default');
    expect(await system.redis.zscore(`${keys.unserved}:greet`, id)).not.toBeNull();
    expect(await system.redis.zcard(keys.delayed)).toBe(0);
    expect(await system.redis.xlen(keys.stream)).toBe(0);
    expect((await queueStats(system.redis, new QueueLayouts(system.redis, system.config.redis.prefix, system.config.queue.partitions), ['default'])).default?.unservedTypes).toEqual({ greet: 1 });

    await startWorker(system, 'greeter', [greet], { greet: () => 'hi' });
    expect(await status(system.queue, id, 'completed')).toMatchObject({ attempts: 1, result: 'hi' });
    expect(await unserved(system)).toEqual({});
  });

  it('dead-letters it with reason no-handler once no live worker has served its type for NO_HANDLER_TIMEOUT_MS', async () => {
    const system = await connect({ NO_HANDLER_TIMEOUT_MS: '1500' });
    await startWorker(system, 'builtin', [noop], { noop: () => undefined });
    const { id } = await system.queue.add('greet', { name: 'nobody' });
    const dead = await status(system.queue, id, 'dead');
    expect(dead).toMatchObject({ attempts: 0 });
    const fields = await system.redis.hmget(queueKeys(system.config.redis.prefix, 'default').job(id), 'deadReason', 'lastError');
    expect(fields[0]).toBe('no-handler');
    expect(fields[1]).toContain('no live worker served job type "greet"');
    expect(await unserved(system)).toEqual({});
  });

  it('cancels a waiting job: it leaves the delayed set and the count', async () => {
    const system = await connect();
    await startWorker(system, 'builtin', [noop], { noop: () => undefined });
    const { id } = await system.queue.add('greet', { name: 'never' });
    await waitFor('greet to wait', async () => ((await unserved(system)).greet === '1' ? true : null));
    await system.queue.cancel(id);
    expect(await system.queue.getJob(id)).toMatchObject({ status: 'cancelled' });
    expect(await unserved(system)).toEqual({});
    expect(await system.redis.zscore(queueKeys(system.config.redis.prefix, 'default').delayed, id)).toBeNull();
  });
});

describe('the types live workers publish', () => {
  it('lists each type with its queues and workers while they run, keeps it known a while after they stop, then forgets it', async () => {
    const system = await connect();
    const worker = await startWorker(system, 'greeter', [greet], { greet: () => 'hi' });
    const catalog = newCatalog(system, [], { knownForMs: 2000 });
    await catalog.refresh();
    expect(catalog.list()).toEqual([
      expect.objectContaining({ name: 'greet', queues: ['default'], workers: 1, declared: false, conflicts: [], maxAttempts: 3 }),
    ]);
    await worker.close(1000);
    // A stopped worker's types stay known to producers (the jobs wait for a worker to come back), but
    // it serves nothing: no worker hands it jobs.
    await catalog.refresh();
    expect(catalog.list()).toEqual([expect.objectContaining({ name: 'greet', queues: [], workers: 0 })]);
    expect(catalog.servedIn('default').size).toBe(0);
    await waitFor('greet to be forgotten once no worker has published it for knownForMs', async () => {
      await catalog.refresh();
      return catalog.list().length === 0;
    });
  });

  it("counts a worker live by Redis's clock, whatever its own clock says", async () => {
    const system = await connect();
    const { config } = system;
    const hourBehind = new Worker({
      redis: config.redis, queue: config.queue, worker: { ...config.worker, consumerName: 'skewed' }, registry: new JobTypeRegistry([greet]),
      handlers: { greet: () => 'hi' }, now: () => Date.now() - 3_600_000,
    });
    system.workers.push(hourBehind);
    await hourBehind.start();
    expect((await catalogOf(system)).list()).toEqual([expect.objectContaining({ name: 'greet', workers: 1 })]);
  });

  it('lets a producer accept a type as soon as its worker has started, and refuses one no worker serves, naming the known ones', async () => {
    const system = await connect();
    const catalog = await catalogOf(system);
    const queue = new Queue({ redis: system.redis, redisConfig: system.config.redis, queueConfig: system.config.queue, registry: catalog });
    await expect(queue.add('greet', { name: 'x' })).rejects.toThrow('Unknown job type "greet". Known types: none');
    await startWorker(system, 'greeter', [greet], { greet: () => 'hi' });
    const { id } = await waitFor('the producer to accept greet', () => queue.add('greet', { name: 'x' }).catch(() => null));
    expect(await status(queue, id, 'completed')).toMatchObject({ result: 'hi' });
    await expect(queue.add('greet', { name: 1 } as never)).rejects.toThrow('payload.name must be string');
    await expect(queue.add('shout', {})).rejects.toThrow('Unknown job type "shout". Known types: greet.');
  });

  it('shows two workers that publish differing definitions of one type as a conflict; a declared type wins it', async () => {
    const system = await connect();
    await startWorker(system, 'strict', [greet], { greet: () => 'strict' });
    await startWorker(system, 'loose', [greetLoosely], { greet: () => 'loose' });
    const catalog = await catalogOf(system);
    const [entry] = catalog.list();
    expect(entry?.conflicts.map((variant) => variant.workers)).toEqual([['loose'], ['strict']]);
    // The newest worker's definition is the one submissions are checked against.
    expect(() => catalog.get('greet').validate({})).not.toThrow();
    expect(catalog.get('greet').validate({})).toBe(true);

    const declaring = await catalogOf(system, [greet]);
    expect(declaring.get('greet').validate({})).toBe(false);
    expect(declaring.list()[0]).toMatchObject({ declared: true, workers: 2 });
  });
});
