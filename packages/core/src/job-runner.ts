import type { Attempt } from './attempt.js';
import { messageOf, PermanentJobError } from './errors.js';
import type { JobContext, JobHandler } from './handler.js';
import type { QueueConfig } from './config.js';
import { WORKER_GROUP, type QueueKeys } from './keys.js';
import { trimDeadLetters } from './dead-letter-trim.js';
import { bandEntries, type StreamEntry } from './redis/entries.js';
import { NO_LIMITS, scriptLimit, type FlowLimits, type ScriptLimits } from './flow-limits.js';
import { runTransition, type ScriptedRedis } from './redis/scripts.js';
import type { RegisteredJobType } from './registry.js';
import { DEFAULT_RETRY_POLICY, nextRetryDelay } from './retry-policy.js';
import { allFulfilled, TurnBatch } from './turn-batch.js';
import { jsonDepthExceeds, storableJson, storableText } from './validation.js';
import { MAX_DELAY_MS } from './limits.js';

/** Largest handler result stored with a job, in bytes of JSON. */
export const MAX_RESULT_BYTES = 64 * 1024;
/** Largest progress report, in bytes of JSON. */
export const MAX_PROGRESS_BYTES = 4096;
/** Longest error message stored per failed attempt. */
const MAX_ERROR_LENGTH = 2000;
/** Times one job may be postponed by its handler (RetryAfterError); the next postponement fails the attempt. */
export const MAX_POSTPONEMENTS = 100;

/** A job that `startJobs` handed to a worker. */
export interface StartedJob {
  queue: string;
  /** The index in `QueueKeys.streams` of the stream that holds the job's entry: its priority band's, or the grouped stream. */
  band: number;
  entryId: string;
  id: string;
  type: string;
  payload: Record<string, unknown>;
  attempt: number;
  maxAttempts: number;
  /** When the job was due (ms): its wait is measured from here. */
  runAtMs: number;
  /** Its fair group, if it has one. */
  group: string | null;
  /** The W3C trace context its attempts continue (see Queue.add's `traceContext`), if it has one. */
  traceparent: string | null;
  tracestate: string | null;
}

/** Where a failed attempt sent the job. */
export type NextAfterFailure = 'pending' | 'retrying' | 'dead';

/** Runs a handler for one attempt; `attempt` aborts it (its deadline is the worker's to watch). */
export function runHandler(
  job: StartedJob,
  type: RegisteredJobType | undefined,
  handler: JobHandler | undefined,
  attempt: Attempt,
  progress: (value: unknown) => Promise<void>,
): Promise<unknown> {
  // The start scripts park jobs of types this worker does not serve: these are only a guard.
  if (!type || !handler) return Promise.reject(new PermanentJobError(`this worker does not serve job type "${job.type}"`));
  const context: JobContext = {
    id: job.id, queue: job.queue, type: job.type, payload: job.payload, attempt: job.attempt, maxAttempts: job.maxAttempts, progress,
    get signal() {
      return attempt.signal;
    },
  };
  return attempt.run(() => handler(context));
}

/**
 * Serializes a handler's result so that PostgreSQL can store it (see storableJson), refusing one
 * past the size cap or nested deeper than a payload may be.
 */
export function serializeResult(result: unknown, maxDepth: number): string {
  const json = result === undefined ? '' : storableJson(JSON.stringify(result) ?? '');
  const bytes = Buffer.byteLength(json);
  if (bytes > MAX_RESULT_BYTES) throw new PermanentJobError(`the handler's result is ${bytes} bytes of JSON; at most ${MAX_RESULT_BYTES} are stored`);
  if (jsonDepthExceeds(json, maxDepth)) throw new PermanentJobError(`the handler's result is nested more than ${maxDepth} levels deep (PAYLOAD_MAX_DEPTH)`);
  return json;
}

/**
 * One entry's reply from a start: the entry id alone when it was stale or handed back, then 0 when
 * handed on to another live worker, 1, the type, the job's id and band when no live worker serves
 * the type (the caller parks it), 3, the type, the job's id, band and why when its type's limits
 * hold it back (the caller parks it too), or the job to run.
 */
