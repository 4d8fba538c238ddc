import { afterEach, describe, expect, it } from 'vitest';
import { Type } from 'typebox';
import {
  defineJobType, InvalidJobError, InvalidLimitsError, JobTypeRegistry, Queue, queueKeys, QueueLayouts, queueStats, type Job,
} from '@sluice/core';
import { waitFor } from '../../../test/support/context';
import { allCompleted, WorkerSystems, type WorkerSystem } from '../../../test/support/worker-system';

/** The groups whose handlers started, in order, and how many of each group run at once. */
const startOrder: string[] = [];
const running = new Map<string, { now: number; most: number }>();
const gates: (() => void)[] = [];
let failuresLeft = 0;

const groupPayload = Type.Object({ group: Type.String() });
const types = [
  defineJobType({ name: 'record', payload: groupPayload }),
  defineJobType({ name: 'held', payload: groupPayload }),
  defineJobType({ name: 'flaky', payload: groupPayload, retry: { maxAttempts: 3, immediateRetries: 1, baseDelayMs: 10 } }),
];
const registry = new JobTypeRegistry(types);
const handlers = {
  record: ({ payload }: { payload: { group: string } }) => {
    startOrder.push(payload.group);
  },
  held: async ({ payload }: { payload: { group: string } }) => {
    const count = running.get(payload.group) ?? { now: 0, most: 0 };
    running.set(payload.group, count);
    count.now += 1;
    count.most = Math.max(count.most, count.now);
    await new Promise<void>((resolve) => gates.push(resolve));
    count.now -= 1;
  },
  flaky: () => {
    if (failuresLeft > 0) {
      failuresLeft -= 1;
      throw new Error('flaky on purpose');
    }
  },
};

const systems = new WorkerSystems(registry);
const connect = (label: string, env: Record<string, string> = {}): Promise<WorkerSystem> => systems.connect(label, env);

const startWorkers = (system: WorkerSystem, count: number): Promise<void> => systems.startWorkers(system, registry, handlers, count);

afterEach(async () => {
  for (const release of gates.splice(0)) release();
  startOrder.length = 0;
  running.clear();
  failuresLeft = 0;
  await systems.closeAll();
});

function jobsOf(type: string, group: string, count: number): { type: string; payload: { group: string }; group: string }[] {
  return Array.from({ length: count }, () => ({ type, payload: { group }, group }));
}

/** Lets the held handlers go one at a time until `ids` have all completed. */
function releaseUntilDone(queue: Queue, ids: readonly string[]): Promise<Job[]> {
  return allCompleted(queue, ids, 30_000, () => gates.shift()?.());
}

/** What the fair queue, its tags (groups' and jobs' waits) and the groups' running counts hold once every job has ended: nothing. */
async function groupState(system: WorkerSystem): Promise<{ waiting: number; tags: string[]; counts: string[] }> {
  const keys = queueKeys(system.config.redis.prefix, 'default');
  const [waiting, tags, counts] = await Promise.all([
    system.redis.zcard(keys.fair), system.redis.hkeys(keys.fairTags), system.redis.hkeys(keys.counts),
  ]);
  return { waiting, tags: tags.filter((field) => field.startsWith('g:') || field.startsWith('n:') || field.startsWith('t:')), counts: counts.filter((field) => field.startsWith('group:')) };
}

