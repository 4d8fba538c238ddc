/**
 * Schedules against a real Redis (and PostgreSQL for the job's origin), on a queue of four
 * partitions: several schedulers on connections of their own, a clock the test moves (forward,
 * backward), overlap, catchUp, pause, trigger, removal while a tick is in flight, and a scheduler
 * that dies between its claim and its job.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Type } from 'typebox';
import {
  claimLeaseMs, closeRedis, createRedis, defineJobType, HistoryRecorder, jobsFindWithHistory, JobTypeRegistry, Queue, Scheduler, scheduleKeys, Schedules,
  QueueLayouts, queuePartitions, waitForRedis, type JobTypeLookup, type ScheduleDefinition, type ScheduleView, type ScriptedRedis,
} from '@sluice/core';
import { createTestDatabase, dropRedisKeys, isolatedConfig, waitFor, type TestDatabase } from '../../../test/support/context';

const config = isolatedConfig('schedules', { QUEUES: 'default:4' });
const types = new JobTypeRegistry([
  defineJobType({ name: 'report', payload: Type.Object({ format: Type.Union([Type.Literal('pdf'), Type.Literal('csv')]) }, { additionalProperties: false }) }),
]);
const START = Date.parse('2030-01-01T00:00:00Z');
let clock = START;
const now = () => clock;

const connections: ScriptedRedis[] = [];
let database: TestDatabase;
let redis: ScriptedRedis;
let schedules: Schedules;
let queue: Queue;

async function connection(): Promise<ScriptedRedis> {
  const made = createRedis(config.redis);
  await waitForRedis(made, 5000);
  connections.push(made);
  return made;
}

/** A scheduler on a connection and producer of its own, as in another process. */
async function scheduler(registry: JobTypeLookup = types): Promise<Scheduler> {
  const own = await connection();
  const producer = new Queue({ redis: own, redisConfig: config.redis, queueConfig: config.queue, registry });
  return new Scheduler({ redis: own, prefix: config.redis.prefix, queue: producer, now, claimLeaseMs: 30_000 });
}

/** A job type lookup whose `learn` waits for `release`: a scheduler using it stops between its claim and its job. */
function heldLookup(): { lookup: JobTypeLookup; release: () => void; reached: Promise<void> } {
  let release!: () => void;
  let reach!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const reached = new Promise<void>((resolve) => (reach = resolve));
  return {
    lookup: { get: (name) => types.get(name), learn: async () => { reach(); await released; } },
    release,
    reached,
  };
}

const job = { type: 'report', payload: { format: 'pdf' } };
let named = 0;
const partitions = queuePartitions(config.redis.prefix, 'default', 4);
const fresh = (definition: Omit<ScheduleDefinition, 'name' | 'job'> & { job?: ScheduleDefinition['job'] }): Promise<ScheduleView> =>
  schedules.create({ name: `s-${(named += 1)}`, job, ...definition });

/** Runs passes of every scheduler at once until none decides anything more. */
async function settle(...all: Scheduler[]): Promise<number> {
  let decided = 0;
  for (;;) {
    const passes = await Promise.all(all.map((each) => each.runOnce()));
    const round = passes.reduce((sum, pass) => sum + pass.decided + pass.redriven, 0);
    if (round === 0) return decided;
    decided += round;
  }
}

beforeAll(async () => {
  database = await createTestDatabase(config);
  redis = await connection();
  queue = new Queue({ redis, redisConfig: config.redis, queueConfig: config.queue, registry: types });
  schedules = new Schedules({ redis, prefix: config.redis.prefix, queue, now });
});

afterAll(async () => {
  await Promise.all(connections.map((each) => closeRedis(each)));
  await dropRedisKeys(config);
  await database?.drop();
});