type StartItem = (string | number)[];

/** What startJobs did with the entries it was given. */
export interface StartOutcome {
  started: StartedJob[];
  /** Entries whose jobs this worker does not serve, handed on to another live worker that does. */
  handedOn: number;
  /** Jobs their types' limits held back, now waiting in their types' limited sets. */
  held: number;
}

/** What one takeJobs call did. */
export interface TakeOutcome extends StartOutcome {
  /** Entries read, whether started or left. */
  taken: number;
  /** Entries read whose jobs were not named: the next call starts them. */
  left: StreamEntry[];
  /** The jobs of the entries that follow: the next call names them. */
  next: string[];
  /** The fair queue's members whose turn may come next (see takeJobs): the next call names their jobs. */
  turns: string[];
  paused: boolean;
  /**
   * When the queue's limits let nothing more start: in how long its rate lets the next start (ms),
   * or 'cap' when its cap holds jobs until one ends; else false.
   */
  limited: number | 'cap' | false;
}

/** The stream entries of the jobs of one type to park: no live worker serves it (`why` absent), or its limits hold them back. */
interface ParkedEntries {
  type: string;
  why?: string;
  entries: StreamEntry[];
}

function startedJobs(queue: string, items: readonly StartItem[]): StartedJob[] {
  return items
    .filter((item) => item.length === 11)
    .map(([entryId, id, type, payload, attempt, maxAttempts, runAt, band, group, traceparent, tracestate]) => ({
      queue,
      band: Number(band),
      entryId: String(entryId),
      id: String(id),
      type: String(type),
      payload: JSON.parse(String(payload)) as Record<string, unknown>,
      attempt: Number(attempt),
      maxAttempts: Number(maxAttempts),
      runAtMs: Number(runAt),
      group: group === '' ? null : String(group),
      traceparent: traceparent === '' ? null : String(traceparent),
      tracestate: tracestate === '' ? null : String(tracestate),
    }));
}

/** Per completion, the script arguments completeJobs and takeJobs take: band, stream entry id, attempt, result. */
function completionArgs(batch: readonly Completion[]): (string | number)[] {
  return batch.flatMap(({ job, resultJson }) => [job.band, job.entryId, job.attempt, resultJson]);
}

/** Per entry, the script arguments the start and park scripts take: band, stream entry id. */
function entryArgs(entries: readonly StreamEntry[]): (string | number)[] {
  return entries.flatMap((entry) => [entry.band, entry.entryId]);
}

/**
 * Which job types a worker starts from a queue's entries; entries of other types are parked for a
 * worker that serves them (see handOnEntry in start-entry.lua and park-unserved.lua).
 */
export interface TypeRouting {
  /** Types this worker serves, as the scripts take them: ",a,b,". */
  served: string;
  /** Types only other live workers of the queue serve, the same way. */
  elsewhere(): string;
}

/** Most jobs one releaseUnserved, expireUnserved or releaseLimited call moves. */
const UNSERVED_BATCH = 500;
/** The KEYS index of the rate window releaseLimited is given; its set of overrunning handlers follows. */
const RELEASE_WINDOW_KEY = 14;

/** A handler still running after its attempt ended, as its type's cap counts it (see JobTransitions.fail). */
export interface Overrun {
  /** Its member in the type's set: the job and attempt (`group|` before it in the queue's set of grouped ones). */
  member: string;
  /** How long its place lasts unless renewed (renewOverruns): a crashed worker's lapses. */
  leaseMs: number;
  /** Whether its type has a cap, which counts it; a grouped job's group's cap counts it whatever its type. */
  typeCapped: boolean;
}

/** A list of type names as the start scripts take it: ",a,b,", so that ",a," finds a whole name. */
export function typeList(names: Iterable<string>): string {
  return `,${[...names].join(',')},`;
}

/** Most completions sent to Redis in one script call. */
const MAX_COMPLETION_BATCH = 500;

interface Completion {
  job: StartedJob;
  resultJson: string;
  now: number;
}

