import { InvalidJobError, QueueNotFoundError } from '../errors.js';
import { isoFromMs } from '../job.js';
import type { ScheduleKeys } from '../keys.js';
import type { Queue } from '../queue.js';
import { runScript, type ScriptedRedis } from '../redis/scripts.js';
import { SCHEDULE_RUNS_KEPT, type StoredSchedule } from './schedule-definition.js';

/**
 * How long a claimed run is its scheduler's to add and record before any scheduler drives it again.
 * It must stay well inside the idempotency window (IDEMPOTENCY_TTL_MS, 24 h by default): a claim
 * driven again adds nothing only while the first add's idempotency key still names its job. A
 * scheduler whose window is shorter than twice this lease uses half the window instead.
 */
export const SCHEDULE_CLAIM_LEASE_MS = 30_000;

/** The lease a process uses: SCHEDULE_CLAIM_LEASE_MS, or half the idempotency window when that is shorter. */
export function claimLeaseMs(idempotencyTtlMs: number): number {
  return Math.min(SCHEDULE_CLAIM_LEASE_MS, Math.floor(idempotencyTtlMs / 2));
}

/** A tick's run, or a manual one (POST /schedules/:name/trigger). */
export type ScheduleRunKind = 'tick' | 'manual';

/** What became of a run: a job was added; none could be (failed, with why); skipped for overlap; missed beyond the grace. */
export type ScheduleRunStatus = 'created' | 'failed' | 'skipped' | 'missed';

/** One entry of a schedule's runs, newest first. Times are ISO-8601. */
export interface ScheduleRun {
  tick: string;
  kind: ScheduleRunKind;
  status: ScheduleRunStatus;
  /** The job the run added; for a skipped tick, the unfinished job it waited for. */
  jobId: string | null;
  /** Why a run failed or was skipped. */
  reason: string | null;
  /** For `missed`: the newest tick missed, and how many (null when too many to count). */
  lastTick?: string;
  missedCount?: number | null;
  /** When the run was recorded. */
  at: string;
}

/** A claimed run: a schedule's tick (or manual run) whose job is being added. */
export interface ScheduleClaim {
  name: string;
  tick: number;
  kind: ScheduleRunKind;
}

/** A claim as the claims ZSET holds it: `name|tick|kind` (a name holds no `|`). */
export function claimMember({ name, tick, kind }: ScheduleClaim): string {
  return `${name}|${tick}|${kind}`;
}

/** The claim a claims ZSET member names. */
export function claimOf(member: string): ScheduleClaim {
  const [name = '', tick = '0', kind = 'tick'] = member.split('|');
  return { name, tick: Number(tick), kind: kind === 'manual' ? 'manual' : 'tick' };
}

/**
 * The idempotency key of a claim's job, which makes driving a claim again (after its scheduler died)
 * return the job added the first time rather than add another.
 */
export function claimIdempotencyKey({ name, tick, kind }: ScheduleClaim): string {
  return kind === 'manual' ? `schedule:${name}:manual:${tick}` : `schedule:${name}:${tick}`;
}

/** A run as the runs list holds it (JSON written by the scripts), for clients. */
export function scheduleRunFrom(json: string): ScheduleRun {
  const raw = JSON.parse(json) as Record<string, string | undefined>;
  const run: ScheduleRun = {
    tick: isoFromMs(raw.tick ?? 0),
    kind: raw.kind === 'manual' ? 'manual' : 'tick',
    status: (raw.status ?? 'created') as ScheduleRunStatus,
    jobId: raw.job || null,
    reason: raw.reason ?? null,
    at: isoFromMs(raw.at ?? 0),
  };
  if (run.status === 'missed') {
    run.lastTick = isoFromMs(raw.lastTick ?? raw.tick ?? 0);
    run.missedCount = raw.count === undefined || raw.count === '' ? null : Number(raw.count);
  }
  return run;
}

/**
 * Adds the job of a claimed run and records the run: the second half of every run, a tick's or a
 * manual one, first driven or driven again.
 */
export class ScheduleRunner {
  constructor(private readonly redis: ScriptedRedis, private readonly keys: ScheduleKeys, private readonly queue: Queue) {}

  /**
   * Adds the claim's job from `schedule` (null when it was removed: the claim is dropped) and records
   * the run. A job that cannot be added as the schedule stands (its type gone, its payload no longer
   * valid, its queue not served) is a failed run, recorded with why and never retried. Any other
   * error (Redis) is thrown: the claim stays, and is driven again once its lease ends.
   */
  async drive(claim: ScheduleClaim, schedule: StoredSchedule | null, now: number): Promise<ScheduleRun> {
    let jobId = '';
    let reason = '';
    if (schedule === null) reason = 'the schedule was removed';
    else {
      const { type, payload, queue, priority, maxAttempts, group } = schedule.job;
      const key = claimIdempotencyKey(claim);
      try {
        const added = await this.queue.addScheduled(type, payload, {
          // A grouped job's partition is its group's, where the tick's key deduplicates as well as in its own.
          queue, priority, ...(maxAttempts !== null && { maxAttempts }), idempotencyKey: key, ...(group !== undefined ? { group } : { partitionKey: key }),
        }, { schedule: claim.name, tick: claim.tick });
        jobId = added.id;
      } catch (error) {
        if (!(error instanceof InvalidJobError || error instanceof QueueNotFoundError)) throw error;
        reason = error.message;
      }
    }
    const status = jobId ? 'created' : 'failed';
    await runScript(this.redis, 'recordScheduleRun',
      [this.keys.definitions, this.keys.claims, this.keys.inflight, this.keys.lastJobs, this.keys.runs(claim.name)],
      [claim.name, claimMember(claim), claim.tick, claim.kind, status, jobId, reason, now, SCHEDULE_RUNS_KEPT]);
    return { tick: isoFromMs(claim.tick), kind: claim.kind, status, jobId: jobId || null, reason: reason || null, at: isoFromMs(now) };
  }
}
