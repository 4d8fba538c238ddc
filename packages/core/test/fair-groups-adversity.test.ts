import { afterEach, describe, expect, it } from 'vitest';
import { Type } from 'typebox';
import { Cluster } from 'ioredis';
import {
  DeadLetters, defineJobType, JobTypeRegistry, Queue, QueueLayouts, queueKeys, RetryAfterError, Worker, type Job, type JobHandler,
} from '@sluice/core';
import { JobTransitions, typeList } from '../src/job-runner';
import { waitFor } from '../../../test/support/context';
import { WorkerSystems, type WorkerSystem } from '../../../test/support/worker-system';

/**
 * Adversity for fair groups (see fair-groups.test.ts for what they promise when all goes well).
 * Each test here that fails on the code it was written against says what it found.
 */

/** The labels (payload.label) whose handlers started, in order, and how many of each group run at once. */
const startOrder: string[] = [];
const running = new Map<string, { now: number; most: number }>();
const gates: (() => void)[] = [];
let postponeLeft = 0;

const labelled = Type.Object({ label: Type.String() });
const types = {
  record: defineJobType({ name: 'record', payload: labelled }),
  slow: defineJobType({ name: 'slow', payload: labelled }),
  /** A type of its own capped at one at once, whose handler waits to be let go. */
  capped: defineJobType({ name: 'capped', payload: labelled, limits: { concurrency: 1 } }),
  /** A handler that outlives its attempt's timeout, ignoring its signal. */
  stubborn: defineJobType({ name: 'stubborn', payload: labelled, timeoutMs: 200, retry: { maxAttempts: 1 } }),
  gated: defineJobType({ name: 'gated', payload: labelled }),
  /** A type no worker here serves. */
  orphan: defineJobType({ name: 'orphan', payload: labelled }),
  polite: defineJobType({ name: 'polite', payload: labelled, retry: { maxAttempts: 1 } }),
  failing: defineJobType({ name: 'failing', payload: labelled, retry: { maxAttempts: 1 } }),
};
const registry = new JobTypeRegistry(Object.values(types));

function enter(group: string): () => void {
  const count = running.get(group) ?? { now: 0, most: 0 };
  running.set(group, count);
  count.now += 1;
  count.most = Math.max(count.most, count.now);
  return () => {
    count.now -= 1;
  };
}

const allHandlers: Record<string, JobHandler<never>> = {
  record: (({ payload }: { payload: { label: string } }) => {
    startOrder.push(payload.label);
  }) as JobHandler<never>,
  slow: (async ({ payload }: { payload: { label: string } }) => {
    startOrder.push(payload.label);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }) as JobHandler<never>,
  capped: (async ({ payload }: { payload: { label: string } }) => {
    startOrder.push(payload.label);
    await new Promise<void>((resolve) => gates.push(resolve));
  }) as JobHandler<never>,
  gated: (async ({ payload }: { payload: { label: string } }) => {
    startOrder.push(payload.label);
    const leave = enter(payload.label);
    await new Promise<void>((resolve) => gates.push(resolve));
    leave();
  }) as JobHandler<never>,
  stubborn: (async ({ payload }: { payload: { label: string } }) => {
    const leave = enter(payload.label);
    await new Promise((resolve) => setTimeout(resolve, 1200));
    leave();
  }) as JobHandler<never>,
  polite: (({ payload }: { payload: { label: string } }) => {
    startOrder.push(payload.label);
    if (postponeLeft > 0) {
      postponeLeft -= 1;
      throw new RetryAfterError(50, 'later');
    }
  }) as JobHandler<never>,
  orphan: (({ payload }: { payload: { label: string } }) => {
    startOrder.push(payload.label);
  }) as JobHandler<never>,
  failing: (() => {
    throw new Error('fails on purpose');
  }) as JobHandler<never>,
};

const systems = new WorkerSystems(registry);
const connect = (label: string, env: Record<string, string> = {}): Promise<WorkerSystem> => systems.connect(label, env);

function startWorker(system: WorkerSystem, served: readonly string[], name = 'w'): Promise<Worker> {
  return systems.startWorker(system, registry, Object.fromEntries(served.map((type) => [type, allHandlers[type] as JobHandler<never>])), name);
}

afterEach(async () => {
  for (const release of gates.splice(0)) release();
  startOrder.length = 0;
  running.clear();
  postponeLeft = 0;
  await systems.closeAll();
});

