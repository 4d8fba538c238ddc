import type pg from 'pg';
import type { QueueConfig, RedisConfig } from './config.js';
import { InvalidJobError, JobNotFoundError, JobStateConflictError, QueueNotFoundError } from './errors.js';
import { jobFromHash, type Job } from './job.js';
import { newJobId } from './job-id.js';
import { outboxSetAsideKey } from './keys.js';
import { layoutsKey, partitionIndexOfKey, partitionOfId, placesOfJob, queuePartition, QueueLayouts, withPartition, type Partition } from './partitions.js';
import { outboxInsertMany, type OutboxRow } from './outbox/outbox-repository.js';
import type { JobState } from './job-state.js';
import { GROUP_PATTERN, MAX_ATTEMPTS, MAX_BULK_JOBS, MAX_DELAY_MS, MAX_IDEMPOTENCY_KEY_LENGTH, MAX_PRIORITY, MIN_ATTEMPTS, MIN_PRIORITY } from './limits.js';
import { validatePayload, type JobTypeLookup } from './registry.js';
import { toRedisError } from './redis/client.js';
import { runTransition, type ScriptedRedis } from './redis/scripts.js';
import { ReplicatedSubmissions } from './replicated-submissions.js';
import type { ScheduleDefinition } from './schedules/schedule-definition.js';
import { claimLeaseMs } from './schedules/schedule-runs.js';
import { Schedules, type ScheduleView } from './schedules/schedules.js';
import { TurnBatch } from './turn-batch.js';
import { assertStorable } from './validation.js';
import { priorityBand, streamOfBand } from './priority.js';
import { waitingOf, type Waiting } from './waiting.js';
import { limitsAnything, partitionShare, type FlowLimits } from './flow-limits.js';
import { readQueueLimits } from './queue-admin.js';
import { endSendSpan, finishSendSpan, startSendSpan, type SendSpan } from './tracing/spans.js';
import type { StoredTraceContext } from './tracing/trace-context.js';
import type { Context } from '@opentelemetry/api';

/** Options of one submission. */
export interface AddJobOptions {
  /** Queue to add to. Default: the first configured queue. */
  queue?: string;
  /** Milliseconds to wait before the job may run (0 to 1 year). */
  delay?: number;
  /** When the job may run; wins over `delay`. */
  runAt?: Date | string;
  /** −1000 to 1000, default 0: higher starts first, by band (see PRIORITY_BANDS). */
  priority?: number;
  /** Attempts before the job is dead (1 to 100). Default: its type's retry policy. */
  maxAttempts?: number;
  /** A repeat within the idempotency window returns the first job and adds nothing. */
  idempotencyKey?: string;
  /**
   * Jobs with the same partition key go to the same partition of a partitioned queue (QUEUE_PARTITIONS),
   * so they keep their order among themselves; others are spread evenly. Default: the idempotency key.
   * An idempotency key deduplicates within its partition: repeats must carry the same partition key.
   */
  partitionKey?: string;
  /**
   * The job's fair group (a tenant, a customer; see GROUP_PATTERN): the queue takes the jobs of its
   * groups in turn, so one group's flood cannot starve the others, and runs at most the queue's
   * `groupConcurrency` of a group at once. A group's jobs share a partition: its partition key is the
   * group, and a different `partitionKey` is refused.
   */
  group?: string;
  /**
   * The OpenTelemetry context the job's trace continues: its `send` span is a child of this
   * context's span, and its attempts are children of that span (see README, Tracing). Default: the
   * active context.
   */
  traceContext?: Context;
}

/** The schedule tick that made a job: recorded with it, in Redis and in its history. */
export interface JobOrigin {
  /** The schedule's name. */
  schedule: string;
  /** The tick (ms since the epoch); a manual run's is when it was asked for. */
  tick: number;
}

/** One job of a bulk submission. */
export interface BulkJob extends AddJobOptions {
  type: string;
  payload: Record<string, unknown>;
}

/** What a submission produced. */
export interface AddedJob {
  id: string;
  queue: string;
  type: string;
  status: JobState;
  /** True when an earlier job holds the idempotency key; that job is returned and nothing was added. */
  duplicate: boolean;
}

