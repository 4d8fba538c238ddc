import { InvalidScheduleError, ScheduleConflictError, ScheduleNotFoundError } from '../errors.js';
import { isoFromMs } from '../job.js';
import { scheduleKeys, type ScheduleKeys } from '../keys.js';
import type { Queue } from '../queue.js';
import { toRedisError } from '../redis/client.js';
import { runScript, type ScriptedRedis } from '../redis/scripts.js';
import {
  assertScheduleName, changedDefinition, MAX_SCHEDULES, storedSchedule, type ScheduleChange, type ScheduleDefinition, type StoredSchedule,
} from './schedule-definition.js';
import { redisClock, type ScheduleClock } from './schedule-clock.js';
import { ScheduleRunner, SCHEDULE_CLAIM_LEASE_MS, scheduleRunFrom, type ScheduleRun } from './schedule-runs.js';
import { NEVER, tickAfter, ticksAfter } from './ticks.js';

/** Upcoming ticks a schedule's view shows. */
const NEXT_RUNS_SHOWN = 5;
/** Runs a listing shows per schedule; one schedule's view shows all it keeps (SCHEDULE_RUNS_KEPT). */
const LISTED_RUNS = 5;
/** Tries of a change that raced a tick being decided, each reading the schedule again. */
const SAVE_TRIES = 5;

/** A schedule as clients see it. Times are ISO-8601. */
export interface ScheduleView extends Omit<StoredSchedule, 'createdAt' | 'updatedAt'> {
  createdAt: string;
  updatedAt: string;
  /** Bumped by every change. */
  revision: number;
  /** The tick due next (in the past while it waits for a scheduler), or null while paused. */
  nextRunAt: string | null;
  /** The next ticks from `nextRunAt` on. */
  nextRuns: string[];
  /** The newest runs, newest first: all kept (SCHEDULE_RUNS_KEPT) for one schedule, a few in a listing. */
  lastRuns: ScheduleRun[];
  /** Runs whose job is being added now. */
  inFlight: number;
}

/** A page of schedules by name, and the cursor of the next (null on the last). */
export interface SchedulePage {
  schedules: ScheduleView[];
  nextCursor: string | null;
}

/** Dependencies of `Schedules`. */
export interface SchedulesDeps {
  redis: ScriptedRedis;
  prefix: string;
  /** Validates each schedule's job as a submission, and adds manual runs. */
  queue: Queue;
  /** Default: Redis's clock. */
  now?: ScheduleClock;
  /** Lease of a manual run's claim (see claimLeaseMs). Default SCHEDULE_CLAIM_LEASE_MS. */
  claimLeaseMs?: number;
}

/**
 * Adds, changes, reads and removes schedules, and runs one now: what the API, the CLI and
 * `queue.schedule` use. The ticks themselves are run by the `Scheduler` in every worker and API.
 */
export class Schedules {
  private readonly keys: ScheduleKeys;
  private readonly now: ScheduleClock;
  private readonly runner: ScheduleRunner;

  constructor(private readonly deps: SchedulesDeps) {
    this.keys = scheduleKeys(deps.prefix);
    this.now = deps.now ?? redisClock(deps.redis);
    this.runner = new ScheduleRunner(deps.redis, this.keys, deps.queue);
  }

  /**
   * Adds a schedule; its first tick is the first after now. Throws `InvalidScheduleError` or the job's
   * `InvalidJobError`/`QueueNotFoundError`, `ScheduleConflictError` when the name is taken or
   * MAX_SCHEDULES exist.
   */
  async create(definition: ScheduleDefinition): Promise<ScheduleView> {
    const now = await this.clock();
    const stored = storedSchedule(definition, this.deps.queue.queues[0] ?? 'default', now);
    await this.validateJob(stored);
    const next = stored.paused ? '' : tickAfter(stored, now);
    const [saved, why] = await this.script('saveSchedule', [stored.name, JSON.stringify(stored), 'create', '', next, MAX_SCHEDULES]) as [number, string];
    if (saved !== 1 && why === 'exists') throw new ScheduleConflictError('SCHEDULE_EXISTS', `A schedule called "${stored.name}" exists already: change it with PATCH, or remove it first.`);
    if (saved !== 1) throw new ScheduleConflictError('TOO_MANY_SCHEDULES', `There are ${MAX_SCHEDULES} schedules, the most there may be: remove one first.`);
    return this.get(stored.name);
  }

