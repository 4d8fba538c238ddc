/**
 * Job type publication and routing under adversity: crashes reclaimed by workers of other types,
 * skewed clocks, malformed publications, shared schema ids, busy workers, unusable declarations,
 * and races between cancelling, releasing and retrying waiting jobs.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Type } from 'typebox';
import { catalogKeys, DeadLetters, defineJobType, InvalidConfigError, loadDeclaredJobTypes, NORMAL_BAND, QueueLayouts, WORKER_GROUP } from '@sluice/core';
import { JobTransitions, typeList } from '../src/job-runner';
import { waitFor } from '../../../test/support/context';
import { greet, greetLoosely, keysOf, noop, routingSystems, status, unserved, type System } from './support/type-routing';

const { connect, startWorker, catalogOf } = routingSystems('type-adversity');

/** Stores a publication as a worker of another build (or anything else that can write Redis) would, live by Redis's clock. */
async function publishRaw(system: System, worker: string, json: string): Promise<void> {
  const keys = catalogKeys(system.config.redis.prefix);
  const [seconds, micros] = await system.redis.time();
  await system.redis.hset(keys.publications, worker, json);
  await system.redis.zadd(keys.seen, Number(seconds) * 1000 + Math.floor(Number(micros) / 1000), worker);
  await system.redis.incr(keys.version);
}

const publishedGreet = { description: null, payloadSchema: { type: 'object' }, retry: { maxAttempts: 3, immediateRetries: 1, baseDelayMs: 1000, maxDelayMs: 60_000 }, timeoutMs: 1000 };