describe('schedules', () => {
  it('adds exactly one job per tick while five schedulers on their own connections race for every tick', async () => {
    clock = START;
    const racers = await Promise.all(Array.from({ length: 5 }, () => scheduler()));
    const created = await fresh({ everyMs: 1000 });
    expect(created.nextRunAt).toBe(new Date(START + 1000).toISOString());
    for (let tick = 1; tick <= 30; tick += 1) {
      clock = START + tick * 1000 + 5;
      await Promise.all(racers.map((each) => each.runOnce()));
    }
    const view = await schedules.get(created.name);
    expect(view.lastRuns).toHaveLength(20);
    expect(view.lastRuns.every((run) => run.status === 'created' && run.kind === 'tick')).toBe(true);
    const jobIds = view.lastRuns.map((run) => run.jobId);
    expect(new Set(jobIds).size).toBe(20);
    const jobs = await Promise.all(jobIds.map((id) => queue.getJob(id as string)));
    expect(jobs.map((each) => each?.schedule?.tick)).toEqual(view.lastRuns.map((run) => run.tick));
    // Every tick once: the queue's partitions hold 30 jobs, one per tick, no more.
    const pending = await Promise.all(partitions.map(({ keys }) => redis.hget(keys.counts, 'pending')));
    expect(pending.reduce((sum, count) => sum + Number(count ?? 0), 0)).toBe(30);
    expect(view.nextRunAt).toBe(new Date(START + 31_000).toISOString());
    await schedules.remove(created.name);
  });

  it('never runs a tick twice when the clock goes back, and resumes after the newest tick decided', async () => {
    clock = START;
    const one = await scheduler();
    const created = await fresh({ everyMs: 60_000 });
    clock = START + 3 * 60_000 + 10;
    expect(await settle(one)).toBeGreaterThan(0);
    const before = (await schedules.get(created.name)).lastRuns;
    clock = START + 30_000;
    expect(await settle(one)).toBe(0);
    await schedules.pause(created.name);
    const resumed = await schedules.resume(created.name);
    // Resumed at a clock 2.5 minutes behind: the next tick is still after the newest that ran.
    expect(Date.parse(resumed.nextRunAt as string)).toBeGreaterThan(Date.parse(before[0]?.tick as string));
    clock = START + 3 * 60_000 + 20;
    expect(await settle(one)).toBe(0);
    expect((await schedules.get(created.name)).lastRuns).toEqual(before);
    await schedules.remove(created.name);
  });

  it('handles ticks missed while the clock jumped three hours ahead as each catchUp says', async () => {
    clock = START;
    const one = await scheduler();
    const none = await fresh({ everyMs: 3_600_000, catchUp: 'none' });
    const latest = await fresh({ everyMs: 3_600_000, catchUp: 'latest' });
    const all = await fresh({ everyMs: 3_600_000, catchUp: 'all' });
    clock = START + 4 * 3_600_000 + 120_000;
    await settle(one);
    const hour = (n: number) => new Date(START + n * 3_600_000).toISOString();
    const [noneRuns = [], latestRuns = [], allRuns = []] = await Promise.all([none, latest, all].map(async ({ name }) => (await schedules.get(name)).lastRuns));
    expect(noneRuns).toEqual([expect.objectContaining({ status: 'missed', tick: hour(1), lastTick: hour(4), missedCount: 4, jobId: null })]);
    expect(latestRuns.map(({ status, tick }) => [status, tick])).toEqual([['created', hour(4)], ['missed', hour(1)]]);
    expect(latestRuns[1]).toMatchObject({ lastTick: hour(3), missedCount: 3 });
    expect(allRuns.map(({ status, tick }) => [status, tick])).toEqual([4, 3, 2, 1].map((n) => ['created', hour(n)]));
    for (const { name } of [none, latest, all]) expect((await schedules.get(name)).nextRunAt).toBe(hour(5));
    await Promise.all([none, latest, all].map(({ name }) => schedules.remove(name)));
  });

  it('with overlap skip, skips a tick while the previous run\'s job is unfinished, and runs once it has finished', async () => {
    clock = START;
    const one = await scheduler();
    const created = await fresh({ everyMs: 1000, overlap: 'skip' });
    clock = START + 1000;
    await settle(one);
    const [first] = (await schedules.get(created.name)).lastRuns;
    expect(first?.status).toBe('created');
    clock = START + 2000;
    await settle(one);
    const [skipped] = (await schedules.get(created.name)).lastRuns;
    expect(skipped).toMatchObject({ status: 'skipped', jobId: first?.jobId, tick: new Date(START + 2000).toISOString() });
    expect(skipped?.reason).toContain('unfinished');
    await queue.cancel(first?.jobId as string);
    clock = START + 3000;
    await settle(one);
    const [third] = (await schedules.get(created.name)).lastRuns;
    expect(third?.status).toBe('created');
    expect(third?.jobId).not.toBe(first?.jobId);
    await schedules.remove(created.name);
  });

  it('runs nothing while paused, triggers a run on demand (recorded as manual), and ticks again once resumed', async () => {
    clock = START;
    const one = await scheduler();
    const created = await fresh({ everyMs: 1000, paused: true });
    expect(created).toMatchObject({ paused: true, nextRunAt: null, nextRuns: [] });
    clock = START + 5000;
    expect(await settle(one)).toBe(0);
    const run = await schedules.trigger(created.name);
    expect(run).toMatchObject({ kind: 'manual', status: 'created', tick: new Date(START + 5000).toISOString() });
    const made = await queue.getJob(run.jobId as string);
    expect(made?.schedule).toEqual({ name: created.name, tick: new Date(START + 5000).toISOString() });
    const resumed = await schedules.resume(created.name);
    expect(resumed.nextRunAt).toBe(new Date(START + 6000).toISOString());
    clock = START + 6000;
    await settle(one);
    expect((await schedules.get(created.name)).lastRuns.map((each) => each.kind)).toEqual(['tick', 'manual']);
    await schedules.remove(created.name);
  });

  it('drives again the claim of a scheduler that stopped between its claim and its job, once its lease ended: one job, one run', async () => {
    clock = START;
    const held = heldLookup();
    const dying = await scheduler(held.lookup);
    const other = await scheduler();
    const created = await fresh({ everyMs: 60_000 });
    clock = START + 60_000;
    const stalled = dying.runOnce();
    await held.reached;
    // The claim is held: the other scheduler neither takes the tick nor drives the claim before the lease ends.
    expect(await other.runOnce()).toMatchObject({ decided: 0, redriven: 0 });
    expect((await schedules.get(created.name)).inFlight).toBe(1);
    clock = START + 60_000 + 31_000;
    expect((await other.runOnce()).redriven).toBe(1);
    // The first scheduler wakes up and adds its job: the tick's idempotency key gives it the same one, and its record is refused.
    held.release();
    await stalled;
    const view = await schedules.get(created.name);
    expect(view.lastRuns).toHaveLength(1);
    expect(view.inFlight).toBe(0);
    const jobId = view.lastRuns[0]?.jobId as string;
    const tickKey = `schedule:${created.name}:${START + 60_000}`;
    const found = await Promise.all(partitions.map(({ keys }) => redis.get(keys.idempotency(tickKey))));
    expect(found.filter((id) => id !== null)).toEqual([jobId]);
    await schedules.remove(created.name);
  });

  it('drops a tick in flight when its schedule is removed: the job is added, recorded nowhere, and never driven again', async () => {
    clock = START;
    const held = heldLookup();
    const adding = await scheduler(held.lookup);
    const other = await scheduler();
    const created = await fresh({ everyMs: 60_000 });
    clock = START + 60_000;
    const pass = adding.runOnce();
    await held.reached;
    await schedules.remove(created.name);
    held.release();
    await pass;
    await expect(schedules.get(created.name)).rejects.toMatchObject({ code: 'SCHEDULE_NOT_FOUND' });
    const keys = scheduleKeys(config.redis.prefix);
    expect(await redis.zrange(keys.claims, 0, -1)).toEqual([]);
    expect(await redis.exists(keys.runs(created.name))).toBe(0);
    clock = START + 200_000;
    expect(await other.runOnce()).toMatchObject({ decided: 0, redriven: 0 });
  });

  it('records a tick whose job can no longer be added as a failed run with why, and goes on to the next tick', async () => {
    clock = START;
    const forgetful = await scheduler(new JobTypeRegistry([]));
    const created = await fresh({ everyMs: 1000 });
    clock = START + 1000;
    await settle(forgetful);
    clock = START + 2000;
    await settle(forgetful);
    const { lastRuns } = await schedules.get(created.name);
    expect(lastRuns.map((run) => run.status)).toEqual(['failed', 'failed']);
    expect(lastRuns[0]?.reason).toContain('Unknown job type "report"');
    await schedules.remove(created.name);
  });

  it('records the schedule and tick with the job, in Redis and in PostgreSQL', async () => {
    clock = START;
    const layouts = new QueueLayouts(redis, config.redis.prefix, config.queue.partitions);
    await layouts.refresh();
    const recorder = new HistoryRecorder({ redis, pool: database.pool, prefix: config.redis.prefix, queues: config.queue.queues, layouts, owner: 'schedules-test' });
    recorder.start();
    const created = await fresh({ cron: '0 3 * * *', timezone: 'Europe/Berlin' });
    const run = await schedules.trigger(created.name);
    const live = await queue.getJob(run.jobId as string);
    expect(live?.schedule).toEqual({ name: created.name, tick: new Date(START).toISOString() });
    const plain = await queue.add('report', { format: 'csv' });
    expect((await queue.getJob(plain.id))?.schedule).toBeNull();
    const stored = await waitFor('the job in PostgreSQL', () => jobsFindWithHistory(database.db, run.jobId as string));
    expect(stored.schedule).toEqual(live?.schedule);
    expect((await waitFor('the plain job in PostgreSQL', () => jobsFindWithHistory(database.db, plain.id))).schedule).toBeNull();
    await recorder.stop();
    await schedules.remove(created.name);
  });

  it('adds a grouped job at each tick when the schedule\'s job names a group, deduplicated by its tick all the same', async () => {
    clock = START;
    const created = await fresh({ everyMs: 60_000, job: { ...job, group: 'tenant-7' } });
    expect(created.job.group).toBe('tenant-7');
    const run = await schedules.trigger(created.name);
    expect((await queue.getJob(run.jobId as string))?.group).toBe('tenant-7');
    await expect(fresh({ everyMs: 60_000, job: { ...job, group: 'not a group' } })).rejects.toThrow(/job.group must be 1 to 128/);
    await schedules.remove(created.name);
  });

  it('leases a claim for 30 s, or half the idempotency window when that is shorter than a minute', () => {
    expect(claimLeaseMs(24 * 3_600_000)).toBe(30_000);
    expect(claimLeaseMs(60_000)).toBe(30_000);
    expect(claimLeaseMs(20_000)).toBe(10_000);
  });

  it('refuses bad definitions with a message that names the field', async () => {
    const refusals: [Partial<ScheduleDefinition> & Record<string, unknown>, string, RegExp][] = [
      [{ name: 'bad name!' }, 'INVALID_SCHEDULE', /name must be 1 to 64/],
      [{ cron: '* * * *' }, 'INVALID_SCHEDULE', /5 fields .* or 6/],
      [{ cron: '61 * * * *' }, 'INVALID_SCHEDULE', /not valid: Invalid value for minute/],
      [{ cron: '0 0 30 2 *' }, 'INVALID_SCHEDULE', /never fires/],
      [{ cron: '* * * * *', timezone: 'Mars/Olympus' }, 'INVALID_SCHEDULE', /IANA time zone/],
      [{ cron: '* * * * *', everyMs: 1000 }, 'INVALID_SCHEDULE', /exactly one of cron/],
      [{ cron: undefined, everyMs: 999 }, 'INVALID_SCHEDULE', /everyMs must be an integer from 1000/],
      [{ cron: undefined, everyMs: 1000, timezone: 'UTC' }, 'INVALID_SCHEDULE', /timezone applies to cron only/],
      [{ overlap: 'queue' as never }, 'INVALID_SCHEDULE', /overlap must be one of allow, skip/],
      [{ catchUp: 'some' as never }, 'INVALID_SCHEDULE', /catchUp must be one of none, latest, all/],
      [{ job: { type: 'nope', payload: {} } }, 'UNKNOWN_JOB_TYPE', /Unknown job type "nope"/],
      [{ job: { type: 'report', payload: { format: 'doc' } } }, 'INVALID_JOB', /job\.payload\.format/],
      [{ job: { type: 'report', payload: { format: 'pdf' }, queue: 'elsewhere' } }, 'UNKNOWN_QUEUE', /Queue "elsewhere" \(job.queue\)/],
      [{ job: { type: 'report', payload: { format: 'pdf' }, delay: 5 } as never }, 'INVALID_SCHEDULE', /job has an unknown field "delay"/],
    ];
    for (const [change, code, message] of refusals) {
      const definition = { name: 'refused', cron: '* * * * *', job, ...change } as ScheduleDefinition;
      await expect(schedules.create(definition), JSON.stringify(change)).rejects.toMatchObject({ code, message: expect.stringMatching(message) });
    }
    await expect(schedules.get('refused')).rejects.toMatchObject({ code: 'SCHEDULE_NOT_FOUND' });
    const created = await fresh({ cron: '* * * * *' });
    await expect(schedules.create({ name: created.name, cron: '* * * * *', job })).rejects.toMatchObject({ code: 'SCHEDULE_EXISTS' });
    await expect(schedules.update(created.name, { job: { type: 'report', payload: {} } })).rejects.toMatchObject({ code: 'INVALID_JOB' });
    await expect(schedules.update('missing', { paused: true })).rejects.toMatchObject({ code: 'SCHEDULE_NOT_FOUND' });
    await schedules.remove(created.name);
  });

  it('changes a schedule: a new cron starts from the next of its ticks, the job template is replaced whole', async () => {
    clock = START + 10_000;
    const created = await fresh({ everyMs: 60_000 });
    const changed = await schedules.update(created.name, { cron: '0 */2 * * *', job: { type: 'report', payload: { format: 'csv' }, priority: 5 } });
    expect(changed).toMatchObject({ cron: '0 */2 * * *', everyMs: null, timezone: 'UTC', revision: 2, job: { payload: { format: 'csv' }, priority: 5, queue: 'default' } });
    expect(changed.nextRuns.slice(0, 2)).toEqual([new Date(START + 7_200_000).toISOString(), new Date(START + 14_400_000).toISOString()]);
    await schedules.remove(created.name);
  });
});
