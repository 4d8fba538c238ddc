import type { QueueKeys } from './keys.js';

/** At most `max` jobs start in any window of `perMs` milliseconds. */
export interface RateLimit {
  max: number;
  perMs: number;
}

/**
 * Limits on how fast and how many jobs start, enforced across every worker: per job type (declared
 * with the type) and per queue (set through the API, kept in Redis). A job held back by one waits
 * without spending an attempt.
 */
export interface FlowLimits {
  /** Starts in a sliding window; none when absent. */
  rate?: RateLimit;
  /** Jobs running at once; none when absent. */
  concurrency?: number;
  /**
   * A queue's only: jobs of one fair group (see AddJobOptions.group) running at once, across every
   * worker; none when absent. Not divided among partitions, as a group's jobs share one.
   */
  groupConcurrency?: number;
}

/** Largest `rate.max`: the window keeps one entry per start. */
export const MAX_RATE_MAX = 100_000;
/** Longest `rate.perMs`: a day. */
export const MAX_RATE_WINDOW_MS = 24 * 3_600_000;
/** Largest concurrency cap. */
export const MAX_CONCURRENCY_CAP = 100_000;

/** What is wrong with `limits` of a queue or of a job type, as sentences naming the field under `field`. */
export function flowLimitsProblems(limits: unknown, field: string, of: 'queue' | 'type'): string[] {
  if (limits === undefined) return [];
  const shape = of === 'queue' ? '{rate?, concurrency?, groupConcurrency?}' : '{rate?, concurrency?}';
  if (limits === null || typeof limits !== 'object' || Array.isArray(limits)) return [`${field} must be an object ${shape}`];
  const { rate, concurrency, groupConcurrency, ...rest } = limits as Record<string, unknown>;
  const problems = Object.keys(rest).map((key) => `${field} has an unknown field "${key}"`);
  if (groupConcurrency !== undefined && of === 'type') problems.push(`${field}.groupConcurrency is a queue's limit (PUT /queues/:name/limits), not a job type's`);
  const integer = (value: unknown, name: string, max: number): string[] =>
    (Number.isSafeInteger(value) && (value as number) >= 1 && (value as number) <= max ? [] : [`${name} must be an integer from 1 to ${max}`]);
  if (rate !== undefined) {
    if (rate === null || typeof rate !== 'object' || Array.isArray(rate)) problems.push(`${field}.rate must be an object {max, perMs}`);
    else {
      const { max, perMs, ...other } = rate as Record<string, unknown>;
      problems.push(...Object.keys(other).map((key) => `${field}.rate has an unknown field "${key}"`));
      problems.push(...integer(max, `${field}.rate.max`, MAX_RATE_MAX), ...integer(perMs, `${field}.rate.perMs`, MAX_RATE_WINDOW_MS));
    }
  }
  if (concurrency !== undefined) problems.push(...integer(concurrency, `${field}.concurrency`, MAX_CONCURRENCY_CAP));
  if (groupConcurrency !== undefined && of === 'queue') problems.push(...integer(groupConcurrency, `${field}.groupConcurrency`, MAX_CONCURRENCY_CAP));
  return problems;
}

/** Whether `limits` limits anything. */
export function limitsAnything(limits: FlowLimits | undefined): limits is FlowLimits {
  return limits?.rate !== undefined || limits?.concurrency !== undefined || limits?.groupConcurrency !== undefined;
}

/**
 * The share of `limits` one partition of a queue of `count` partitions enforces, each on its own (a
 * script can touch one partition only): a rate's max and a cap are divided, rounded up, so every
 * partition can start jobs and the queue as a whole allows up to `count` − 1 more than the limit.
 */
export function partitionShare(limits: FlowLimits, count: number): FlowLimits {
  return {
    ...(limits.rate && { rate: { max: Math.ceil(limits.rate.max / count), perMs: limits.rate.perMs } }),
    ...(limits.concurrency !== undefined && { concurrency: Math.ceil(limits.concurrency / count) }),
  };
}

/**
 * One limit as the start scripts take it: rate max (0: none), window, cap (0: none), the KEYS index
 * of the rate's window (k), and, for a job type's cap, that of its set of overrunning handlers (o).
 */
export interface ScriptLimit {
  m: number;
  w: number;
  c: number;
  k: number;
  o: number;
}

/**
 * A partition's share of `limits` as a script takes it, its rate window (if it has a rate) at KEYS
 * index `windowKey`, and, for a type's cap, its overrunning handlers' set at `overrunKey` (0: none).
 */
export function scriptLimit(limits: FlowLimits, count: number, windowKey: number, overrunKey = 0): ScriptLimit {
  const share = partitionShare(limits, count);
  return { m: share.rate?.max ?? 0, w: share.rate?.perMs ?? 0, c: share.concurrency ?? 0, k: share.rate ? windowKey : 0, o: share.concurrency !== undefined ? overrunKey : 0 };
}

/**
 * The limits a worker passes to its start scripts for one partition: the queue's and those of the
 * types it serves, each its partition's share, with the keys of their rate windows. Empty when
 * nothing is limited, so that the scripts skip every check.
 */
export class ScriptLimits {
  /**
   * The argument: '' or the JSON of {q?: ScriptLimit, t?: {type: ScriptLimit}, g?: the queue's
   * groupConcurrency, go?: the KEYS index of its set of overrunning handlers of grouped jobs}.
   */
  readonly arg: string;
  /** The keys of the rate windows and of the types' overrunning handlers, to place from the KEYS index `firstKey` on. */
  readonly keys: readonly string[];

  constructor(keys: Pick<QueueKeys, 'rateWindow' | 'overrunOf' | 'groupOverruns'>, queue: FlowLimits | undefined, types: ReadonlyMap<string, FlowLimits>, count: number, firstKey: number) {
    const windows: string[] = [];
    const limitOf = (limits: FlowLimits, owner: string | null): ScriptLimit => {
      const windowKey = limits.rate ? firstKey + windows.length : 0;
      if (limits.rate) windows.push(keys.rateWindow(owner));
      const overrunKey = owner !== null && limits.concurrency !== undefined ? firstKey + windows.length : 0;
      if (overrunKey > 0) windows.push(keys.overrunOf(owner as string));
      return scriptLimit(limits, count, windowKey, overrunKey);
    };
    const limited = [...types].filter(([, limits]) => limitsAnything(limits));
    const arg: { q?: ScriptLimit; t?: Record<string, ScriptLimit>; g?: number; go?: number } = {};
    if (queue && (queue.rate || queue.concurrency !== undefined)) arg.q = limitOf(queue, null);
    if (limited.length > 0) arg.t = Object.fromEntries(limited.map(([type, limits]) => [type, limitOf(limits, type)]));
    if (queue?.groupConcurrency !== undefined) {
      arg.g = queue.groupConcurrency;
      arg.go = firstKey + windows.length;
      windows.push(keys.groupOverruns);
    }
    this.arg = arg.q || arg.t || arg.g ? JSON.stringify(arg) : '';
    this.keys = windows;
  }
}

/** Nothing limited: the scripts skip every check. */
export const NO_LIMITS = new ScriptLimits({ rateWindow: () => '', overrunOf: () => '', groupOverruns: '' }, undefined, new Map(), 1, 0);