/** A job `enqueueInTransaction` inserted: it exists once the caller's transaction commits. */
export interface OutboxJob {
  id: string;
  queue: string;
  type: string;
}

/**
 * How long the marker of a relayed job lives (see QueueKeys.outboxRelayed). The relay deletes it as
 * soon as the job's outbox row is deleted; it outlives that only when a relay dies in between, and
 * must then outlast the time until another relay runs, which is seconds unless PostgreSQL is down.
 */
export const OUTBOX_RELAYED_MARKER_MS = 7 * 24 * 3_600_000;

/** Most entries kept in the outbox's set-aside stream (see outboxSetAsideKey); the oldest go first. */
export const OUTBOX_SET_ASIDE_MAX_ENTRIES = 10_000;

/** Most characters of a row's submission an entry of the set-aside stream keeps, which bounds the stream in bytes as well. */
export const OUTBOX_SET_ASIDE_MAX_SUBMISSION = 16_384;

/** An outbox row the relay cannot read, and why (see outboxRowProblem). */
export interface UnreadableOutboxRow {
  row: OutboxRow;
  problem: string;
}

/** Dependencies of a `Queue`. */
export interface QueueDeps {
  redis: ScriptedRedis;
  redisConfig: RedisConfig;
  queueConfig: QueueConfig;
  /** Where job types are looked up: a fixed JobTypeRegistry, or a JobTypeCatalog of what live workers publish. */
  registry: JobTypeLookup;
  /** Clock, injectable for tests. Default `Date.now`. */
  now?: () => number;
  /**
   * A connection of its own for submissions that wait for replicas (REDIS_WAIT_REPLICAS), whose WAIT
   * holds the connection it is sent on. Default `redis`, which then waits with them.
   */
  replicatedRedis?: ScriptedRedis;
  /** PostgreSQL schema of the outbox table `enqueueInTransaction` inserts into (DATABASE_SCHEMA). Default `public`. */
  schema?: string;
}

interface PreparedJob {
  id: string;
  queue: string;
  partition: Partition;
  type: string;
  payloadJson: string;
  maxAttempts: number;
  priority: number;
  /** When the job may run: a time, or a delay counted from when it reaches Redis. */
  due: { atMs: number } | { delayMs: number };
  idempotencyKey: string;
  /** Its fair group; '' for none. */
  group: string;
  /** Set on a job a schedule made, which is sent in a call of its own. */
  origin?: JobOrigin;
  /** Set on a job the outbox relay adds, which is sent with the other jobs of its relay only. */
  relayed?: true;
  /** The trace its attempts continue (its `send` span's), if any. */
  trace?: StoredTraceContext;
}

/** The producer side: validates and adds jobs to the configured queues, and reads a job's live state. */
export class Queue {
  private readonly now: () => number;
  /** Per queue, the partition the next job without a partition key goes to. */
  private readonly nextPartition = new Map<string, number>();
  /** Single submissions of this turn of the event loop, sent together. */
  private readonly submissions = new TurnBatch<PreparedJob, AddedJob>(MAX_BULK_JOBS, (jobs) => this.enqueueAll(jobs, this.now()));

  /** Present when submissions wait for replicas (REDIS_WAIT_REPLICAS). */
  private readonly replicated: ReplicatedSubmissions | undefined;
  /** This producer's partitions of each queue. */
  private readonly layouts: QueueLayouts;
  /** Set once this producer's partition counts are recorded, before its first submission. */
  private recorded: Promise<void> | undefined;
  private scheduleAdmin: Schedules | undefined;

  constructor(private readonly deps: QueueDeps) {
    this.now = deps.now ?? Date.now;
    this.layouts = new QueueLayouts(deps.redis, deps.redisConfig.prefix, deps.queueConfig.partitions);
    const { waitReplicas, waitTimeoutMs } = deps.redisConfig;
    if (waitReplicas > 0) this.replicated = new ReplicatedSubmissions(deps.replicatedRedis ?? deps.redis, waitReplicas, waitTimeoutMs);
  }

  /** Names of the queues this producer may add to. */
  get queues(): readonly string[] {
    return this.deps.queueConfig.queues;
  }