function grouped(type: string, group: string, count: number, label = group): { type: string; payload: { label: string }; group: string }[] {
  return Array.from({ length: count }, () => ({ type, payload: { label }, group }));
}

async function settled(queue: Queue, ids: readonly string[], states: readonly string[], timeoutMs = 15_000): Promise<Job[]> {
  return waitFor(`${ids.length} jobs to be ${states.join(' or ')}`, async () => {
    const jobs = await Promise.all(ids.map((id) => queue.getJob(id)));
    return jobs.every((job) => job && states.includes(job.status)) ? (jobs as Job[]) : null;
  }, timeoutMs);
}

/** What the fair queue, its tags (groups' and jobs' waits) and the groups' running counts hold once every job has ended: nothing. */
async function groupState(system: WorkerSystem): Promise<{ waiting: number; tags: string[]; counts: string[]; grouped: number }> {
  const keys = queueKeys(system.config.redis.prefix, 'default');
  const [waiting, tags, counts, groupedEntries] = await Promise.all([
    system.redis.zcard(keys.fair), system.redis.hkeys(keys.fairTags), system.redis.hkeys(keys.counts), system.redis.xlen(keys.grouped),
  ]);
  return {
    waiting, tags: tags.filter((field) => field.startsWith('g:') || field.startsWith('n:') || field.startsWith('t:')), counts: counts.filter((field) => field.startsWith('group:')),
    // Markers may stay until a worker reads one; job entries must not.
    grouped: groupedEntries > 1 ? groupedEntries : 0,
  };
}

