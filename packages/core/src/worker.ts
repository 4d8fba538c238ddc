import { Attempt } from './attempt';
import type { QueueConfig, RedisConfig, WorkerConfig } from './config';
import { messageOf } from './errors';
import type { JobHandler } from './handler';
import { JobTransitions, runHandler, serializeResult, type StartedJob } from './job-runner';
import { queueKeys, WORKER_GROUP, type QueueKeys } from './keys';
import { silentLogger, type Logger } from './logger';
import { DelayedPromoter } from './maintenance/delayed-promoter';
import { StalledReclaimer, type ClaimedEntry } from './maintenance/stalled-reclaimer';
import { closeRedis, createRedis } from './redis/client';
import type { ScriptedRedis } from './redis/scripts';
import { DEFAULT_JOB_TIMEOUT_MS, type JobTypeRegistry, type RegisteredJobType } from './registry';
import { Slots } from './slots';
import { jitter, sleep } from './sleep';
import { WorkerEventEmitter } from './worker-events';

export { MAX_RESULT_BYTES } from './job-runner';

/** How often a worker looks whether its queues are paused or resumed. */
const PAUSE_POLL_MS = 250;
/** How often a worker holding back for a suspect looks again. */
const HOLD_POLL_MS = 50;
/** How often running attempts are held to their deadlines: one sweep for all, so a timeout fires up to this late. */
const DEADLINE_SWEEP_MS = 50;

/** Dependencies and settings of a `Worker`. */
export interface WorkerOptions {
  redis: RedisConfig;
  queue: QueueConfig;
  worker: WorkerConfig;
  registry: JobTypeRegistry;
  /** A handler per job type the worker runs. */
  handlers: Readonly<Record<string, JobHandler<never>>>;
  logger?: Logger;
  now?: () => number;
  random?: () => number;
}

/** What the worker runs for one queue. */
interface QueueRuntime {
  queue: string;
  keys: QueueKeys;
  reader: ScriptedRedis;
  transitions: JobTransitions;
  promoter: DelayedPromoter;
  reclaimer: StalledReclaimer;
  /** The queue's pause flag as last looked up, and when. */
  paused: boolean;
  pauseCheckedAt: number;
}

/** A running attempt, with what stopping or heartbeating it needs. */
interface RunningJob {
  job: StartedJob;
  runtime: QueueRuntime;
  attempt: Attempt;
}

/**
 * The consumer side: reads each configured queue's stream in the workers' consumer group, runs
 * handlers with a concurrency limit, and moves each job on with one atomic script per transition.
 * Alongside, per queue: a promoter for due delayed jobs and a reclaimer for crashed workers' jobs;
 * and a heartbeat that keeps this worker's running jobs from being reclaimed by others.
 */
export class Worker extends WorkerEventEmitter {
  private readonly commands: ScriptedRedis;
  /** Hears the enqueue script announce a job due sooner than the promoters planned for. */
  private readonly announcements: ScriptedRedis;
  private readonly runtimes: QueueRuntime[] = [];
  private readonly slots: Slots;
  private readonly stopping = new AbortController();
  /** Heartbeats go on while in-flight jobs drain at shutdown, so stops separately. */
  private readonly heartbeatStopping = new AbortController();
  private heartbeatLoop: Promise<void> | undefined;
  private deadlineSweep: NodeJS.Timeout | undefined;
  private readonly running = new Map<string, RunningJob>();
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly random: () => number;
  private loops: Promise<void>[] = [];
  /** Every attempt under way, until its outcome is recorded in Redis. */
  private readonly runs = new Set<Promise<void>>();
  /** The entry of a suspect running alone here, if any. */
  private isolatedEntry: string | undefined;
  /** Suspects the last reclaim pass left for a worker that runs nothing. */
  private suspectsWaiting = 0;

  constructor(private readonly options: WorkerOptions) {
    super();
    this.logger = options.logger ?? silentLogger;
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.slots = new Slots(options.worker.concurrency);
    // Transitions queue up while Redis reconnects rather than fail: an ack must not be lost to a blip.
    this.commands = createRedis(options.redis, { failFast: false, commandTimeoutMs: 0, connectionName: `${this.name}:commands` });
    this.commands.on('error', () => undefined);
    this.announcements = createRedis(options.redis, { failFast: false, commandTimeoutMs: 0, connectionName: `${this.name}:announcements` });
    this.announcements.on('error', () => undefined);
    for (const type of Object.keys(options.handlers)) options.registry.get(type);
  }