  /** The schedules, whose ticks add jobs to these queues: list, get, update, pause, resume, remove, trigger. */
  get schedules(): Schedules {
    const { redis, redisConfig, queueConfig } = this.deps;
    this.scheduleAdmin ??= new Schedules({ redis, prefix: redisConfig.prefix, queue: this, claimLeaseMs: claimLeaseMs(queueConfig.idempotencyTtlMs) });
    return this.scheduleAdmin;
  }

  /**
   * Adds a schedule: a job from `definition.job` at each tick of its cron or `everyMs`, exactly once
   * per tick however many workers run (see Scheduler). Shorthand for `schedules.create`.
   */
  schedule(definition: ScheduleDefinition): Promise<ScheduleView> {
    return this.schedules.create(definition);
  }

  /** Throws `QueueNotFoundError` (UNKNOWN_QUEUE) unless `queue` is one of this producer's queues; `field`, if given, names it in the message. */
  assertServed(queue: string, field?: string): void {
    if (!this.queues.includes(queue)) throw new QueueNotFoundError(queue, this.queues, field);
  }

  /**
   * Validates and adds one job. Throws `InvalidJobError` for bad input, `RedisUnavailableError` when
   * Redis is down. Jobs added in the same turn of the event loop (concurrent HTTP submissions, say)
   * go to Redis together, in one script call per queue; each is still added atomically on its own.
   */
  async add(type: string, payload: Record<string, unknown>, options: AddJobOptions = {}): Promise<AddedJob> {
    await this.deps.registry.learn?.([type]);
    const job = this.prepare({ ...options, type, payload }, 'payload', this.now());
    const { span, trace } = startSendSpan(job, options.traceContext);
    return endSendSpan(span, this.submissions.add(withTrace(job, trace)));
  }

  /**
   * Validates a job as `add` would and adds nothing: a schedule's job is checked so before the
   * schedule is saved. `path` names the job in messages (`job.payload.to …`). Throws `InvalidJobError`
   * or `QueueNotFoundError`.
   */
  async validate(job: BulkJob, path: string): Promise<void> {
    await this.deps.registry.learn?.([job.type]);
    this.prepare(job, `${path}.payload`, this.now());
  }

  /**
   * Adds the job of a schedule's tick, recording the tick with it (see Scheduler): validated like
   * `add`, and sent alone, so that jobs of no schedule carry nothing more.
   */
  async addScheduled(type: string, payload: Record<string, unknown>, options: AddJobOptions, origin: JobOrigin): Promise<AddedJob> {
    await this.deps.registry.learn?.([type]);
    const now = this.now();
    const job = this.prepare({ ...options, type, payload }, 'payload', now);
    const { span, trace } = startSendSpan(job, options.traceContext);
    const [outcome] = await this.enqueueAll([{ ...withTrace(job, trace), origin }], now) as [PromiseSettledResult<AddedJob>];
    finishSendSpan(span, outcome);
    if (outcome.status !== 'fulfilled') throw outcome.reason;
    return outcome.value;
  }

  /** Validates every job first, then adds them all in one round trip; each job is added atomically. */
  async addBulk(jobs: readonly BulkJob[]): Promise<AddedJob[]> {
    const now = this.now();
    const prepared = await this.prepareAll(jobs, now);
    // One span per job, as each job carries the context its own attempts continue.
    const sends = prepared.map((job, index) => startSendSpan(job, jobs[index]?.traceContext));
    const outcomes = await this.enqueueAll(prepared.map((job, index) => withTrace(job, sends[index]?.trace)), now);
    outcomes.forEach((outcome, index) => finishSendSpan((sends[index] as SendSpan).span, outcome));
    return settled(outcomes);
  }