describe('job type routing under adversity', () => {
  it('still dead-letters as poison a job that kills every worker of its type, when workers of other types reclaim it', async () => {
    // MAX_DELIVERIES 3: a job whose worker dies under it three times is poison (reclaim-stalled.lua).
    const system = await connect({ VISIBILITY_TIMEOUT_MS: '1000', MAX_DELIVERIES: '3' });
    const keys = keysOf(system);
    await system.redis.xgroup('CREATE', keys.stream, WORKER_GROUP, '0', 'MKSTREAM');
    const { id } = await system.queue.add('greet', { name: 'poison' });
    let runs = 0;
    // A worker of greet, restarted after each crash: it takes up the job and dies running it. Taking
    // it up (tendUnserved's release, then a read) is one script here, so that the idle builtin
    // worker's blocking read cannot take the entry first; then the ordinary start script runs.
    const crashingGreeter = async (name: string): Promise<void> => {
      const entry = (await system.redis.eval(
        `if redis.call('ZREM', KEYS[3], ARGV[1]) == 1 then redis.call('HINCRBY', KEYS[4], 'greet', -1) end
         if redis.call('HGET', KEYS[4], 'greet') == '0' then redis.call('HDEL', KEYS[4], 'greet') end
         local sid = redis.call('XADD', KEYS[1], '*', 'id', ARGV[1])
         redis.call('HSET', KEYS[2], 'sid', sid)
         return redis.call('XREADGROUP', 'GROUP', ARGV[2], ARGV[3], 'COUNT', 1, 'STREAMS', KEYS[1], '>')[1][2][1][1]`,
        4, keys.stream, keys.job(id), keys.unservedOf('greet'), keys.unserved, id, WORKER_GROUP, name,
      )) as string;
      const transitions = new JobTransitions(system.redis, keys, name, system.config.queue, { served: typeList(['greet']), elsewhere: () => ',' });
      runs += (await transitions.start('default', [{ band: NORMAL_BAND, entryId: entry, jobId: id }], Date.now())).length;
    };
    const parkedOrDead = (after: number): Promise<string> => waitFor(`job ${id} to be taken over after crash ${after}`, async () => {
      const fields = await system.redis.hmget(keys.job(id), 'status', 'sid');
      return fields[0] === 'dead' || (fields[0] === 'pending' && fields[1] === '') ? fields[0] : null;
    });
    const first = (await system.redis.xreadgroup('GROUP', WORKER_GROUP, 'greeter-1', 'COUNT', 1, 'STREAMS', keys.stream, '>')) as [string, [string, string[]][]][];
    const greeter1 = new JobTransitions(system.redis, keys, 'greeter-1', system.config.queue, { served: typeList(['greet']), elsewhere: () => ',' });
    runs += (await greeter1.start('default', [{ band: NORMAL_BAND, entryId: first[0]?.[1][0]?.[0] ?? '', jobId: id }], Date.now())).length;
    // The only other worker serves noop: its reclaimer takes over each dead greeter's entry.
    await startWorker(system, 'builtin', [noop], { noop: () => undefined });
    for (let crash = 2; crash <= 6; crash += 1) {
      if ((await parkedOrDead(crash - 1)) === 'dead') break;
      await crashingGreeter(`greeter-${crash}`);
    }
    await parkedOrDead(6);
    const job = await system.queue.getJob(id);
    // Found now: the job runs (and kills its worker) again and again, each time a new attempt,
    // past maxAttempts, and is never dead-lettered: parking drops the entry, and its delivery count with it.
    expect(job?.status, `${runs} runs, attempts ${job?.attempts} of ${job?.maxAttempts}`).toBe('dead');
    expect(runs).toBeLessThanOrEqual(3);
  });

  it('leaves a job waiting for a worker of its type alone when a worker whose clock runs ahead joins (waits are timed on Redis\'s clock)', async () => {
    const system = await connect(); // NO_HANDLER_TIMEOUT_MS: the default 10 minutes
    await startWorker(system, 'builtin', [noop], { noop: () => undefined });
    const { id } = await system.queue.add('greet', { name: 'patient' });
    await waitFor('greet to wait for a worker of its type', async () => ((await unserved(system)).greet === '1' ? true : null));
    // start() tends the waiting jobs once before it returns.
    await startWorker(system, 'ahead', [defineJobType({ name: 'other', payload: Type.Object({}) })], { other: () => undefined }, {
      now: () => Date.now() + 11 * 60_000,
    });
    const job = await system.queue.getJob(id);
    expect({ status: job?.status, reason: job?.status === 'dead' ? await system.redis.hget(keysOf(system).job(id), 'deadReason') : null })
      .toEqual({ status: 'pending', reason: null });
  });

  it('keeps learning published types when one publication in Redis holds a malformed type entry', async () => {
    const system = await connect();
    await publishRaw(system, 'other-build', JSON.stringify({ worker: 'other-build', queues: ['default'], startedAt: 1, types: [null] }));
    // Found now: "Cannot read properties of null (reading 'name')" from every refresh: no worker can
    // start (Worker.start refreshes its catalog and lets that throw), running workers stop learning
    // which types others serve, and the API (which swallows the error) never learns another type.
    await expect(startWorker(system, 'greeter', [greet], { greet: () => 'hi' })).resolves.toBeDefined();
    const catalog = catalogOf(system);
    await expect(catalog.refresh()).resolves.toBeUndefined();
    expect(catalog.names()).toEqual(['greet']);
  });

  it('keeps a published name outside [A-Za-z0-9_.:-] out of the workers\' routing lists', async () => {
    const system = await connect();
    // A name with a comma splits into two names in the start scripts' type list.
    await publishRaw(system, 'rogue', JSON.stringify({ worker: 'rogue', queues: ['default'], startedAt: 1, types: [{ ...publishedGreet, name: 'x,greet' }] }));
    await startWorker(system, 'builtin', [noop], { noop: () => undefined });
    const { id } = await system.queue.add('greet', { name: 'nobody serves me' });
    // No live worker serves greet: it must wait in its type's set (and expire as no-handler in time),
    // not bounce through the delayed set for a worker that does not exist.
    await waitFor('greet to wait for a worker of its type', async () => ((await unserved(system)).greet === '1' ? true : null), 5000);
    expect(await system.redis.zscore(keysOf(system).delayed, id)).toBeNull();
  });

  it('accepts both types of a worker whose types share one payload schema with an $id', async () => {
    const system = await connect();
    const address = Type.Object({ to: Type.String() }, { $id: 'Address' });
    const send = defineJobType({ name: 'mail.send', payload: address });
    const resend = defineJobType({ name: 'mail.resend', payload: address });
    // The worker compiles the one schema object once; it starts and serves both.
    const worker = await startWorker(system, 'mailer', [send, resend], { 'mail.send': () => undefined, 'mail.resend': () => undefined });
    expect(worker.servedTypes).toEqual(['mail.resend', 'mail.send']);
    const catalog = catalogOf(system);
    await catalog.refresh();
    // Found now: the catalog compiles two copies of the schema in one Ajv; the second's $id clashes and it is dropped.
    expect(catalog.names()).toEqual(['mail.resend', 'mail.send']);
  });

  it("lets the newest worker's definition win a conflict whatever the workers' clocks say", async () => {
    const system = await connect();
    // Started first, but its clock runs an hour ahead.
    await startWorker(system, 'strict-older', [greet], { greet: () => 'strict' }, { now: () => Date.now() + 3_600_000 });
    await startWorker(system, 'loose-newer', [greetLoosely], { greet: () => 'loose' });
    const catalog = catalogOf(system);
    await catalog.refresh();
    expect(catalog.list()[0]?.conflicts.map((variant) => variant.workers)).toEqual([['loose-newer'], ['strict-older']]);
  });

  it('hands jobs waiting for the busy worker of their type on at most every 2 s, and runs them all once it is free', async () => {
    const system = await connect();
    const keys = keysOf(system);
    let free!: () => void;
    const busy = new Promise<void>((resolve) => {
      free = resolve;
    });
    let started = 0;
    await startWorker(system, 'greeter', [greet], {
      greet: async () => {
        started += 1;
        await busy;
      },
    }, { worker: { concurrency: 1 } });
    await startWorker(system, 'builtin', [noop], { noop: () => undefined });
    await system.queue.add('greet', { name: 'first' });
    await waitFor('the greeter to be busy', () => started === 1);
    const waiting = await system.queue.addBulk(Array.from({ length: 5 }, (_, i) => ({ type: 'greet', payload: { name: `w${i}` } })));
    // The greeter stays busy for 3 s (the scenario, not a wait for a condition); meanwhile the idle
    // builtin worker reads every greet entry and parks it again each time it comes back, after waits
    // of 50, 100, 200… ms up to 2 s: at most 6 parks in 3 s.
    let mostParks = 0;
    const until = Date.now() + 3000;
    while (Date.now() < until) {
      const parks = await Promise.all(waiting.map((job) => system.redis.hget(keys.job(job.id), 'parks')));
      mostParks = Math.max(mostParks, ...parks.map((value) => Number(value ?? 0)));
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    free();
    await Promise.all(waiting.map((job) => status(system.queue, job.id, 'completed')));
    expect(mostParks).toBeLessThanOrEqual(6);
  });

  it('refuses at load a JOB_TYPES_FILE type whose retry policy or timeout cannot be used', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-declared-'));
    try {
      const file = join(dir, 'types.json');
      await writeFile(file, JSON.stringify([{ name: 'report', payloadSchema: { type: 'object' }, retry: { maxAttempts: 0 }, timeoutMs: 'one minute' }]));
      // Found now: it loads; every submission of "report" is then refused with "maxAttempts must be
      // an integer from 1 to 100 (got 0)", a field the client never sent, and GET /job-types answers
      // 500 for every client (its response schema cannot turn timeoutMs "one minute" into an integer).
      await expect(loadDeclaredJobTypes(file)).rejects.toBeInstanceOf(InvalidConfigError);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('jobs waiting for a worker of their type', () => {
  it('a no-handler job retried from the dead-letter stream waits again, then runs with its first attempt', async () => {
    const system = await connect({ NO_HANDLER_TIMEOUT_MS: '1000' });
    await startWorker(system, 'builtin', [noop], { noop: () => undefined });
    const { id } = await system.queue.add('greet', { name: 'again' });
    await status(system.queue, id, 'dead');
    const deadLetters = new DeadLetters(system.redis, new QueueLayouts(system.redis, system.config.redis.prefix, system.config.queue.partitions), system.config.queue.queues);
    await deadLetters.retry(id);
    await waitFor('greet to wait again', async () => ((await unserved(system)).greet === '1' ? true : null));
    await startWorker(system, 'greeter', [greet], { greet: () => 'hi' });
    expect(await status(system.queue, id, 'completed')).toMatchObject({ attempts: 1, result: 'hi' });
    expect(await unserved(system)).toEqual({});
  });

  it('cancelling waiting jobs while a worker of their type starts loses none and leaves no count behind', async () => {
    const system = await connect();
    await startWorker(system, 'builtin', [noop], { noop: () => undefined });
    const jobs = await system.queue.addBulk(Array.from({ length: 40 }, (_, i) => ({ type: 'greet', payload: { name: `c${i}` } })));
    await waitFor('every greet job to wait', async () => ((await unserved(system)).greet === '40' ? true : null));
    const cancelled = jobs.filter((_, i) => i % 2 === 0);
    const outcomes = await Promise.all([
      ...cancelled.map((job) => system.queue.cancel(job.id).then(() => 'cancelled', () => 'refused')),
      startWorker(system, 'greeter', [greet], { greet: () => 'hi' }).then(() => 'started'),
    ]);
    const final = await Promise.all(jobs.map((job) => waitFor(`job ${job.id} to settle`, async () => {
      const found = await system.queue.getJob(job.id);
      return found && ['completed', 'cancelled'].includes(found.status) ? found.status : null;
    }, 20_000)));
    expect(final.filter((state) => state === 'cancelled')).toHaveLength(outcomes.filter((outcome) => outcome === 'cancelled').length);
    const keys = keysOf(system);
    expect(await unserved(system)).toEqual({});
    expect(await system.redis.exists(keys.unservedOf('greet'))).toBe(0);
    expect(await system.redis.zcard(keys.delayed)).toBe(0);
  });
});
