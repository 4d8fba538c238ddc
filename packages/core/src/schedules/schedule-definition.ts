import { Cron } from 'croner';
import { InvalidScheduleError } from '../errors.js';
import { GROUP_PATTERN, MAX_ATTEMPTS, MAX_DELAY_MS, MAX_PRIORITY, MIN_ATTEMPTS, MIN_PRIORITY, QUEUE_NAME_PATTERN } from '../limits.js';

/** Schedule names: the same characters as queue and type names. */
export const SCHEDULE_NAME_PATTERN = QUEUE_NAME_PATTERN;
/** Most schedules that may exist at once; one more is refused (TOO_MANY_SCHEDULES). */
export const MAX_SCHEDULES = 1000;
/** Shortest `everyMs`: one second, the finest a cron of six fields can say too. */
export const MIN_EVERY_MS = 1000;
/** Longest `everyMs`: one year. */
export const MAX_EVERY_MS = MAX_DELAY_MS;
/** Largest job payload a schedule may hold, in bytes of JSON: a page of schedules stays small. */
export const MAX_SCHEDULE_PAYLOAD_BYTES = 64 * 1024;
/** Runs kept per schedule, newest first. */
export const SCHEDULE_RUNS_KEPT = 20;

/** What a tick does while the previous run's job is unfinished: run anyway, or skip the tick (recorded as skipped). */
export type ScheduleOverlap = 'allow' | 'skip';
/** What happens to ticks missed beyond the grace (see `planTicks`): none run, the latest runs, or all run (at most MAX_CATCH_UP_TICKS). */
export type ScheduleCatchUp = 'none' | 'latest' | 'all';

export const SCHEDULE_OVERLAPS: readonly ScheduleOverlap[] = ['allow', 'skip'];
export const SCHEDULE_CATCH_UPS: readonly ScheduleCatchUp[] = ['none', 'latest', 'all'];

/** The job each tick of a schedule adds. */
export interface ScheduleJobTemplate {
  type: string;
  payload: Record<string, unknown>;
  /** Default: the producer's first queue, fixed when the schedule is saved. */
  queue?: string;
  /** Default 0. */
  priority?: number;
  /** Default: the type's retry policy. */
  maxAttempts?: number;
  /** The jobs' fair group (see AddJobOptions.group); none by default. */
  group?: string;
}

/** A schedule as it is asked for: exactly one of `cron` and `everyMs`. */
export interface ScheduleDefinition {
  /** `[A-Za-z0-9_.:-]{1,64}`, unique. */
  name: string;
  /** A cron expression of 5 fields (minute first) or 6 (second first), read by croner. */
  cron?: string;
  /** Milliseconds between ticks (MIN_EVERY_MS to MAX_EVERY_MS); ticks fall on multiples of it since the epoch. */
  everyMs?: number;
  /** IANA time zone the cron is read in. Default `UTC`. Not allowed with `everyMs`. */
  timezone?: string;
  job: ScheduleJobTemplate;
  /** Default `allow`. */
  overlap?: ScheduleOverlap;
  /** Default `none`. */
  catchUp?: ScheduleCatchUp;
  /** Created paused: no tick runs until it is resumed. Default false. */
  paused?: boolean;
}

/** A change to a schedule: the fields given replace the schedule's; `cron` and `everyMs` replace each other. */
export type ScheduleChange = Partial<Omit<ScheduleDefinition, 'name'>>;

/** A schedule as it is stored (the JSON in the definitions hash). */
export interface StoredSchedule {
  name: string;
  cron: string | null;
  everyMs: number | null;
  timezone: string;
  job: Required<Pick<ScheduleJobTemplate, 'type' | 'payload' | 'queue' | 'priority'>> & Pick<ScheduleJobTemplate, 'group'> & { maxAttempts: number | null };
  overlap: ScheduleOverlap;
  catchUp: ScheduleCatchUp;
  paused: boolean;
  /** ms since the epoch. */
  createdAt: number;
  updatedAt: number;
}