  /**
   * Validates `jobs` exactly as `addBulk` does (same errors, same limits), then inserts them into the
   * outbox table (in `schema`) through `client`, in one statement, inside whatever transaction the
   * caller holds open on it: this sends no BEGIN, COMMIT or ROLLBACK and does not release the client.
   * Their ids are returned at once. Committed, the jobs are added to Redis by the outbox relay every
   * worker runs (see OutboxRelay) and run like any other; rolled back, they never exist.
   */
  async enqueueInTransaction(client: pg.ClientBase, jobs: readonly BulkJob[]): Promise<OutboxJob[]> {
    const prepared = await this.prepareAll(jobs, this.now());
    // A job's send span is its insert: its attempts continue the trace the caller's transaction runs in.
    const sends = prepared.map((job, index) => startSendSpan(job, jobs[index]?.traceContext));
    try {
      await outboxInsertMany(client, this.deps.schema ?? 'public', prepared.map((job, index) => {
        const { id, queue, partition: _partition, payloadJson, origin: _origin, relayed: _relayed, ...options } = withTrace(job, sends[index]?.trace);
        return { id, queue, optionsJson: JSON.stringify(options), payloadJson };
      }));
    } catch (error) {
      for (const { span } of sends) finishSendSpan(span, { status: 'rejected', reason: error });
      throw error;
    }
    sends.forEach(({ span }, index) => finishSendSpan(span, { status: 'fulfilled', value: { id: (prepared[index] as PreparedJob).id, duplicate: false } }));
    return prepared.map(({ id, queue, type }) => ({ id, queue, type }));
  }

  /**
   * Adds the jobs of outbox rows to Redis under their own ids, whatever queues they are for: each
   * job's id names its partition. Each job is added once however often its row is relayed: with it
   * goes its relayed marker, which the relay removes (`forgetRelayed`) once the row is deleted.
   */
  async relayOutbox(rows: readonly OutboxRow[]): Promise<void> {
    if (rows.length === 0) return;
    const { redis } = this.deps;
    const partitions = new Map<string, Partition>();
    const jobs = rows.map((row): PreparedJob => {
      const options = row.submission as Omit<PreparedJob, 'id' | 'queue' | 'partition' | 'payloadJson'> & { payload: unknown };
      const { payload, ...prepared } = options;
      return { ...prepared, id: row.id, queue: row.queue, partition: this.partitionOfJob(row, partitions), payloadJson: JSON.stringify(payload), relayed: true };
    });
    // Workers read the partitions of every count recorded: those the rows' ids name among them.
    try {
      await redis.sadd(layoutsKey(this.deps.redisConfig.prefix), ...new Set(jobs.map(({ queue, partition }) => `${queue}:${partition.count}`)));
    } catch (error) {
      throw toRedisError(error);
    }
    settled(await this.enqueueAll(jobs, this.now()));
  }

  /** Deletes the relayed markers of jobs whose outbox rows are gone: one call per partition, all at once. */
  async forgetRelayed(rows: readonly Pick<OutboxRow, 'id' | 'queue'>[]): Promise<void> {
    const partitions = new Map<string, Partition>();
    const byPartition = new Map<string, string[]>();
    for (const row of rows) {
      const { keys } = this.partitionOfJob(row, partitions);
      byPartition.set(keys.stream, [...(byPartition.get(keys.stream) ?? []), keys.outboxRelayed(row.id)]);
    }
    try {
      await Promise.all([...byPartition.values()].map((markers) => this.deps.redis.del(...markers)));
    } catch (error) {
      throw toRedisError(error);
    }
  }

  /**
   * Keeps outbox rows the relay cannot read in the set-aside stream, with why, so that deleting them
   * from the outbox loses nothing an operator may want back. A relay that dies before its commit
   * leaves the rows to the next, which sets them aside again: an entry may repeat, a row is never lost.
   * Returns the stream's key.
   */
  async setAsideOutbox(unreadable: readonly UnreadableOutboxRow[]): Promise<string> {
    const key = outboxSetAsideKey(this.deps.redisConfig.prefix);
    try {
      // One connection and one key: the entries keep the rows' order.
      await Promise.all(unreadable.map(({ row, problem }) => {
        const submission = JSON.stringify(row.submission);
        const truncated = submission.length > OUTBOX_SET_ASIDE_MAX_SUBMISSION ? ['truncatedFrom', String(submission.length)] : [];
        return this.deps.redis.xadd(key, 'MAXLEN', '~', OUTBOX_SET_ASIDE_MAX_ENTRIES, '*', 'id', row.id, 'queue', row.queue, 'problem', problem,
          'submission', submission.slice(0, OUTBOX_SET_ASIDE_MAX_SUBMISSION), ...truncated, 'createdAt', row.createdAt.toISOString());
      }));
    } catch (error) {
      throw toRedisError(error);
    }
    return key;
  }