  /** This worker's consumer name. */
  get name(): string {
    return this.options.worker.consumerName;
  }

  /** Jobs running now. */
  get runningCount(): number {
    return this.running.size;
  }

  /** Joins every queue's consumer group and starts reading, promoting, reclaiming and heartbeating. */
  async start(): Promise<void> {
    const { redis, worker, queue: queueConfig } = this.options;
    for (const queue of queueConfig.queues) {
      const keys = queueKeys(redis.prefix, queue);
      await this.ensureGroup(keys);
      const reader = createRedis(redis, { failFast: false, commandTimeoutMs: 0, connectionName: `${this.name}:${queue}` });
      reader.on('error', () => undefined);
      const runtime: QueueRuntime = {
        queue,
        keys,
        reader,
        transitions: new JobTransitions(this.commands, keys, this.name, queueConfig.retentionMs),
        promoter: new DelayedPromoter({ redis: this.commands, prefix: redis.prefix, queue, logger: this.logger, now: this.now }),
        reclaimer: new StalledReclaimer({
          redis: this.commands, keys, queue, consumer: this.name, visibilityTimeoutMs: worker.visibilityTimeoutMs,
          maxDeliveries: worker.maxDeliveries, logger: this.logger, now: this.now,
        }),
        paused: false,
        pauseCheckedAt: Number.NEGATIVE_INFINITY,
      };
      this.runtimes.push(runtime);
      runtime.promoter.start();
      this.loops.push(this.consume(runtime));
    }
    const promoters = new Map(this.runtimes.map((runtime) => [runtime.keys.delayed, runtime.promoter]));
    this.announcements.on('message', (channel: string) => promoters.get(channel)?.wake());
    await this.announcements.subscribe(...promoters.keys());
    this.heartbeatLoop = this.heartbeat();
    this.deadlineSweep = setInterval(() => this.abortOverdue(), DEADLINE_SWEEP_MS);
    this.logger.info({ worker: this.name, queues: queueConfig.queues, concurrency: this.slots.capacity }, 'worker started');
  }

  /**
   * Stops taking jobs at once and gives in-flight jobs up to `timeoutMs` to finish and be
   * acknowledged. Jobs still running then are aborted and handed back to the stream for another
   * worker (or, should that fail, left pending for the reclaimer).
   */
  async close(timeoutMs = this.options.worker.shutdownTimeoutMs): Promise<void> {
    if (this.stopping.signal.aborted) return;
    this.stopping.abort();
    for (const runtime of this.runtimes) runtime.reader.disconnect();
    await Promise.all(this.runtimes.map((runtime) => runtime.promoter.stop()));
    const finished = await Promise.race([this.settled().then(() => true), sleep(timeoutMs).then(() => false)]);
    if (!finished) await this.releaseUnfinished();
    this.heartbeatStopping.abort();
    await Promise.all([...this.loops, this.heartbeatLoop]);
    clearInterval(this.deadlineSweep);
    await closeRedis(this.commands);
    this.announcements.disconnect();
    this.logger.info({ worker: this.name }, 'worker stopped');
  }

  /** Resolves once every attempt has ended and its outcome is recorded. */
  private async settled(): Promise<void> {
    while (this.runs.size > 0) await Promise.all([...this.runs]);
  }

  private async releaseUnfinished(): Promise<void> {
    const unfinished = [...this.running.values()];
    this.logger.warn({ worker: this.name, unfinished: unfinished.length }, 'shutdown deadline passed; handing unfinished jobs to other workers');
    for (const { job, runtime, attempt } of unfinished) {
      this.running.delete(job.entryId);
      attempt.abort(new Error('worker shutting down'));
      await runtime.transitions.release(job, this.now()).catch((error: unknown) => this.reportError(error, `releasing job ${job.id}`));
    }
  }

  private async ensureGroup(keys: QueueKeys): Promise<void> {
    try {
      // From id 0, not $: jobs added before the first worker ever started must not be skipped.
      await this.commands.xgroup('CREATE', keys.stream, WORKER_GROUP, '0', 'MKSTREAM');
    } catch (error) {
      if (!messageOf(error).includes('BUSYGROUP')) throw error;
    }
  }

