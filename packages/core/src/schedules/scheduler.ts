import { messageOf } from '../errors.js';
import type { JobState } from '../job-state.js';
import { scheduleKeys, type ScheduleKeys } from '../keys.js';
import { silentLogger, type Logger } from '../logger.js';
import type { Queue } from '../queue.js';
import { runScript, type ScriptedRedis } from '../redis/scripts.js';
import { jitter, sleep } from '../sleep.js';
import { SCHEDULE_RUNS_KEPT, type StoredSchedule } from './schedule-definition.js';
import { redisClock, type ScheduleClock } from './schedule-clock.js';
import { claimOf, ScheduleRunner, SCHEDULE_CLAIM_LEASE_MS } from './schedule-runs.js';
import { planTicks } from './ticks.js';

/** Longest sleep between passes: how soon a new schedule, a change or an expired claim is seen. */
const POLL_MS = 250;
/** Due schedules, and expired claims, taken per pass; a full batch is followed by another pass at once. */
const BATCH = 100;
/** Longest a stop waits for the pass under way: one stuck on Redis must not hold a shutdown. */
const STOP_WAIT_MS = 2000;
/** Tries of one due tick whose overlap check raced another run being recorded. */
const OVERLAP_TRIES = 3;
/** States in which the previous run's job counts as unfinished for overlap 'skip'. */
const UNFINISHED: readonly JobState[] = ['pending', 'scheduled', 'processing', 'retrying'];

/** Settings of a `Scheduler`. */
export interface SchedulerOptions {
  redis: ScriptedRedis;
  prefix: string;
  /** Adds the ticks' jobs. The scheduler takes only ticks of schedules whose queue this producer serves. */
  queue: Queue;
  /** Default: Redis's clock, which every scheduler shares. */
  now?: ScheduleClock;
  /** Lease of a claim (see claimLeaseMs). Default SCHEDULE_CLAIM_LEASE_MS. */
  claimLeaseMs?: number;
  logger?: Logger;
}

/** What one pass did. */
export interface SchedulerPass {
  /** Due ticks this scheduler decided (run, skipped or missed). */
  decided: number;
  /** Claims of dead schedulers it drove again. */
  redriven: number;
  /** Whether a batch came back full: more is due at once. */
  more: boolean;
}

/**
 * Runs the schedules' ticks. One runs in every worker and API process, any number at once: each
 * pass reads the due schedules, plans each due tick (ticks.ts), and claims it in one script that
 * checks the tick is still the schedule's due one, so exactly one scheduler adds its job. The job is
 * added with an idempotency key of the tick, and the run recorded; a claim left by a scheduler that
 * died is driven again after its lease by any other, which the key makes return the same job.
 */
export class Scheduler {
  private readonly keys: ScheduleKeys;
  private readonly now: ScheduleClock;
  private readonly logger: Logger;
  private readonly leaseMs: number;
  private readonly runner: ScheduleRunner;
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;
  private failing = false;

  constructor(private readonly options: SchedulerOptions) {
    this.keys = scheduleKeys(options.prefix);
    this.now = options.now ?? redisClock(options.redis);
    this.logger = options.logger ?? silentLogger;
    this.leaseMs = options.claimLeaseMs ?? SCHEDULE_CLAIM_LEASE_MS;
    this.runner = new ScheduleRunner(options.redis, this.keys, options.queue);
  }

  /** Starts running ticks in the background. */
  start(): void {
    this.loop ??= this.run();
  }