  /** The job as Redis holds it now, or null once it has left Redis (PostgreSQL still has it). */
  async getJob(id: string): Promise<Job | null> {
    // One read per place the job can be, all at once: each is a cluster slot of its own.
    let hashes: Record<string, string>[];
    try {
      hashes = await Promise.all(placesOfJob(this.deps.redisConfig.prefix, this.queues, id).map(({ keys }) => this.deps.redis.hgetall(keys.job(id))));
    } catch (error) {
      throw toRedisError(error);
    }
    const fields = hashes.find((hash) => hash.id);
    return fields ? jobFromHash(fields) : null;
  }

  /**
   * Cancels a job that has not started (pending, scheduled or retrying); a worker never runs it
   * afterwards. Throws `JobNotFoundError`, or `JobStateConflictError` once it is processing or finished.
   */
  async cancel(id: string): Promise<void> {
    const { redis, queueConfig } = this.deps;
    let reply: unknown = 0;
    try {
      // The job's queue, type and band name the keys cancelJob touches (the set it may wait in, its stream).
      const places = placesOfJob(this.deps.redisConfig.prefix, this.queues, id);
      const found = await Promise.all(places.map(({ keys }) => redis.hmget(keys.job(id), 'type', 'band')));
      const index = found.findIndex(([type]) => type !== null);
      if (index >= 0) {
        const { keys } = places[index] as Partition;
        const [type, band] = found[index] as [string, string | null];
        const now = this.now();
        reply = await runTransition(redis, 'cancelJob', keys, now,
          [streamOfBand(keys, band), keys.delayed, keys.job(id), keys.unserved, keys.unservedOf(type), keys.limited, keys.limitedOf(type), keys.fair, keys.fairTags],
          [id, now, queueConfig.retentionMs, type]);
      }
    } catch (error) {
      throw toRedisError(error);
    }
    if (reply === 0) throw new JobNotFoundError(id);
    if (reply !== 1) {
      throw new JobStateConflictError(id, String(reply), `Job ${id} is ${String(reply)}; only pending, scheduled or retrying jobs can be cancelled.`);
    }
  }

  /**
   * Runs a scheduled job or a retry now rather than at its due time: it goes to its partition's stream
   * as pending, with an event saying an operator ran it now. Throws `JobNotFoundError`, or
   * `JobStateConflictError` unless it is scheduled or retrying.
   */
  async runNow(id: string): Promise<void> {
    const { redis } = this.deps;
    let reply: unknown = 0;
    try {
      const places = placesOfJob(this.deps.redisConfig.prefix, this.queues, id);
      const found = await Promise.all(places.map(({ keys }) => redis.exists(keys.job(id))));
      const place = places[found.indexOf(1)];
      if (place !== undefined) {
        const { keys } = place;
        const now = this.now();
        reply = await runTransition(redis, 'runJobNow', keys, now, [...keys.lanes, keys.delayed, keys.job(id)], [id, now]);
      }
    } catch (error) {
      throw toRedisError(error);
    }
    if (reply === 0) throw new JobNotFoundError(id);
    if (reply !== 1) {
      throw new JobStateConflictError(id, String(reply), `Job ${id} is ${String(reply)}; only scheduled or retrying jobs can be run now.`);
    }
  }