/**
 * Transition scripts for one queue, as one worker calls them. Each names the attempt it acts for
 * (stream entry, attempt number, this worker), and each script refuses a transition for an attempt
 * that is no longer the job's current one: a worker that stalled and was taken over cannot
 * complete, fail, release, report progress for or heartbeat the job again.
 */
export class JobTransitions {
  /** Completions of this turn of the event loop, sent with the worker's next read or on their own. */
  private readonly completions = new TurnBatch<Completion, boolean>(MAX_COMPLETION_BATCH, async (batch) => allFulfilled(await this.completeJobs(batch)));

  constructor(
    private readonly redis: ScriptedRedis,
    private readonly keys: QueueKeys,
    private readonly worker: string,
    private readonly queueConfig: Pick<QueueConfig, 'retentionMs' | 'deadRetentionMs' | 'deadMaxJobs'>,
    private readonly routing: TypeRouting,
    private readonly limits: () => ScriptLimits = () => NO_LIMITS,
  ) {}

  /**
   * completeJobs: true when this call completed the job, false when the attempt was stale. Completions
   * arriving in the same turn of the event loop go to Redis together: with the worker's next read
   * (`take`) when it comes first, else in a script call of their own.
   */
  complete(job: StartedJob, resultJson: string, now: number): Promise<boolean> {
    return this.completions.add({ job, resultJson, now });
  }

  private async completeJobs(batch: readonly Completion[]): Promise<boolean[]> {
    const now = Math.max(...batch.map((completion) => completion.now));
    const done = (await runTransition(this.redis, 'completeJobs', this.keys, now, [...this.keys.lanes, ...this.jobKeysOf(batch)], [
      WORKER_GROUP, now, this.worker, this.queueConfig.retentionMs, ...completionArgs(batch),
    ])) as number[];
    return done.map((flag) => flag === 1);
  }

  /** The stream of the band of a started job, which holds its entry. */
  private streamOf(job: StartedJob): string {
    return this.keys.streams[job.band] as string;
  }

  private jobKeysOf(batch: readonly Completion[]): string[] {
    return batch.map(({ job }) => this.keys.job(job.id));
  }

  /**
   * failJob: retries at once, after a backoff, or dead-letters, per the policy. Null when the attempt
   * was stale. `overrun`, for an attempt whose handler still runs past its end, leases the handler a
   * place in its type's set of overrunning handlers, which the type's cap counts (see runningNow),
   * and, for a grouped job, in the queue's, which its group's cap counts (see groupRunning).
   */
  async fail(
    job: StartedJob, type: RegisteredJobType | undefined, error: unknown, now: number, random: () => number, overrun?: Overrun,
  ): Promise<{ next: NextAfterFailure; message: string } | null> {
    const { keys } = this;
    // Cut first, then made storable: a cut may split a surrogate pair.
    const message = storableText(messageOf(error).slice(0, MAX_ERROR_LENGTH));
    const reason = error instanceof PermanentJobError ? 'permanent' : job.attempt >= job.maxAttempts ? 'exhausted' : '';
    const retryAt = now + nextRetryDelay(job.attempt, type?.retry ?? DEFAULT_RETRY_POLICY, random);
    const next = await runTransition(this.redis, 'failJob', keys, now,
      [
        this.streamOf(job), keys.delayed, keys.job(job.id), keys.dlq, overrun?.typeCapped ? keys.overrunOf(job.type) : keys.dlq, keys.fair, keys.fairTags, keys.grouped,
        keys.groupOverruns,
      ], [
        WORKER_GROUP, job.entryId, job.attempt, now, this.worker, message, retryAt, reason, overrun?.member ?? '', overrun?.leaseMs ?? 0, overrun?.typeCapped ? '1' : '',
      ]);
    if (next === 0) return null;
    if (next === 'dead') await trimDeadLetters(this.redis, keys, this.queueConfig, now);
    return { next: next as NextAfterFailure, message };
  }