describe('fair groups under adversity', () => {
  it('parks a grouped job of a type no live worker serves, as it does an ungrouped one: counted, said unserved, dead-lettered no-handler in time', async () => {
    const system = await connect('groups-unserved', { NO_HANDLER_TIMEOUT_MS: '1000' });
    await startWorker(system, ['record']);
    const [plain] = await system.queue.addBulk([{ type: 'orphan', payload: { label: 'plain' } }]);
    const [inGroup] = await system.queue.addBulk(grouped('orphan', 'g', 1));
    await settled(system.queue, [plain?.id as string], ['dead']);
    // Found (fixed in take-jobs.lua): the grouped job never left the fair queue (no worker named a turn
    // of a type it does not serve, so none parked it): it waited "group_turn" for ever, was not counted
    // as waiting for a worker of its type, and was never dead-lettered no-handler, as README's "A job no
    // worker serves" promises. Now a turn of a type no live worker serves is named, and the step that
    // takes it out of the fair queue leaves it to the worker to park (parkUnserved).
    const job = await waitFor('the grouped job to be dead-lettered', async () => {
      const found = await system.queue.getJob(inGroup?.id as string);
      return found?.status === 'dead' ? found : null;
    }, 6000).catch(async () => system.queue.getJob(inGroup?.id as string));
    expect({ status: job?.status, waiting: (await system.queue.waiting(inGroup?.id as string))?.reason ?? null })
      .toEqual({ status: 'dead', waiting: null });
  });

  it('runs a parked grouped job of an unserved type in its group\'s turn once a worker of its type comes, leaving nothing behind', async () => {
    const system = await connect('groups-unserved-released', { CONCURRENCY: '2' });
    await startWorker(system, ['record'], 'record');
    const keys = queueKeys(system.config.redis.prefix, 'default');
    const [job] = await system.queue.addBulk(grouped('orphan', 'o', 1));
    await waitFor('the grouped job to wait for a worker of its type', async () => (await system.redis.hget(keys.unserved, 'orphan')) === '1');
    expect((await system.queue.waiting(job?.id as string))?.reason).toBe('unserved');
    await startWorker(system, ['orphan'], 'orphan');
    await settled(system.queue, [job?.id as string], ['completed']);
    expect(startOrder).toEqual(['o']);
    expect(await system.redis.hgetall(keys.unserved)).toEqual({});
    expect(await groupState(system)).toEqual({ waiting: 0, tags: [], counts: [], grouped: 0 });
  });

  it('does not let grouped jobs its worker cannot start now (their type at its cap) blind it to the groups behind them', async () => {
    const system = await connect('groups-head-blocked', { CONCURRENCY: '2' });
    await startWorker(system, ['capped', 'record']);
    // 40 tenants each with one job of a type capped at one at once, then one tenant with a job of a free type.
    const cappedJobs = await system.queue.addBulk(Array.from({ length: 40 }, (_, n) => grouped('capped', `t${String(n).padStart(2, '0')}`, 1)[0] as never));
    await waitFor('the first capped job to run', () => startOrder.length === 1);
    const [free] = await system.queue.addBulk(grouped('record', 'zz', 1));
    // Found (not fixed): the worker peeks the fair queue's head (4 × its slots + 16 members, at most
    // 256), skips every member of a type its limits held back in this call, and finds no other: the free
    // job waits behind all 40 capped jobs (40 × their run time), though a slot is free. Without groups
    // the capped jobs would be parked in their type's limited set and the free one would start at once.
    // The same blinds a worker to its own types behind a long head of types only other (busy) workers
    // serve. Fix: park a grouped job its type's limits hold back in the type's limited set, as an
    // ungrouped one (startFairTurn leaves item 3 to the caller, which parkLimited takes from the grouped
    // lane; releaseLimited's placePending already sends it back to its turn), which README's "keeps its
    // place" would then no longer say; or keep one fair queue per job type.
    const done = await settled(system.queue, [free?.id as string], ['completed'], 4000).catch(() => null);
    expect(done?.[0]?.status ?? (await system.queue.getJob(free?.id as string))?.status).toBe('completed');
    expect(cappedJobs).toHaveLength(40);
  });

  it('gives ungrouped jobs of a band their share of a one-slot worker while grouped jobs wait', async () => {
    const system = await connect('groups-ungrouped-share', { CONCURRENCY: '1' });
    await startWorker(system, ['slow']);
    const flood = await system.queue.addBulk(grouped('slow', 'g', 60));
    await waitFor('the flood to start', () => startOrder.length >= 2);
    const startedBefore = startOrder.length;
    const plain = await system.queue.addBulk(Array.from({ length: 10 }, () => ({ type: 'slow', payload: { label: 'plain' } })));
    await settled(system.queue, [...flood, ...plain].map(({ id }) => id), ['completed'], 20_000);
    // README: "a band's ungrouped jobs share its slots with them, half each when both wait". Found
    // (fixed in take-jobs.lua, fairFirst): with one free slot, takeJobs gave the grouped turns
    // ceil(1 / 2) = 1 before it read the band's stream, every call, so the ten ungrouped jobs started
    // only after the whole flood (about 67 starts later). Now an odd slot goes to each side in turn:
    // the tenth starts within about 20 starts (a call that finds one side empty gives the other its slot).
    expect(startOrder.lastIndexOf('plain') - startedBefore).toBeLessThan(30);
  });

  it('lets a turn go whose job hash is gone (removed by hand), so that it never blocks its group, and runs the group\'s next job', async () => {
    const system = await connect('groups-gone-hash', { CONCURRENCY: '1' });
    const [gone, next] = await system.queue.addBulk([...grouped('record', 'g', 1, 'gone'), ...grouped('record', 'g', 1, 'next')]);
    await system.redis.del(queueKeys(system.config.redis.prefix, 'default').job(gone?.id as string));
    await startWorker(system, ['record']);
    await settled(system.queue, [next?.id as string], ['completed']);
    expect(startOrder).toEqual(['next']);
    await waitFor('the fair queue and its tags to be empty', async () => {
      const state = await groupState(system);
      return state.waiting === 0 && state.tags.length === 0 ? state : null;
    });
  });

  it('keeps a group\'s order when its last waiting job is cancelled and another is added', async () => {
    const system = await connect('groups-order-after-cancel', { CONCURRENCY: '1' });
    const kept = await system.queue.addBulk([1, 2, 3].map((n) => grouped('record', 'g', 1, `g${n}`)[0] as never));
    const [last] = await system.queue.addBulk(grouped('record', 'g', 1, 'cancelled'));
    await system.queue.cancel(last?.id as string);
    const [added] = await system.queue.addBulk(grouped('record', 'g', 1, 'g4'));
    await startWorker(system, ['record']);
    await settled(system.queue, [...kept, added].map((job) => job?.id as string), ['completed']);
    // Found (fixed in job-steps.lua): leaveFair dropped the group's last tag (g:<group>) when the job
    // leaving held it, though the group's earlier jobs still waited; the next job of the group then took
    // its tag from the virtual time alone (0 + 1 here), tied with the group's first and went before its
    // second and third. Now the tags hash counts each group's waiting jobs (n:<group>), and the last tag
    // goes with the group's last waiting job.
    expect(startOrder).toEqual(['g1', 'g2', 'g3', 'g4']);
  });

  it('holds a group to groupConcurrency while a handler past its timeout, that ignores its signal, still runs', async () => {
    const system = await connect('groups-cap-overrun', { CONCURRENCY: '4' });
    await system.admin.setLimits('default', { groupConcurrency: 1 });
    await startWorker(system, ['stubborn']);
    const added = await system.queue.addBulk(grouped('stubborn', 's', 3));
    await settled(system.queue, added.map(({ id }) => id), ['dead']);
    await waitFor('every handler to return', () => running.get('s')?.now === 0, 5000);
    // Found (not fixed): each attempt times out after 200 ms and leaves `processing`, so the group's
    // count drops and its next job starts while the abandoned handler still runs: 3 of the group at
    // once. A type's cap counts such handlers (its set of overrunning handlers); the group's cap does
    // not, though it guards the same kind of thing (a tenant's share of a resource). Fix: as for types,
    // failJob leases the handler a member of a per-group set of overrunning handlers when the queue has
    // a groupConcurrency, renewed by its worker until the handler returns, and startFairTurn and the
    // peek count that set's live members with `group:<group>`.
    expect(running.get('s')?.most).toBe(1);
  });

  it('runs a grouped job postponed, run now, failed, retried from the dead letters and cancelled at each state, once each, and leaves nothing behind', async () => {
    const system = await connect('groups-paths', { CONCURRENCY: '4' });
    await system.admin.setLimits('default', { groupConcurrency: 1 });
    await startWorker(system, ['polite', 'record', 'failing']);
    postponeLeft = 2;
    const [polite] = await system.queue.addBulk(grouped('polite', 'p', 1, 'polite'));
    const [dead] = await system.queue.addBulk(grouped('failing', 'f', 1));
    await settled(system.queue, [polite?.id as string], ['completed']);
    expect(startOrder.filter((label) => label === 'polite')).toHaveLength(3);
    await settled(system.queue, [dead?.id as string], ['dead']);
    const layouts = new QueueLayouts(system.redis, system.config.redis.prefix, system.config.queue.partitions);
    await new DeadLetters(system.redis, layouts, system.config.queue.queues, { retentionMs: system.config.queue.retentionMs }).retry(dead?.id as string);
    await waitFor('the retried job to die again', async () => (await system.queue.getJob(dead?.id as string))?.history.filter((event) => event.status === 'dead').length === 2);
    const [later] = await system.queue.addBulk([{ type: 'record', payload: { label: 'later' }, group: 'l', delay: 60_000 } as never]);
    await system.queue.runNow(later?.id as string);
    await settled(system.queue, [later?.id as string], ['completed']);
    const [scheduled] = await system.queue.addBulk([{ type: 'record', payload: { label: 'never' }, group: 'l', delay: 60_000 } as never]);
    await system.queue.cancel(scheduled?.id as string);
    expect(startOrder.filter((label) => label === 'later')).toHaveLength(1);
    expect(startOrder).not.toContain('never');
    await waitFor('the groups to be left clean', async () => {
      const state = await groupState(system);
      return state.waiting === 0 && state.tags.length === 0 && state.counts.length === 0 && state.grouped === 0;
    }, 5000);
    const keys = queueKeys(system.config.redis.prefix, 'default');
    const counts = await system.redis.hgetall(keys.counts);
    expect({ pending: Number(counts.pending ?? 0), processing: Number(counts.processing ?? 0) }).toEqual({ pending: 0, processing: 0 });
  });

  it('takes over a grouped job whose worker died running it, runs it once more, and keeps the group at its cap meanwhile', async () => {
    const system = await connect('groups-crash', { CONCURRENCY: '4', VISIBILITY_TIMEOUT_MS: '1000' });
    await system.admin.setLimits('default', { groupConcurrency: 1 });
    const keys = queueKeys(system.config.redis.prefix, 'default');
    for (const stream of keys.streams) await system.redis.xgroup('CREATE', stream, 'workers', '0', 'MKSTREAM');
    const [first, second] = await system.queue.addBulk([...grouped('record', 'c', 1, 'c1'), ...grouped('record', 'c', 1, 'c2')]);
    // A worker that takes the group's first job in its turn, then dies.
    const ghost = new JobTransitions(system.redis, keys, 'ghost', system.config.queue, { served: typeList(['record']), elsewhere: () => ',' });
    const [head] = await system.redis.zrange(keys.fair, 0, 0);
    const taken = await ghost.take('default', [], [], [head as string], 1, 1, '01234', Date.now());
    expect(taken.started.map((job) => job.id)).toEqual([first?.id]);
    const diedAt = Date.now();
    await startWorker(system, ['record']);
    const jobs = await settled(system.queue, [first?.id as string, second?.id as string], ['completed']);
    const startedAt = (job: Job, worker: string): number => Date.parse(job.history.find((event) => event.status === 'processing' && event.worker === worker)?.at ?? '');
    const rescuer = `${system.config.worker.consumerName}-w`;
    expect(startedAt(jobs[0] as Job, rescuer)).toBeGreaterThanOrEqual(diedAt + 900);
    // The group's cap counted the dead worker's job until it was taken over and completed.
    expect(startedAt(jobs[1] as Job, rescuer)).toBeGreaterThanOrEqual(Date.parse(jobs[0]?.finishedAt ?? ''));
    expect(startOrder).toEqual(['c1', 'c2']);
    expect(await groupState(system)).toEqual({ waiting: 0, tags: [], counts: [], grouped: 0 });
    const pending = (await system.redis.xpending(keys.grouped, 'workers')) as [number, ...unknown[]];
    expect(pending[0]).toBe(0);
  });

  it('hands a running grouped job back when its worker stops, and runs it again in its group\'s turn', async () => {
    const system = await connect('groups-shutdown', { CONCURRENCY: '2', SHUTDOWN_TIMEOUT_MS: '100' });
    await system.admin.setLimits('default', { groupConcurrency: 1 });
    const stopping = await startWorker(system, ['gated'], 'stopping');
    const [job, next] = await system.queue.addBulk([...grouped('gated', 'h', 1, 'h1'), ...grouped('gated', 'h', 1, 'h2')]);
    await waitFor('the first to run', () => startOrder.length === 1);
    await stopping.close(100);
    expect(await system.queue.getJob(job?.id as string)).toMatchObject({ status: 'pending', attempts: 0 });
    await startWorker(system, ['gated'], 'next');
    // A job handed back goes behind its group's others, as an ungrouped one goes to its stream's end.
    await waitFor('both to complete', async () => {
      gates.shift()?.();
      const jobs = await Promise.all([job, next].map((added) => system.queue.getJob(added?.id as string)));
      return jobs.every((found) => found?.status === 'completed');
    }, 10_000, 20);
    expect([...startOrder].sort()).toEqual(['h1', 'h1', 'h2']);
    await settled(system.queue, [job?.id as string, next?.id as string], ['completed']);
    expect(await groupState(system)).toEqual({ waiting: 0, tags: [], counts: [], grouped: 0 });
  });

  it('does not spin: a worker whose grouped jobs all wait (group at its cap, type at its cap) makes few calls', async () => {
    const system = await connect('groups-spin', { CONCURRENCY: '4' });
    await system.admin.setLimits('default', { groupConcurrency: 1 });
    await startWorker(system, ['gated', 'capped']);
    await system.queue.addBulk([...grouped('gated', 'a', 6), ...grouped('capped', 'b', 1), ...grouped('capped', 'x', 1), ...grouped('capped', 'y', 1)]);
    await waitFor('one of a and one capped to run', () => startOrder.length === 2);
    // This test's own script calls, as MONITOR on every master shows them (they name its prefix's keys):
    // other test files share the server, and on a cluster each node answers for itself.
    const masters = system.redis instanceof Cluster ? system.redis.nodes('master') : [system.redis];
    const monitors = await Promise.all(masters.map((node) => node.monitor()));
    let calls = 0;
    for (const monitor of monitors) {
      monitor.on('monitor', (_time: string, args: string[]) => {
        if (/^eval/i.test(args[0] ?? '') && args.some((arg) => arg.startsWith(system.config.redis.prefix))) calls += 1;
      });
    }
    // A window of time is what a rate is measured over.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    for (const monitor of monitors) monitor.disconnect();
    const perSecond = calls / 2;
    console.log(`script calls per second while every grouped job waits: ${perSecond}`);
    // WORKER_BLOCK_MS is 200 here: a few calls per blocking read, plus heartbeats and maintenance.
    expect(perSecond).toBeLessThan(60);
  });
});