  /**
   * Why job `id` is not running yet (see `WaitingReason`), or null when it is not waiting: processing,
   * finished, or no longer in Redis. One round trip per place the job can be, each one cluster slot;
   * a second only for a ready job that is not in the stream, to see whether it waits for a worker of its type.
   */
  async waiting(id: string): Promise<Waiting | null> {
    const { redis } = this.deps;
    try {
      const places = placesOfJob(this.deps.redisConfig.prefix, this.queues, id);
      const readings = await Promise.all(places.map(async (partition) => {
        const { keys } = partition;
        const [job, paused, dueAt, pending] = await Promise.all([
          redis.hmget(keys.job(id), 'status', 'type', 'sid', 'held', 'heldSince', 'group'),
          redis.exists(keys.paused),
          redis.zscore(keys.delayed, id),
          redis.hget(keys.counts, 'pending'),
        ]);
        return { partition, job, paused: paused === 1, dueAt: dueAt === null ? null : Number(dueAt), pending: Math.max(0, Number(pending ?? 0)) };
      }));
      const found = readings.find(({ job }) => job[0] !== null);
      if (!found) return null;
      const [status, type, sid, heldBy, heldSince, group] = found.job as [JobState, string, string | null, string | null, string | null, string | null];
      const unservedSince = status === 'pending' && !sid ? await redis.zscore(found.partition.keys.unservedOf(type), id) : null;
      const inTurn = status === 'pending' && !sid && group !== null;
      const queueLimits = status === 'pending' && (sid || inTurn) ? (await readQueueLimits(redis, this.deps.redisConfig.prefix))[found.partition.queue] ?? {} : {};
      return waitingOf({
        ...found, status, type, unservedSince: unservedSince === null ? null : Number(unservedSince),
        held: status === 'pending' && !sid && (heldBy === 'rate' || heldBy === 'concurrency') ? { by: heldBy, since: Number(heldSince) } : null,
        typeLimits: this.typeLimitsOf(type),
        queueLimits,
        queueLimitReached: await this.queueLimitReached(found.partition, queueLimits),
        group: inTurn ? { name: group, running: Number((await redis.hget(found.partition.keys.counts, `group:${group}`)) ?? 0), cap: queueLimits.groupConcurrency ?? null } : null,
      });
    } catch (error) {
      throw toRedisError(error);
    }
  }

  /** The flow limits of `type`, as this producer's registry knows them ({} for none or an unknown type). */
  private typeLimitsOf(type: string): FlowLimits {
    try {
      return this.deps.registry.get(type).limits;
    } catch {
      return {};
    }
  }

  /** Whether `limits`' share in `partition` lets nothing more start there now: its cap is reached, or its rate window full. */
  private async queueLimitReached(partition: Partition, limits: FlowLimits): Promise<boolean> {
    if (!limitsAnything(limits)) return false;
    const { redis } = this.deps;
    const share = partitionShare(limits, partition.count);
    const [processing, [seconds, micros]] = await Promise.all([redis.hget(partition.keys.counts, 'processing'), redis.time()]);
    if (share.concurrency !== undefined && Number(processing ?? 0) >= share.concurrency) return true;
    if (!share.rate) return false;
    const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    return (await redis.zcount(partition.keys.rateWindow(null), `(${now - share.rate.perMs}`, '+inf')) >= share.rate.max;
  }

  /** The partition job `id` of `queue` is in, by its id; `known` keeps those already built, as a batch's jobs share a few. */
  private partitionOfJob({ id, queue }: Pick<OutboxRow, 'id' | 'queue'>, known: Map<string, Partition>): Partition {
    const { count, index } = partitionOfId(id) ?? { count: 1, index: 0 };
    const name = `${queue}:${count}:${index}`;
    let partition = known.get(name);
    if (!partition) {
      partition = queuePartition(this.deps.redisConfig.prefix, queue, count, index);
      known.set(name, partition);
    }
    return partition;
  }

  /** Every job of a bulk submission validated and prepared, or the first problem thrown. */
  private async prepareAll(jobs: readonly BulkJob[], now: number): Promise<PreparedJob[]> {
    if (jobs.length > MAX_BULK_JOBS) throw new InvalidJobError(`jobs may hold at most ${MAX_BULK_JOBS} jobs (got ${jobs.length})`);
    await this.deps.registry.learn?.(jobs.map((job) => job.type));
    return jobs.map((job, index) => this.prepare(job, `jobs[${index}].payload`, now));
  }