  /**
   * postponeJob: the job runs again after `delayMs` (cut to 0 .. one year), the attempt not counted.
   * 'exhausted' when it has been postponed MAX_POSTPONEMENTS times already (nothing is changed: the
   * caller fails the attempt), null when the attempt was stale.
   */
  async postpone(job: StartedJob, delayMs: number, why: string, now: number): Promise<'postponed' | 'exhausted' | null> {
    const { keys } = this;
    // Infinity asks for the longest wait there is; only a delay that is no number at all (NaN) is none.
    const delay = Number.isNaN(delayMs) ? 0 : Math.min(MAX_DELAY_MS, Math.max(0, Math.round(delayMs)));
    const postponed = await runTransition(this.redis, 'postponeJob', keys, now, [this.streamOf(job), keys.delayed, keys.job(job.id)], [
      WORKER_GROUP, job.entryId, job.attempt, now, this.worker, now + delay, storableText(why.slice(0, MAX_ERROR_LENGTH)), MAX_POSTPONEMENTS,
    ]);
    return postponed === 1 ? 'postponed' : postponed === -1 ? 'exhausted' : null;
  }

  /** updateProgress: stores a running attempt's progress report. False when the attempt was stale. */
  async progress(job: StartedJob, value: unknown, now: number): Promise<boolean> {
    const json = storableJson(JSON.stringify(value) ?? 'null');
    const bytes = Buffer.byteLength(json);
    if (bytes > MAX_PROGRESS_BYTES) throw new RangeError(`progress is ${bytes} bytes of JSON; at most ${MAX_PROGRESS_BYTES} are stored`);
    const stored = await runTransition(this.redis, 'updateProgress', this.keys, now, [this.keys.job(job.id)], [job.entryId, job.attempt, this.worker, json, now]);
    return stored === 1;
  }

  /** releaseJob: hands an unfinished attempt back to the stream for another worker. False when the attempt was stale. */
  async release(job: StartedJob, now: number): Promise<boolean> {
    const { keys } = this;
    const released = await runTransition(this.redis, 'releaseJob', keys, now, [this.streamOf(job), keys.job(job.id), keys.fair, keys.fairTags, keys.grouped], [
      WORKER_GROUP, job.entryId, job.attempt, now, this.worker,
    ]);
    return released === 1;
  }

  /**
   * startJobs: marks read or claimed entries processing; returns the jobs to run (stale entries are
   * dropped; on a paused queue, every entry is handed back to the stream and none is run).
   */
  async start(queue: string, entries: readonly StreamEntry[], now: number): Promise<StartedJob[]> {
    return (await this.startEntries(queue, entries, now)).started;
  }

  /**
   * startJobs, with how many entries were handed on to another worker. Entries of types no live
   * worker serves come back from it untouched, to be parked here (parkUnserved).
   */
  async startEntries(queue: string, entries: readonly StreamEntry[], now: number): Promise<StartOutcome & { paused: boolean }> {
    if (entries.length === 0) return { started: [], handedOn: 0, held: 0, paused: false };
    const { keys, routing } = this;
    const limits = this.limits();
    const [items, paused] = (await runTransition(this.redis, 'startJobs', keys, now,
      [...keys.lanes, keys.paused, keys.delayed, ...limits.keys, ...entries.map((entry) => keys.job(entry.jobId))], [
        WORKER_GROUP, this.worker, now, routing.served, routing.elsewhere(), limits.arg, limits.keys.length, ...entryArgs(entries),
      ])) as [StartItem[], number];
    return { ...(await this.startOutcome(queue, items, now)), paused: paused === 1 };
  }

  /** handBackEntries: puts the jobs of entries just read back at the ends of their streams, unstarted (see handBackEntry). */
  async handBack(entries: readonly StreamEntry[], now: number): Promise<void> {
    const { keys } = this;
    await runTransition(this.redis, 'handBackEntries', keys, now, [...keys.lanes, ...entries.map((entry) => keys.job(entry.jobId))],
      [WORKER_GROUP, this.worker, now, ...entryArgs(entries)]);
  }