  /**
   * Changes a schedule: the fields given replace its own. A new timing, or a resume, starts at the
   * first tick after now (ticks while paused are not missed, they never were due); otherwise the due
   * tick stays. A new job is validated as a submission.
   */
  async update(name: string, change: ScheduleChange): Promise<ScheduleView> {
    assertScheduleName(name);
    for (let attempt = 1; ; attempt += 1) {
      const [json, revision, decided, due] = await this.read((redis) => Promise.all([
        redis.hget(this.keys.definitions, name), redis.hget(this.keys.revisions, name), redis.hget(this.keys.decided, name), redis.zscore(this.keys.due, name),
      ]));
      if (json === null || revision === null) throw new ScheduleNotFoundError(name);
      const before = JSON.parse(json) as StoredSchedule;
      const now = await this.clock();
      const stored = storedSchedule(changedDefinition(before, change), this.deps.queue.queues[0] ?? 'default', now, before.createdAt);
      if (change.job !== undefined) await this.validateJob(stored);
      const retimed = stored.cron !== before.cron || stored.everyMs !== before.everyMs || stored.timezone !== before.timezone;
      const next = stored.paused ? '' : due !== null && !retimed ? Number(due) : tickAfter(stored, Math.max(now, Number(decided ?? -1)));
      const [saved, why] = await this.script('saveSchedule', [name, JSON.stringify(stored), 'update', revision, next, MAX_SCHEDULES]) as [number, string];
      if (saved === 1) return this.get(name);
      if (why === 'missing') throw new ScheduleNotFoundError(name);
      if (attempt >= SAVE_TRIES) throw new InvalidScheduleError(`Schedule "${name}" kept changing while this change was saved; try again.`);
    }
  }

  /** Stops a schedule's ticks until it is resumed. */
  pause(name: string): Promise<ScheduleView> {
    return this.update(name, { paused: true });
  }

  /** Lets a paused schedule tick again, from the first tick after now. */
  resume(name: string): Promise<ScheduleView> {
    return this.update(name, { paused: false });
  }

  /** Removes a schedule and its runs; a run being added meanwhile adds its job, recorded nowhere. Throws `ScheduleNotFoundError`. */
  async remove(name: string): Promise<void> {
    assertScheduleName(name);
    const claims = await this.read((redis) => redis.zrange(this.keys.claims, 0, -1));
    const own = claims.filter((member) => member.startsWith(`${name}|`));
    const k = this.keys;
    const removed = await this.script('removeSchedule', [name, ...own],
      [k.definitions, k.revisions, k.due, k.decided, k.claims, k.inflight, k.lastJobs, k.runs(name)]);
    if (removed !== 1) throw new ScheduleNotFoundError(name);
  }

  /** Runs a schedule once now, paused or not, whatever its overlap: recorded as a manual run. Throws `ScheduleNotFoundError`. */
  async trigger(name: string): Promise<ScheduleRun> {
    assertScheduleName(name);
    const json = await this.read((redis) => redis.hget(this.keys.definitions, name));
    if (json === null) throw new ScheduleNotFoundError(name);
    const asked = await this.clock();
    // Asked twice in one millisecond: the second is the next millisecond's run.
    for (let tick = asked; ; tick += 1) {
      const claimed = await this.script('claimScheduleTrigger', [name, tick, tick + this.leaseMs()], [this.keys.definitions, this.keys.claims, this.keys.inflight]);
      if (claimed === 0) throw new ScheduleNotFoundError(name);
      if (claimed === 1) return this.runner.drive({ name, tick, kind: 'manual' }, JSON.parse(json) as StoredSchedule, asked);
    }
  }