  /**
   * Stops after the pass under way, waiting for it STOP_WAIT_MS at most: a claim left unfinished is
   * driven again by another scheduler after its lease.
   */
  async stop(): Promise<void> {
    this.stopping.abort();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.loop, new Promise((resolve) => (timer = setTimeout(resolve, STOP_WAIT_MS)))]);
    clearTimeout(timer);
  }

  /** One pass: decides the due ticks and drives the expired claims, a batch of each. */
  async runOnce(): Promise<SchedulerPass> {
    const { redis } = this.options;
    const now = await this.now();
    const [due, expired] = await Promise.all([
      redis.zrangebyscore(this.keys.due, '-inf', now, 'WITHSCORES', 'LIMIT', 0, BATCH),
      redis.zrangebyscore(this.keys.claims, '-inf', now, 'LIMIT', 0, BATCH),
    ]);
    const names = due.filter((_, i) => i % 2 === 0);
    const definitions = await this.definitions([...names, ...expired.map((member) => claimOf(member).name)]);
    let decided = 0;
    for (let i = 0; i < names.length; i += 1) {
      const name = names[i] as string;
      const schedule = definitions.get(name);
      if (schedule && this.serves(schedule) && (await this.decide(schedule, Number(due[2 * i + 1]), now))) decided += 1;
    }
    let redriven = 0;
    for (const member of expired) {
      const claim = claimOf(member);
      const schedule = definitions.get(claim.name) ?? null;
      if (schedule && !this.serves(schedule)) continue;
      const taken = await runScript(redis, 'takeOverScheduleClaim', [this.keys.claims], [member, now, now + this.leaseMs]);
      if (taken !== 1) continue;
      this.logger.warn({ schedule: claim.name, tick: claim.tick }, 'driving again a scheduled run whose scheduler did not finish it');
      await this.runner.drive(claim, schedule, now);
      redriven += 1;
    }
    return { decided, redriven, more: names.length === BATCH || expired.length === BATCH };
  }

  /** The definitions of `names` (and their revisions), by name; removed ones are absent. */
  private async definitions(names: readonly string[]): Promise<Map<string, StoredSchedule & { revision: string }>> {
    const unique = [...new Set(names)];
    if (unique.length === 0) return new Map();
    const [jsons, revisions] = await Promise.all([
      this.options.redis.hmget(this.keys.definitions, ...unique),
      this.options.redis.hmget(this.keys.revisions, ...unique),
    ]);
    const found = new Map<string, StoredSchedule & { revision: string }>();
    unique.forEach((name, i) => {
      const json = jsons[i];
      if (json) found.set(name, { ...(JSON.parse(json) as StoredSchedule), revision: revisions[i] ?? '' });
    });
    return found;
  }

  /** A producer adds jobs to the queues it serves only: a tick of another queue is left to the processes that serve it. */
  private serves(schedule: StoredSchedule): boolean {
    return this.options.queue.queues.includes(schedule.job.queue);
  }

  /** Plans and claims one due tick, and adds its job when it is this scheduler's to run. Returns whether it decided the tick. */
  private async decide(schedule: StoredSchedule & { revision: string }, dueTick: number, now: number): Promise<boolean> {
    const plan = planTicks(schedule, dueTick, now, schedule.catchUp);
    if (!plan) return false;
    const k = this.keys;
    const overlap = schedule.overlap === 'skip' && plan.run !== null;
    for (let attempt = 1; attempt <= OVERLAP_TRIES; attempt += 1) {
      const lastJob = overlap ? await this.options.redis.hget(k.lastJobs, schedule.name) : null;
      const unfinished = lastJob ? UNFINISHED.includes((await this.options.queue.getJob(lastJob))?.status as JobState) : false;
      const reply = await runScript(this.options.redis, 'claimScheduleTick',
        [k.due, k.revisions, k.decided, k.claims, k.inflight, k.lastJobs, k.runs(schedule.name)], [
          schedule.name, dueTick, schedule.revision, plan.run ?? '', plan.next,
          plan.missed?.count ?? '', plan.missed?.first ?? '', plan.missed?.last ?? '', overlap ? '1' : '0', lastJob ?? '', unfinished ? '1' : '0',
          now + this.leaseMs, now, SCHEDULE_RUNS_KEPT,
        ]);
      if (reply === 2) continue;
      if (reply === 1 && plan.run !== null) await this.runner.drive({ name: schedule.name, tick: plan.run, kind: 'tick' }, schedule, now);
      return reply !== 0;
    }
    return false;
  }

  private async run(): Promise<void> {
    const signal = this.stopping.signal;
    while (!signal.aborted) {
      try {
        const { more } = await this.runOnce();
        if (this.failing) this.logger.info({}, 'scheduler running again');
        this.failing = false;
        if (!more) await sleep(jitter(POLL_MS), signal);
      } catch (error) {
        if (!this.failing) this.logger.warn({ err: messageOf(error) }, 'scheduler pass failed; retrying');
        this.failing = true;
        await sleep(jitter(1000), signal);
      }
    }
  }
}