  /**
   * The read loop of one queue. Each round reserves slots first, so the worker never takes more jobs
   * than it can run; with several queues each reserves at most its even share of the concurrency,
   * so a quiet queue's blocking read never starves a busy one. A due reclaim pass goes first.
   */
  private async consume(runtime: QueueRuntime): Promise<void> {
    const signal = this.stopping.signal;
    const share = Math.ceil(this.slots.capacity / this.options.queue.queues.length);
    while (!signal.aborted) {
      if (await this.isPaused(runtime)) {
        await sleep(jitter(PAUSE_POLL_MS), signal);
        continue;
      }
      const wanted = await this.slots.take(share, signal);
      if (wanted === 0) break;
      let entries: ClaimedEntry[] = [];
      try {
        if (runtime.reclaimer.due && this.isolatedEntry === undefined) entries = await this.reclaim(runtime, wanted);
        if (entries.length === 0 && this.holdingForSuspect) {
          // Running down to idle so a suspect can run alone; keep reclaiming, take nothing new.
          this.slots.release(wanted);
          await sleep(HOLD_POLL_MS, signal);
          continue;
        }
        if (entries.length === 0) {
          // While the stream has entries, reading and starting them is one script call; only an
          // empty stream costs the blocking read and a separate start.
          const batch = await runtime.transitions.readAndStart(runtime.queue, wanted, this.now());
          if (batch.read > 0) {
            this.slots.release(wanted - batch.started.length);
            this.launch(runtime, batch.started);
            continue;
          }
          entries = await this.read(runtime, wanted);
        }
      } catch (error) {
        this.slots.release(wanted);
        if (signal.aborted) break;
        this.reportError(error, `reading ${runtime.queue}`);
        if (messageOf(error).includes('NOGROUP')) await this.ensureGroup(runtime.keys).catch(() => undefined);
        await sleep(jitter(500), signal);
        continue;
      }
      this.slots.release(wanted - entries.length);
      // Entries read but not started stay in the pending list: a reclaim pass starts them later.
      await this.startEntries(runtime, entries).catch((error: unknown) => this.reportError(error, `starting jobs of ${runtime.queue}`));
    }
  }

  /** Whether new jobs must wait: a suspect runs alone here, or waits for a worker that runs nothing. */
  private get holdingForSuspect(): boolean {
    return this.isolatedEntry !== undefined || this.suspectsWaiting > 0;
  }

  /** A reclaim pass; a suspect it hands over runs alone, so nothing new is taken until it ends. */
  private async reclaim(runtime: QueueRuntime, wanted: number): Promise<ClaimedEntry[]> {
    const pass = await runtime.reclaimer.claim(wanted, this.running.size === 0 && this.isolatedEntry === undefined);
    this.suspectsWaiting = pass.suspectsWaiting;
    if (pass.isolated) this.isolatedEntry = pass.claimed[0]?.entryId;
    return pass.claimed;
  }

  /**
   * Whether the queue is paused, looked up at most every PAUSE_POLL_MS rather than before every read,
   * which would add a round trip per batch. A Redis error counts as not paused; the read reports it.
   */
  private async isPaused(runtime: QueueRuntime): Promise<boolean> {
    if (this.now() - runtime.pauseCheckedAt >= PAUSE_POLL_MS) {
      runtime.paused = (await this.commands.exists(runtime.keys.paused).catch(() => 0)) === 1;
      runtime.pauseCheckedAt = this.now();
    }
    return runtime.paused;
  }

  private async read(runtime: QueueRuntime, count: number): Promise<ClaimedEntry[]> {
    const reply = (await runtime.reader.xreadgroup(
      'GROUP', WORKER_GROUP, this.name, 'COUNT', count, 'BLOCK', this.options.worker.blockMs, 'STREAMS', runtime.keys.stream, '>',
    )) as [string, [string, string[]][]][] | null;
    return (reply?.[0]?.[1] ?? []).map(([entryId, fields]) => ({ entryId, jobId: fields[1] ?? '' }));
  }