  private prepare(job: BulkJob, payloadPath: string, now: number): PreparedJob {
    const where = payloadPath.replace(/\.?payload$/, '');
    const field = (name: string): string => (where ? `${where}.${name}` : name);
    const queue = job.queue ?? this.queues[0] ?? 'default';
    this.assertServed(queue, where ? field('queue') : undefined);
    const type = this.deps.registry.get(job.type);
    this.deps.registry.assertOnQueue?.(job.type, queue, field('queue'));
    if (job.payload === null || typeof job.payload !== 'object' || Array.isArray(job.payload)) {
      throw new InvalidJobError(`${payloadPath} must be a JSON object`);
    }
    assertStorable(job.payload, payloadPath, this.deps.queueConfig.payloadMaxDepth);
    validatePayload(type, job.payload, payloadPath);
    const maxAttempts = job.maxAttempts ?? type.retry.maxAttempts;
    checkInteger(field('maxAttempts'), maxAttempts, MIN_ATTEMPTS, MAX_ATTEMPTS);
    const priority = job.priority ?? 0;
    checkInteger(field('priority'), priority, MIN_PRIORITY, MAX_PRIORITY);
    const idempotencyKey = job.idempotencyKey ?? '';
    if (idempotencyKey.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
      throw new InvalidJobError(`${field('idempotencyKey')} must be at most ${MAX_IDEMPOTENCY_KEY_LENGTH} characters (got ${idempotencyKey.length})`);
    }
    assertStorable(idempotencyKey, field('idempotencyKey'));
    const group = job.group ?? '';
    if (job.group !== undefined && (typeof group !== 'string' || !GROUP_PATTERN.test(group))) {
      throw new InvalidJobError(`${field('group')} must be 1 to 128 letters, digits or _ . : @ / + = -`);
    }
    if (group !== '' && job.partitionKey !== undefined && job.partitionKey !== group) {
      throw new InvalidJobError(`${field('partitionKey')} must be left out, or equal ${field('group')}: a group's jobs share the partition of its name`);
    }
    // A group lives in one partition, so its turn and its cap are kept in one place.
    const partitionKey = group || (job.partitionKey ?? idempotencyKey);
    if (typeof partitionKey !== 'string') throw new InvalidJobError(`${field('partitionKey')} must be a string`);
    if (partitionKey.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
      throw new InvalidJobError(`${field('partitionKey')} must be at most ${MAX_IDEMPOTENCY_KEY_LENGTH} characters (got ${partitionKey.length})`);
    }
    const partition = this.partitionFor(queue, partitionKey);
    return {
      id: withPartition(newJobId(), partition.count, partition.index),
      queue,
      partition,
      type: job.type,
      payloadJson: JSON.stringify(job.payload),
      maxAttempts,
      priority,
      due: this.due(job, field, now),
      idempotencyKey,
      group,
    };
  }

  /**
   * The partition a job goes to: its key's, so that one key's jobs (and one idempotency key's
   * repeats) meet in one partition; without a key, each partition in turn.
   */
  private partitionFor(queue: string, partitionKey: string): Partition {
    const partitions = this.layouts.current(queue);
    const count = partitions.length;
    let index = 0;
    if (count > 1 && partitionKey !== '') index = partitionIndexOfKey(partitionKey, count);
    else if (count > 1) {
      index = this.nextPartition.get(queue) ?? 0;
      this.nextPartition.set(queue, (index + 1) % count);
    }
    return partitions[index] as Partition;
  }

  private due(job: AddJobOptions, field: (name: string) => string, now: number): PreparedJob['due'] {
    if (job.runAt !== undefined) {
      const ms = job.runAt instanceof Date ? job.runAt.getTime() : parseIsoDate(job.runAt);
      if (Number.isNaN(ms)) throw new InvalidJobError(`${field('runAt')} must be an ISO-8601 date-time such as 2030-01-01T12:00:00Z`);
      if (ms > now + MAX_DELAY_MS) throw new InvalidJobError(`${field('runAt')} must be at most one year from now`);
      return { atMs: ms };
    }
    const delay = job.delay ?? 0;
    checkInteger(field('delay'), delay, 0, MAX_DELAY_MS);
    return { delayMs: delay };
  }