const DEFINITION_FIELDS = new Set(['name', 'cron', 'everyMs', 'timezone', 'job', 'overlap', 'catchUp', 'paused']);
const JOB_FIELDS = new Set(['type', 'payload', 'queue', 'priority', 'maxAttempts', 'group']);

/**
 * A definition checked for what needs no Redis (name, timing, time zone, options, the job's shape),
 * with its defaults filled in. The job's type, payload and queue are checked against the live
 * workers by the caller (Queue.validate). Throws `InvalidScheduleError` naming the field.
 */
export function storedSchedule(definition: ScheduleDefinition, defaultQueue: string, now: number, createdAt = now): StoredSchedule {
  const input = definition as unknown as Record<string, unknown>;
  if (input === null || typeof input !== 'object' || Array.isArray(input)) throw new InvalidScheduleError('The schedule must be an object');
  const unknown = Object.keys(input).filter((key) => !DEFINITION_FIELDS.has(key) && input[key] !== undefined);
  if (unknown.length > 0) throw new InvalidScheduleError(`Unknown field "${unknown[0]}": a schedule has ${[...DEFINITION_FIELDS].join(', ')}`);
  assertScheduleName(definition.name);
  const hasCron = definition.cron !== undefined && definition.cron !== null;
  const hasEvery = definition.everyMs !== undefined && definition.everyMs !== null;
  if (hasCron === hasEvery) throw new InvalidScheduleError('Give exactly one of cron (e.g. "*/5 * * * *") and everyMs (e.g. 60000)');
  if (hasEvery && definition.timezone !== undefined) throw new InvalidScheduleError('timezone applies to cron only: everyMs ticks at fixed intervals of real time');
  const timezone = definition.timezone ?? 'UTC';
  if (hasCron) checkCron(definition.cron as unknown, timezone);
  else checkInteger('everyMs', definition.everyMs, MIN_EVERY_MS, MAX_EVERY_MS);
  const overlap = definition.overlap ?? 'allow';
  if (!SCHEDULE_OVERLAPS.includes(overlap)) throw new InvalidScheduleError(`overlap must be one of ${SCHEDULE_OVERLAPS.join(', ')} (got ${JSON.stringify(overlap)})`);
  const catchUp = definition.catchUp ?? 'none';
  if (!SCHEDULE_CATCH_UPS.includes(catchUp)) throw new InvalidScheduleError(`catchUp must be one of ${SCHEDULE_CATCH_UPS.join(', ')} (got ${JSON.stringify(catchUp)})`);
  if (definition.paused !== undefined && typeof definition.paused !== 'boolean') throw new InvalidScheduleError('paused must be true or false');
  return {
    name: definition.name,
    cron: hasCron ? (definition.cron as string) : null,
    everyMs: hasEvery ? (definition.everyMs as number) : null,
    timezone,
    job: jobTemplate(definition.job, defaultQueue),
    overlap,
    catchUp,
    paused: definition.paused ?? false,
    createdAt,
    updatedAt: now,
  };
}

/** The definition a change leaves: the stored one with the given fields replaced. */
export function changedDefinition(stored: StoredSchedule, change: ScheduleChange): ScheduleDefinition {
  const input = change as Record<string, unknown>;
  if (input === null || typeof input !== 'object' || Array.isArray(input)) throw new InvalidScheduleError('The change must be an object');
  if ('name' in input) throw new InvalidScheduleError('A schedule cannot be renamed: remove it and add one under the new name');
  const timing = change.cron !== undefined || change.everyMs !== undefined;
  return {
    name: stored.name,
    ...(timing ? {} : stored.cron !== null ? { cron: stored.cron, timezone: stored.timezone } : { everyMs: stored.everyMs as number }),
    ...(change.cron !== undefined && { cron: change.cron }),
    ...(change.everyMs !== undefined && { everyMs: change.everyMs }),
    ...(change.timezone !== undefined && { timezone: change.timezone }),
    ...(change.cron !== undefined && change.timezone === undefined && stored.cron !== null && { timezone: stored.timezone }),
    job: change.job ?? { ...stored.job, maxAttempts: stored.job.maxAttempts ?? undefined },
    overlap: change.overlap ?? stored.overlap,
    catchUp: change.catchUp ?? stored.catchUp,
    paused: change.paused ?? stored.paused,
  };
}