describe('fair groups', () => {
  it('takes the groups\' jobs in turn: a flood of one group does not hold back the jobs of another added after it', async () => {
    const system = await connect('groups-turns', { CONCURRENCY: '1' });
    const flood = await system.queue.addBulk(jobsOf('record', 'big', 60));
    const small = await system.queue.addBulk([...jobsOf('record', 'small', 5), ...jobsOf('record', 'tiny', 5)]);
    await startWorkers(system, 1);
    await allCompleted(system.queue, [...flood, ...small].map(({ id }) => id));
    // In turn: big, small, tiny, big, small, tiny… so the last of the ten starts within the first 16.
    // Without groups they would start 61st to 70th.
    const lastSmall = Math.max(startOrder.lastIndexOf('small'), startOrder.lastIndexOf('tiny'));
    expect(lastSmall).toBeLessThan(16);
    expect(startOrder.filter((group) => group === 'big')).toHaveLength(60);
    expect(await groupState(system)).toEqual({ waiting: 0, tags: [], counts: [] });
  });

  it('keeps each group\'s own jobs in the order they were added', async () => {
    const system = await connect('groups-order', { CONCURRENCY: '1' });
    const added = await system.queue.addBulk(Array.from({ length: 20 }, (_, n) => ({ type: 'record', payload: { group: `g${n % 2}-${n}` }, group: `g${n % 2}` })));
    await startWorkers(system, 1);
    await allCompleted(system.queue, added.map(({ id }) => id));
    for (const group of ['g0', 'g1']) {
      const mine = startOrder.filter((name) => name.startsWith(`${group}-`)).map((name) => Number(name.split('-')[1]));
      expect(mine).toEqual([...mine].sort((a, b) => a - b));
    }
  });

  it('holds every group to the queue\'s groupConcurrency across workers, and says why a job waits', async () => {
    const system = await connect('groups-cap', { CONCURRENCY: '6' });
    await system.admin.setLimits('default', { groupConcurrency: 2 });
    await startWorkers(system, 3);
    const added = await system.queue.addBulk([...jobsOf('held', 'a', 12), ...jobsOf('held', 'b', 12)]);
    await waitFor('two of each group to run', () => running.get('a')?.now === 2 && running.get('b')?.now === 2);
    const waitingA = await waitFor('a job of a waiting at its cap', async () => {
      for (const { id } of added.slice(0, 12)) {
        const reason = await system.queue.waiting(id);
        if (reason?.reason === 'group_cap') return reason;
      }
      return null;
    });
    expect(waitingA.message).toContain('"a"');
    const layouts = new QueueLayouts(system.redis, system.config.redis.prefix, system.config.queue.partitions);
    expect((await queueStats(system.redis, layouts, ['default'])).default?.groups).toEqual({ waiting: 20, running: 2 });
    const jobs = await releaseUntilDone(system.queue, added.map(({ id }) => id));
    expect(running.get('a')?.most).toBe(2);
    expect(running.get('b')?.most).toBe(2);
    expect(jobs.map((job) => job.attempts)).toEqual(added.map(() => 1));
    expect(await groupState(system)).toEqual({ waiting: 0, tags: [], counts: [] });
  });

  it('keeps a grouped job of a paused queue waiting as paused, and starts it once the queue is resumed', async () => {
    const system = await connect('groups-paused', { CONCURRENCY: '2' });
    await system.admin.pause('default');
    await startWorkers(system, 1);
    const [job] = await system.queue.addBulk(jobsOf('record', 'p', 1));
    expect((await system.queue.waiting(job?.id as string))?.reason).toBe('paused');
    await system.admin.resume('default');
    await allCompleted(system.queue, [job?.id as string]);
    expect(startOrder).toEqual(['p']);
  });

  it('runs a failed attempt\'s retry in its group, and a job cancelled while it waits its turn never runs', async () => {
    const system = await connect('groups-retry-cancel', { CONCURRENCY: '4' });
    await system.admin.setLimits('default', { groupConcurrency: 1 });
    failuresLeft = 2;
    await startWorkers(system, 1);
    const [first, second] = await system.queue.addBulk(jobsOf('held', 'c', 2));
    await waitFor('the first to run', () => running.get('c')?.now === 1);
    expect((await system.queue.waiting(second?.id as string))?.reason).toBe('group_cap');
    await system.queue.cancel(second?.id as string);
    const [flaky] = await system.queue.addBulk(jobsOf('flaky', 'd', 1));
    const [done] = await allCompleted(system.queue, [flaky?.id as string]);
    expect(done?.attempts).toBe(3);
    gates.shift()?.();
    await allCompleted(system.queue, [first?.id as string]);
    expect((await system.queue.getJob(second?.id as string))?.status).toBe('cancelled');
    expect(running.get('c')?.most).toBe(1);
    expect(await groupState(system)).toEqual({ waiting: 0, tags: [], counts: [] });
  });

  it('puts a group in one partition of a partitioned queue, whose cap it keeps whole', async () => {
    const system = await connect('groups-partitions', { CONCURRENCY: '8', QUEUE_PARTITIONS: '3' });
    await system.admin.setLimits('default', { groupConcurrency: 3 });
    await startWorkers(system, 2);
    const added = await system.queue.addBulk([...jobsOf('held', 'x', 8), ...jobsOf('held', 'y', 8)]);
    await waitFor('three of each group to run', () => running.get('x')?.now === 3 && running.get('y')?.now === 3);
    await releaseUntilDone(system.queue, added.map(({ id }) => id));
    expect(running.get('x')?.most).toBe(3);
    expect(running.get('y')?.most).toBe(3);
  });

  it('refuses a group it cannot keep, and a partitionKey other than the group', async () => {
    const system = await connect('groups-invalid');
    await expect(system.queue.add('record', { group: 'x' }, { group: 'has space' })).rejects.toThrow(InvalidJobError);
    await expect(system.queue.add('record', { group: 'x' }, { group: 'a|b' })).rejects.toThrow(/group must be 1 to 128/);
    await expect(system.queue.add('record', { group: 'x' }, { group: 'x', partitionKey: 'y' })).rejects.toThrow(/partitionKey must be left out, or equal group/);
    await expect(system.admin.setLimits('default', { groupConcurrency: 0 })).rejects.toThrow(InvalidLimitsError);
    expect(() => new JobTypeRegistry([defineJobType({ name: 'bad', payload: Type.Object({}), limits: { groupConcurrency: 2 } })])).toThrow(/a queue's limit/);
  });
});