  /** The jobs a start script started, with the entries it left to park (see parkUnserved and parkLimited) parked. */
  private async startOutcome(queue: string, items: readonly StartItem[], now: number): Promise<StartOutcome> {
    const parked = new Map<string, ParkedEntries>();
    for (const item of items) {
      if (item.length !== 5 && item.length !== 6) continue;
      const type = String(item[2]);
      const why = item.length === 6 ? String(item[5]) : undefined;
      const group = parked.get(`${type}:${why}`) ?? { type, ...(why !== undefined && { why }), entries: [] };
      group.entries.push({ band: Number(item[4]), entryId: String(item[0]), jobId: String(item[3]) });
      parked.set(`${type}:${why}`, group);
    }
    let held = 0;
    for (const group of parked.values()) {
      if (group.why === undefined) await this.parkUnserved(group, now);
      else held += await this.parkLimited(group, now);
    }
    return { started: startedJobs(queue, items), handedOn: items.filter((item) => item.length === 2).length, held };
  }

  /** parkLimited: the jobs of entries whose type's limits held them back wait in the type's limited set. Returns how many. */
  private async parkLimited({ type, why, entries }: ParkedEntries, now: number): Promise<number> {
    const { keys } = this;
    return Number(await runTransition(this.redis, 'parkLimited', keys, now,
      [...keys.lanes, keys.limited, keys.limitedOf(type), ...entries.map((entry) => keys.job(entry.jobId))],
      [WORKER_GROUP, now, type, why ?? '', ...entryArgs(entries)]));
  }

  /** The queue's jobs held back by their types' limits, per type (see parkLimited). */
  async limitedTypes(): Promise<Record<string, number>> {
    const counts = await this.redis.hgetall(this.keys.limited);
    return Object.fromEntries(Object.entries(counts).map(([type, count]) => [type, Number(count)]));
  }

  /**
   * releaseLimited: lets as many jobs of `type` held back by its limits go back to their streams as
   * the type's `limits` (this partition's share; none lets every one go) have room for now, highest
   * band first. Returns how many, and in how long its rate has room again (ms), or 0.
   */
  async releaseLimited(type: string, limits: FlowLimits, count: number, now: number): Promise<{ released: number; again: number }> {
    const { keys } = this;
    const ids = await this.redis.zrange(keys.limitedOf(type), 0, UNSERVED_BATCH - 1);
    if (ids.length === 0) return { released: 0, again: 0 };
    const limit = scriptLimit(limits, count, RELEASE_WINDOW_KEY, RELEASE_WINDOW_KEY + 1);
    const [released, again] = (await runTransition(this.redis, 'releaseLimited', keys, now, [
      ...keys.lanes, keys.limited, keys.limitedOf(type), limit.m > 0 ? keys.rateWindow(type) : keys.limited, limit.o > 0 ? keys.overrunOf(type) : keys.limited,
      ...ids.map((id) => keys.job(id)),
    ],
      [type, JSON.stringify(limit), ...ids])) as [number, number];
    return { released, again };
  }

  /** parkUnserved: the jobs of entries whose type no live worker serves wait in the type's unserved set. */
  private async parkUnserved({ type, entries }: ParkedEntries, now: number): Promise<void> {
    const { keys } = this;
    await runTransition(this.redis, 'parkUnserved', keys, now,
      [...keys.lanes, keys.unserved, keys.unservedOf(type), ...entries.map((entry) => keys.job(entry.jobId))],
      [WORKER_GROUP, now, type, ...entryArgs(entries)]);
  }