/** Throws `InvalidScheduleError` unless `name` is a valid schedule name. */
export function assertScheduleName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !SCHEDULE_NAME_PATTERN.test(name)) {
    throw new InvalidScheduleError(`name must be 1 to 64 letters, digits or _ . : - (got ${JSON.stringify(name)})`);
  }
}

/** A cron of 5 or 6 fields that croner reads, in a time zone the runtime knows. */
function checkCron(cron: unknown, timezone: string): void {
  if (typeof cron !== 'string') throw new InvalidScheduleError('cron must be a string such as "*/5 * * * *"');
  const fields = cron.trim().split(/\s+/).length;
  if (fields !== 5 && fields !== 6) {
    throw new InvalidScheduleError(`cron must have 5 fields (minute hour day-of-month month day-of-week) or 6 (a second first); "${cron}" has ${fields}`);
  }
  if (typeof timezone !== 'string' || !isTimeZone(timezone)) {
    throw new InvalidScheduleError(`timezone must be an IANA time zone such as "Europe/Berlin" or "UTC" (got ${JSON.stringify(timezone)})`);
  }
  let next: Date | null;
  try {
    next = new Cron(cron, { timezone, paused: true }).nextRun();
  } catch (error) {
    throw new InvalidScheduleError(`cron "${cron}" is not valid: ${error instanceof Error ? error.message.replace(/^CronPattern: /, '') : String(error)}`);
  }
  if (next === null) throw new InvalidScheduleError(`cron "${cron}" never fires (a date that does not exist?)`);
}

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

function jobTemplate(job: unknown, defaultQueue: string): StoredSchedule['job'] {
  if (job === null || typeof job !== 'object' || Array.isArray(job)) throw new InvalidScheduleError('job must be an object: {type, payload, queue?, priority?, maxAttempts?, group?}');
  const template = job as Record<string, unknown>;
  const unknown = Object.keys(template).filter((key) => !JOB_FIELDS.has(key) && template[key] !== undefined);
  if (unknown.length > 0) throw new InvalidScheduleError(`job has an unknown field "${unknown[0]}": a schedule's job has ${[...JOB_FIELDS].join(', ')}`);
  if (typeof template.type !== 'string') throw new InvalidScheduleError('job.type must be the name of a job type');
  const payload = template.payload;
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) throw new InvalidScheduleError('job.payload must be a JSON object');
  const bytes = Buffer.byteLength(JSON.stringify(payload));
  if (bytes > MAX_SCHEDULE_PAYLOAD_BYTES) throw new InvalidScheduleError(`job.payload must be at most ${MAX_SCHEDULE_PAYLOAD_BYTES} bytes of JSON (got ${bytes})`);
  if (template.queue !== undefined && typeof template.queue !== 'string') throw new InvalidScheduleError('job.queue must be a queue name');
  if (template.priority !== undefined) checkInteger('job.priority', template.priority, MIN_PRIORITY, MAX_PRIORITY);
  if (template.maxAttempts !== undefined && template.maxAttempts !== null) checkInteger('job.maxAttempts', template.maxAttempts, MIN_ATTEMPTS, MAX_ATTEMPTS);
  if (template.group !== undefined && (typeof template.group !== 'string' || !GROUP_PATTERN.test(template.group))) {
    throw new InvalidScheduleError('job.group must be 1 to 128 letters, digits or _ . : @ / + = -');
  }
  return {
    type: template.type,
    payload: payload as Record<string, unknown>,
    queue: (template.queue as string | undefined) ?? defaultQueue,
    priority: (template.priority as number | undefined) ?? 0,
    maxAttempts: (template.maxAttempts as number | undefined) ?? null,
    ...(template.group !== undefined && { group: template.group as string }),
  };
}

function checkInteger(field: string, value: unknown, min: number, max: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidScheduleError(`${field} must be an integer from ${min} to ${max} (got ${JSON.stringify(value)})`);
  }
}
