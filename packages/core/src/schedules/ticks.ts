import { Cron } from 'croner';
import type { ScheduleCatchUp, StoredSchedule } from './schedule-definition.js';

/**
 * How late a tick may run and still be on time: this long, and only until the tick after it is due.
 * A tick later than that was missed (everything was down, or stalled), and the schedule's
 * catchUp decides whether it runs.
 */
export const SCHEDULE_GRACE_MS = 60_000;
/** Most missed ticks catchUp 'all' runs: the newest this many; older ones are recorded as missed. */
export const MAX_CATCH_UP_TICKS = 100;
/** Missed ticks of a cron are counted up to this many; beyond, the run records the first and last only. */
const MISSED_COUNT_LIMIT = 1000;
/** The tick of a cron that never fires again (a date that does not come back): never due. */
export const NEVER = 8_640_000_000_000_000;

/** What decides a schedule's ticks. */
export type ScheduleTiming = Pick<StoredSchedule, 'cron' | 'everyMs' | 'timezone'>;

/** What a scheduler does with a due tick: at most one run, the ticks missed before it, the next tick. */
export interface TickPlan {
  /** The tick to run now, or null. */
  run: number | null;
  /** Ticks missed and not run, oldest and newest; `count` is null past MISSED_COUNT_LIMIT. */
  missed: { first: number; last: number; count: number | null } | null;
  /** The schedule's next due tick: after every tick decided here. */
  next: number;
}

const crons = new Map<string, Cron>();

/** A parsed cron, kept: schedulers plan every few hundred milliseconds. Bounded by a flush, as schedules come and go. */
function cronOf(cron: string, timezone: string): Cron {
  const key = `${timezone} ${cron}`;
  let parsed = crons.get(key);
  if (!parsed) {
    if (crons.size >= 4096) crons.clear();
    parsed = new Cron(cron, { timezone, paused: true });
    crons.set(key, parsed);
  }
  return parsed;
}

/** The first tick strictly after `afterMs`; NEVER when a cron has none. everyMs ticks fall on multiples of it since the epoch. */
export function tickAfter(timing: ScheduleTiming, afterMs: number): number {
  if (timing.everyMs !== null) return (Math.floor(afterMs / timing.everyMs) + 1) * timing.everyMs;
  return cronOf(timing.cron as string, timing.timezone).nextRun(new Date(afterMs))?.getTime() ?? NEVER;
}

/** The `count` ticks after `afterMs`, soonest first. */
export function ticksAfter(timing: ScheduleTiming, afterMs: number, count: number): number[] {
  const ticks: number[] = [];
  for (let tick = tickAfter(timing, afterMs); ticks.length < count && tick < NEVER; tick = tickAfter(timing, tick)) ticks.push(tick);
  return ticks;
}

/** The tick `back` ticks before `tick` (1: the one just before). */
function tickBefore(timing: ScheduleTiming, tick: number, back = 1): number {
  if (timing.everyMs !== null) return tick - back * timing.everyMs;
  const before = cronOf(timing.cron as string, timing.timezone).previousRuns(back, new Date(tick));
  return (before[back - 1] as Date).getTime();
}

/** How many ticks lie in [from, until), counting up to `limit` (null past it). */
function ticksBetween(timing: ScheduleTiming, from: number, until: number, limit: number): number | null {
  if (timing.everyMs !== null) return Math.round((until - from) / timing.everyMs);
  let count = 0;
  for (let tick = from; tick < until; tick = tickAfter(timing, tick)) if (++count > limit) return null;
  return count;
}

/** Whether `tick` is on time at `now`: no later than the grace, and the tick after it not due yet. */
function onTime(tick: number, after: number, now: number): boolean {
  return now - tick <= SCHEDULE_GRACE_MS && now < after;
}

/**
 * The first tick from `from` on that is on time at `now`, or the first after `now`. Ticks more than
 * the grace ago are skipped over at once, so the walk covers one grace's ticks at most.
 */
function firstOnTime(timing: ScheduleTiming, from: number, now: number): number {
  let tick = Math.max(from, tickAfter(timing, now - SCHEDULE_GRACE_MS - 1));
  for (let after = tickAfter(timing, tick); tick <= now; tick = after, after = tickAfter(timing, tick)) {
    if (onTime(tick, after, now)) return tick;
  }
  return tick;
}

/**
 * Plans a schedule's due tick at `now`. A tick on time runs. Ticks missed (late beyond the grace)
 * are handled by `catchUp`, the first tick on time (if one is due) running in every case:
 * - `none`: no missed tick runs; they are recorded as missed.
 * - `latest`: the newest missed tick runs, unless a tick on time is due, which stands for it.
 * - `all`: every missed tick runs, oldest first, one per plan, the newest MAX_CATCH_UP_TICKS at most.
 * Null when nothing is due.
 */
export function planTicks(timing: ScheduleTiming, dueTick: number, now: number, catchUp: ScheduleCatchUp): TickPlan | null {
  if (dueTick > now) return null;
  const after = tickAfter(timing, dueTick);
  if (onTime(dueTick, after, now)) return { run: dueTick, missed: null, next: after };
  const first = firstOnTime(timing, after, now);
  const firstIsDue = first <= now;
  const lastMissed = tickBefore(timing, first);
  const missedCount = ticksBetween(timing, dueTick, first, Math.max(MISSED_COUNT_LIMIT, MAX_CATCH_UP_TICKS));
  const missed = (until: number, count: number | null) => ({ first: dueTick, last: until, count });

  if (catchUp === 'all') {
    if (missedCount !== null && missedCount <= MAX_CATCH_UP_TICKS) return { run: dueTick, missed: null, next: after };
    const firstKept = tickBefore(timing, first, MAX_CATCH_UP_TICKS);
    const dropped = missedCount === null ? null : missedCount - MAX_CATCH_UP_TICKS;
    return { run: firstKept, missed: missed(tickBefore(timing, firstKept), dropped), next: tickAfter(timing, firstKept) };
  }
  if (catchUp === 'latest' && !firstIsDue) {
    const earlier = lastMissed > dueTick ? missed(tickBefore(timing, lastMissed), missedCount === null ? null : missedCount - 1) : null;
    return { run: lastMissed, missed: earlier, next: first };
  }
  const capped = missedCount !== null && missedCount > MISSED_COUNT_LIMIT ? null : missedCount;
  return firstIsDue
    ? { run: first, missed: missed(lastMissed, capped), next: tickAfter(timing, first) }
    : { run: null, missed: missed(lastMissed, capped), next: first };
}