  /** Starts entries for which a slot each is already taken; frees the slots of those that are stale. */
  private async startEntries(runtime: QueueRuntime, entries: ClaimedEntry[]): Promise<void> {
    let started: StartedJob[] = [];
    try {
      started = await runtime.transitions.start(runtime.queue, entries, this.now());
    } finally {
      this.slots.release(entries.length - started.length);
      // A suspect found stale (or not started at all) no longer holds this worker back.
      const isolated = this.isolatedEntry;
      if (entries.some((entry) => entry.entryId === isolated) && !started.some((job) => job.entryId === isolated)) this.isolatedEntry = undefined;
    }
    this.launch(runtime, started);
  }

  private launch(runtime: QueueRuntime, started: readonly StartedJob[]): void {
    for (const job of started) {
      const run = this.run(runtime, job);
      this.runs.add(run);
      void run.finally(() => this.runs.delete(run));
    }
  }

  /**
   * Runs one attempt and records its outcome. The slot is given back as soon as the handler is done,
   * before the outcome reaches Redis: completions go in batches, and the next jobs are read meanwhile.
   */
  private async run(runtime: QueueRuntime, job: StartedJob): Promise<void> {
    const startedAt = this.now();
    const type = this.options.registry.find(job.type);
    const attempt = new Attempt(startedAt, type?.timeoutMs ?? DEFAULT_JOB_TIMEOUT_MS);
    this.running.set(job.entryId, { job, runtime, attempt });
    this.emit('job:started', { id: job.id, queue: job.queue, type: job.type, attempt: job.attempt, waitMs: Math.max(0, startedAt - job.runAtMs) });
    let outcome: { result: unknown } | { error: unknown };
    try {
      const progress = (value: unknown) => runtime.transitions.progress(job, value, this.now());
      outcome = { result: await runHandler(job, type, this.options.handlers[job.type] as JobHandler | undefined, attempt, progress) };
    } catch (error) {
      outcome = { error };
    } finally {
      this.slots.release(1);
    }
    try {
      // Released at shutdown: another worker has the job now.
      if (!this.running.has(job.entryId)) return;
      if ('result' in outcome) {
        try {
          if (await runtime.transitions.complete(job, serializeResult(outcome.result), this.now())) {
            this.emit('job:completed', { id: job.id, queue: job.queue, type: job.type, attempt: job.attempt, durationMs: this.now() - startedAt });
          }
          return;
        } catch (error) {
          outcome = { error };
        }
      }
      await this.recordFailure(runtime, job, type, outcome.error, startedAt);
    } finally {
      this.running.delete(job.entryId);
      if (this.isolatedEntry === job.entryId) this.isolatedEntry = undefined;
    }
  }

  private async recordFailure(runtime: QueueRuntime, job: StartedJob, type: RegisteredJobType | undefined, error: unknown, startedAt: number): Promise<void> {
    const failed = await runtime.transitions.fail(job, type, error, this.now(), this.random).catch((failError: unknown) => {
      this.reportError(failError, `failing job ${job.id}`);
      return null;
    });
    if (failed) {
      this.emit('job:failed', {
        id: job.id, queue: job.queue, type: job.type, attempt: job.attempt, durationMs: this.now() - startedAt, error: failed.message, next: failed.next,
      });
    }
  }

  private abortOverdue(): void {
    const now = this.now();
    for (const { attempt } of this.running.values()) attempt.abortIfOverdue(now);
  }

  /** Keeps this worker's running entries fresh, well within the visibility timeout. */
  private async heartbeat(): Promise<void> {
    const signal = this.heartbeatStopping.signal;
    const interval = Math.max(100, Math.floor(this.options.worker.visibilityTimeoutMs / 3));
    while (!signal.aborted) {
      await sleep(interval, signal);
      for (const runtime of this.runtimes) {
        const entryIds = [...this.running.values()].filter((running) => running.runtime === runtime).map((running) => running.job.entryId);
        await runtime.transitions.heartbeat(entryIds).catch((error: unknown) => this.reportError(error, `heartbeating ${runtime.queue}`));
      }
    }
  }

  private reportError(error: unknown, during: string): void {
    this.logger.warn({ worker: this.name, err: messageOf(error) }, `worker error while ${during}`);
    this.emit('worker:error', { error: messageOf(error), during });
  }
}