  /**
   * One enqueueJobs call per partition, sent at once as plain commands: a connection with
   * auto-pipelining batches them (and concurrent submissions) into one write per node. Each job's
   * outcome is its partition's: a call that fails for one fails only its jobs, the others having
   * been added.
   */
  private async enqueueAll(jobs: readonly PreparedJob[], now: number): Promise<PromiseSettledResult<AddedJob>[]> {
    // Workers read the partitions of every count a producer recorded: a producer whose count differs
    // from theirs must say so before it adds a job they would not otherwise read.
    try {
      await (this.recorded ??= this.layouts.record());
    } catch (error) {
      this.recorded = undefined;
      return jobs.map(() => ({ status: 'rejected', reason: toRedisError(error) }));
    }
    const byPartition = new Map<string, PreparedJob[]>();
    for (const job of jobs) {
      const batch = byPartition.get(job.partition.keys.stream);
      if (batch) batch.push(job);
      else byPartition.set(job.partition.keys.stream, [job]);
    }
    const batches = [...byPartition.values()];
    // One call per partition, all at once: each is a cluster slot of its own, and one partition's
    // failed call fails only that partition's jobs.
    const replies = await Promise.allSettled(batches.map((batch) => this.enqueueScript(batch, now)));
    const added = new Map<PreparedJob, Promise<AddedJob>>();
    batches.forEach((batch, index) => {
      const reply = replies[index] as PromiseSettledResult<unknown>;
      batch.forEach((job, position) => added.set(job, reply.status === 'rejected'
        ? Promise.reject(toRedisError(reply.reason))
        : this.added(job, (reply.value as unknown[])[position])));
    });
    return Promise.allSettled(jobs.map((job) => added.get(job) as Promise<AddedJob>));
  }

  private async enqueueScript(jobs: readonly PreparedJob[], now: number): Promise<unknown> {
    const { keys } = (jobs[0] as PreparedJob).partition;
    const scriptKeys = [...keys.lanes, keys.delayed];
    const { queue, origin, relayed } = jobs[0] as PreparedJob;
    const args: (string | number)[] = [now, queue, this.deps.queueConfig.idempotencyTtlMs, origin?.schedule ?? '', origin?.tick ?? '', relayed ? OUTBOX_RELAYED_MARKER_MS : ''];
    for (const job of jobs) {
      // Without a key of its own, the job hash stands in: the script never reads it as one.
      scriptKeys.push(keys.job(job.id), job.idempotencyKey ? keys.idempotency(job.idempotencyKey) : keys.job(job.id));
      if (relayed) scriptKeys.push(keys.outboxRelayed(job.id));
      const runAt = 'atMs' in job.due ? Math.max(job.due.atMs, now) : now + job.due.delayMs;
      args.push(job.id, job.type, job.payloadJson, job.maxAttempts, job.priority, priorityBand(job.priority), runAt, job.idempotencyKey, job.group,
        job.trace?.traceparent ?? '', job.trace?.tracestate ?? '');
    }
    if (!this.replicated) return runTransition(this.deps.redis, 'enqueueJobs', keys, now, scriptKeys, args);
    return this.replicated.submit(keys, (redis) => runTransition(redis, 'enqueueJobs', keys, now, scriptKeys, args));
  }

  private async added(job: PreparedJob, reply: unknown): Promise<AddedJob> {
    const [created, id, status] = reply as [number, string, JobState | undefined];
    if (created === 1) return { id, queue: job.queue, type: job.type, status: status as JobState, duplicate: false };
    // A first job no longer in Redis has finished and been retained past JOB_RETENTION_MS.
    const first = await this.getJob(id);
    return { id, queue: job.queue, type: first?.type ?? job.type, status: first?.status ?? 'completed', duplicate: true };
  }
}

/** The values of settled submissions, or the first failure thrown. */
function settled<T>(outcomes: readonly PromiseSettledResult<T>[]): T[] {
  return outcomes.map((outcome) => {
    if (outcome.status === 'rejected') throw outcome.reason;
    return outcome.value;
  });
}

/** The job with the trace context its attempts continue, if there is one. */
function withTrace(job: PreparedJob, trace: StoredTraceContext | undefined): PreparedJob {
  return trace ? { ...job, trace } : job;
}

function checkInteger(field: string, value: unknown, min: number, max: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidJobError(`${field} must be an integer from ${min} to ${max} (got ${JSON.stringify(value)})`);
  }
}

/** ISO-8601 date-time with a time zone, or a plain date; anything else is NaN. */
function parseIsoDate(text: string): number {
  const iso = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2}))?$/;
  return iso.test(text) ? Date.parse(text) : Number.NaN;
}