  /**
   * takeJobs: completes the jobs finished since the last call, starts the entries `left` by it, reads
   * up to `count` new entries, visiting the priority bands in `order` (see bandOrder), and starts
   * those whose jobs are among the `next` it looked at. Returns the jobs started, the entries read
   * but left to the next call (each needing a slot meanwhile), and up to `lookAhead` entries that
   * follow, to name next (none when nothing was read). Nothing started, left or to name: the streams
   * had nothing new, or the queue is `paused` (the entries left were then handed back).
   */
  async take(queue: string, left: readonly StreamEntry[], next: readonly string[], turns: readonly string[], count: number, lookAhead: number, order: string, now: number): Promise<TakeOutcome> {
    const { keys, routing } = this;
    const limits = this.limits();
    const completions = this.completions.take();
    let reply: [number[], StartItem[], (string | number)[], string[], number, number, string[]];
    try {
      reply = (await runTransition(this.redis, 'takeJobs', keys, now, [
        ...keys.lanes, keys.paused, keys.delayed, ...limits.keys, ...left.map((entry) => keys.job(entry.jobId)), ...next.map((jobId) => keys.job(jobId)),
        ...turns.map((member) => keys.job(jobIdOfTurn(member))), ...this.jobKeysOf(completions.items),
      ], [
        WORKER_GROUP, this.worker, now, count, this.queueConfig.retentionMs, routing.served, routing.elsewhere(), left.length, next.length,
        lookAhead, order, limits.arg, limits.keys.length, turns.length, ...entryArgs(left), ...next, ...turns, ...completionArgs(completions.items),
      ])) as [number[], StartItem[], (string | number)[], string[], number, number, string[]];
    } catch (error) {
      completions.reject(error);
      throw error;
    }
    const [completed, items, leftFlat, nextJobs, paused, limited, nextTurns] = reply;
    completions.resolve(completed.map((flag) => flag === 1));
    const leftNow = bandEntries(leftFlat);
    return {
      ...(await this.startOutcome(queue, items, now)), taken: items.length - left.length + leftNow.length, left: leftNow, next: nextJobs, turns: nextTurns, paused: paused === 1,
      limited: limited === 0 ? false : limited < 0 ? 'cap' : limited,
    };
  }

  /** The queue's jobs waiting for a worker of their type, per type (see parkUnserved in park-unserved.lua). */
  async unserved(): Promise<Record<string, number>> {
    const counts = await this.redis.hgetall(this.keys.unserved);
    return Object.fromEntries(Object.entries(counts).map(([type, count]) => [type, Number(count)]));
  }

  /** releaseUnserved: sends every job of `type` waiting for a worker of its type back to the stream, oldest first. Returns how many. */
  async releaseUnserved(type: string, now: number): Promise<number> {
    const { keys } = this;
    let released = 0;
    for (;;) {
      const ids = await this.redis.zrange(keys.unservedOf(type), 0, UNSERVED_BATCH - 1);
      if (ids.length === 0) return released;
      released += Number(await runTransition(this.redis, 'releaseUnserved', keys, now,
        [...keys.lanes, keys.unserved, keys.unservedOf(type), ...ids.map((id) => keys.job(id))], [type, ...ids]));
      if (ids.length < UNSERVED_BATCH) return released;
    }
  }

  /** expireUnserved: dead-letters (no-handler) the jobs of `type` that have waited `timeoutMs` for a worker of their type. Returns how many. */
  async expireUnserved(type: string, now: number, timeoutMs: number): Promise<number> {
    const { keys } = this;
    let expired = 0;
    for (;;) {
      const ids = await this.redis.zrange(keys.unservedOf(type), 0, UNSERVED_BATCH - 1);
      if (ids.length === 0) break;
      const batch = Number(await runTransition(this.redis, 'expireUnserved', keys, now,
        [keys.unserved, keys.unservedOf(type), keys.dlq, ...ids.map((id) => keys.job(id))], [type, now, timeoutMs, ...ids]));
      expired += batch;
      if (batch < ids.length) break;
    }
    if (expired > 0) await trimDeadLetters(this.redis, keys, this.queueConfig, now);
    return expired;
  }

  /**
   * heartbeatJobs: resets the idle time of running attempts' entries so no other worker reclaims
   * them. Returns the jobs whose attempts are no longer current: another worker has taken them over.
   */
  async heartbeat(jobs: readonly StartedJob[], now: number): Promise<StartedJob[]> {
    if (jobs.length === 0) return [];
    const { keys } = this;
    const fresh = (await runTransition(this.redis, 'heartbeatJobs', keys, now, [...keys.lanes, ...jobs.map((job) => keys.job(job.id))], [
      WORKER_GROUP, this.worker, ...jobs.flatMap((job) => [job.band, job.entryId, job.attempt]),
    ])) as number[];
    return jobs.filter((_, index) => fresh[index] !== 1);
  }
}

/** The job id of a fair-queue member, `group|type|id` (see queueGrouped in job-steps.lua). */
function jobIdOfTurn(member: string): string {
  return member.slice(member.lastIndexOf('|') + 1);
}