  /** One schedule with its next ticks and every run kept. Throws `ScheduleNotFoundError`. */
  async get(name: string): Promise<ScheduleView> {
    assertScheduleName(name);
    const [view] = await this.views([name], Number.POSITIVE_INFINITY);
    if (!view) throw new ScheduleNotFoundError(name);
    return view;
  }

  /** Schedules by name, `limit` a page, after the name `cursor`. */
  async list(options: { limit?: number; cursor?: string } = {}): Promise<SchedulePage> {
    const limit = options.limit ?? 50;
    const names = await this.read((redis) => redis.hkeys(this.keys.definitions));
    const after = names.sort().filter((name) => options.cursor === undefined || name > options.cursor);
    const page = after.slice(0, limit);
    return { schedules: await this.views(page, LISTED_RUNS), nextCursor: after.length > limit ? (page.at(-1) ?? null) : null };
  }

  private async views(names: readonly string[], runs: number): Promise<ScheduleView[]> {
    if (names.length === 0) return [];
    const k = this.keys;
    const last = Number.isFinite(runs) ? runs - 1 : -1;
    const replies = await this.read((redis) => {
      const pipeline = redis.pipeline();
      for (const name of names) {
        pipeline.hget(k.definitions, name).hget(k.revisions, name).zscore(k.due, name).lrange(k.runs(name), 0, last).hget(k.inflight, name);
      }
      return pipeline.exec();
    });
    const results = (replies ?? []).map(([error, value]) => {
      if (error) throw toRedisError(error);
      return value;
    });
    const views: ScheduleView[] = [];
    for (let i = 0; i < names.length; i += 1) {
      const [json, revision, due, runList, inflight] = results.slice(i * 5, i * 5 + 5) as [string | null, string | null, string | null, string[], string | null];
      if (json !== null) views.push(viewOf(JSON.parse(json) as StoredSchedule, Number(revision ?? 0), due === null ? null : Number(due), runList, Number(inflight ?? 0)));
    }
    return views;
  }

  private async validateJob(stored: StoredSchedule): Promise<void> {
    const { maxAttempts, ...job } = stored.job;
    await this.deps.queue.validate({ ...job, ...(maxAttempts !== null && { maxAttempts }) }, 'job');
  }

  private leaseMs(): number {
    return this.deps.claimLeaseMs ?? SCHEDULE_CLAIM_LEASE_MS;
  }

  private async clock(): Promise<number> {
    try {
      return await this.now();
    } catch (error) {
      throw toRedisError(error);
    }
  }

  private async script(name: Parameters<typeof runScript>[1], args: readonly (string | number)[], keys?: readonly string[]): Promise<unknown> {
    const k = this.keys;
    try {
      return await runScript(this.deps.redis, name, keys ?? [k.definitions, k.revisions, k.due, k.decided], args);
    } catch (error) {
      throw toRedisError(error);
    }
  }

  private async read<T>(reading: (redis: ScriptedRedis) => Promise<T>): Promise<T> {
    try {
      return await reading(this.deps.redis);
    } catch (error) {
      throw toRedisError(error);
    }
  }
}

function viewOf(stored: StoredSchedule, revision: number, due: number | null, runs: readonly string[], inFlight: number): ScheduleView {
  const nextRuns = due === null || due >= NEVER ? [] : [due, ...ticksAfter(stored, due, NEXT_RUNS_SHOWN - 1)];
  return {
    ...stored,
    createdAt: isoFromMs(stored.createdAt),
    updatedAt: isoFromMs(stored.updatedAt),
    revision,
    nextRunAt: nextRuns[0] === undefined ? null : isoFromMs(nextRuns[0]),
    nextRuns: nextRuns.map(isoFromMs),
    lastRuns: runs.map(scheduleRunFrom),
    inFlight,
  };
}
