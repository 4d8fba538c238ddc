import { Attempt } from './attempt.js';
import type { QueueConfig, RedisConfig, WorkerConfig } from './config.js';
import { messageOf, RetryAfterError } from './errors.js';
import type { JobHandler } from './handler.js';
import { JobTransitions, MAX_POSTPONEMENTS, runHandler, serializeResult, typeList, type StartedJob, type StartOutcome, type TypeRouting } from './job-runner.js';
import { JobTypeCatalog, publishedType, PUBLISH_INTERVAL_MS, publishJobTypes, type WorkerPublication } from './job-type-catalog.js';
import { WORKER_GROUP, type QueueKeys } from './keys.js';
import { silentLogger, type Logger } from './logger.js';
import { DelayedPromoter } from './maintenance/delayed-promoter.js';
import { QueueLayouts, type Partition } from './partitions.js';
import { bandOrder } from './priority.js';
import { limitsAnything, NO_LIMITS, ScriptLimits, type FlowLimits } from './flow-limits.js';
import { readQueueLimits } from './queue-admin.js';
import { StalledReclaimer } from './maintenance/stalled-reclaimer.js';
import type { StreamEntry } from './redis/entries.js';
import { closeRedis, createRedis } from './redis/client.js';
import { runScript, type ScriptedRedis } from './redis/scripts.js';
import { DEFAULT_JOB_TIMEOUT_MS, type JobTypeRegistry, type RegisteredJobType } from './registry.js';
import { Slots } from './slots.js';
import { jitter, sleep } from './sleep.js';
import { WorkerEventEmitter, type StaleTransition } from './worker-events.js';
import { processReport, type WorkerProcessReport } from './worker-processes.js';
import { endAttemptSpan, startAttemptSpan, withSpan, type AttemptOutcome } from './tracing/spans.js';

export { MAX_POSTPONEMENTS, MAX_RESULT_BYTES } from './job-runner.js';

/** How often a worker looks whether its queues are paused or resumed. */
const PAUSE_POLL_MS = 250;
/** How often a worker holding back for a suspect looks again. */
const HOLD_POLL_MS = 50;
/** How often running attempts are held to their deadlines: one sweep for all, so a timeout fires up to this late. */
const DEADLINE_SWEEP_MS = 50;
/** How long an aborted handler has to return before it counts as abandoned: one that heeds its signal takes far less. */
const ABANDON_GRACE_MS = 1000;
/** Bounds of the wait before each read after reads that only handed jobs on to other workers (see noteHandOns). */
const MIN_HAND_ON_WAIT_MS = 50;
const MAX_HAND_ON_WAIT_MS = 1000;
/** Longest wait of a read held back by the queue's rate, after which the limits are looked at again. */
const MAX_LIMIT_WAIT_MS = 1000;
/** Wait of a read held back by the queue's cap, unless one of its jobs ends here first. */
const LIMIT_POLL_MS = 100;
/** Most jobs one releaseLimited call lets go: fewer means the type has no more room, or no more jobs. */
const RELEASE_BATCH = 500;
/** The KEYS index of the first rate window the start scripts get (see take-jobs.lua). */
const FIRST_WINDOW_KEY = 14;
/** How often a worker reads which types the other live workers serve. */
const CATALOG_REFRESH_MS = 1000;
/** Bound of each step of `close()` that waits on Redis, so a stop ends even while Redis is down. */
const CLOSE_STEP_MS = 2000;

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

/** What the worker runs for one partition of a queue (the queue itself, when it has one). */
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
  /** Whether the last read found entries: quiet queues do not count when slots are shared out. */
  busy: boolean;
  /** This queue's attempts under way here. */
  running: number;
  /** The entry of a suspect running alone in this queue here, if any. */
  isolatedEntry: string | undefined;
  /** Suspects the last reclaim pass left for a worker that runs nothing of this queue. */
  suspectsWaiting: number;
  /** How long each read of this queue waits first, after reads that only handed jobs on (see noteHandOns). */
  handOnWaitMs: number;
  /** Entries the last call read but could not start, each holding a slot: the next call starts them (see takeJobs). */
  left: StreamEntry[];
  /** The jobs of the entries after those the last call read: the next call names them, to start them as it reads them. */
  next: string[];
  /** The fair queue's members the last call found may start: the next call names their jobs (see takeJobs). */
  turns: string[];
  /** Partitions of the count this one belongs to: each enforces its share of the limits. */
  partitionCount: number;
  /** The flow limits the start scripts get, and the queue limits they were built from (JSON). */
  limits: ScriptLimits;
  limitsFrom: string;
  /** Cut short when one of this queue's jobs ends here, for a read held back by a concurrency cap. */
  limitWait: AbortController | undefined;
  /** The next pass over the jobs held back by their types' limits, and when it is due. */
  releaseTimer: NodeJS.Timeout | undefined;
  releaseAt: number;
  releasing: Promise<void>;
}

/** A running attempt, with what stopping or heartbeating it needs. */
interface RunningJob {
  job: StartedJob;
  runtime: QueueRuntime;
  attempt: Attempt;
  /** When the attempt started (ms). */
  startedAt: number;
  /** The attempt ended without this worker recording an outcome: released at shutdown, or taken over. */
  lost: boolean;
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
  private readonly running = new Set<RunningJob>();
  /**
   * Handlers that outlived their attempts, of types with a cap or of grouped jobs, each holding a place
   * in its type's set of overrunning handlers, or its queue's of grouped ones, or both (`places`).
   */
  private readonly overruns = new Set<{ places: { key: string; member: string }[] }>();
  /** Handlers still running after their attempt ended; each holds its slot until it returns. */
  private abandoned = 0;
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly random: () => number;
  private loops: Promise<void>[] = [];
  /** Every attempt under way, until its outcome is recorded in Redis. */
  private readonly runs = new Set<Promise<void>>();
  private closing: Promise<void> | undefined;
  /** The types this worker serves: those it has both a definition and a handler for. */
  private readonly served: RegisteredJobType[];
  /** What live workers publish, read after each of this worker's own publications. */
  private readonly catalog: JobTypeCatalog;
  /** The partitions of this worker's queues: it reads every one, those of an earlier partition count too, until they drain. */
  readonly layouts: QueueLayouts;
  /** The flow limits set on each queue, read every CATALOG_REFRESH_MS. */
  private queueLimits: Record<string, FlowLimits> = {};
  /** The flow limits of the types this worker serves, by type. */
  private readonly typeLimits: ReadonlyMap<string, FlowLimits>;
  private readonly publishStopping = new AbortController();
  private publishLoop: Promise<void> | undefined;
  private startedAt = 0;

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
    this.served = Object.keys(options.handlers).map((type) => options.registry.get(type));
    this.typeLimits = new Map(this.served.map((type) => [type.name, type.limits]));
    this.catalog = new JobTypeCatalog({ redis: this.commands, prefix: options.redis.prefix, logger: this.logger });
    this.layouts = new QueueLayouts(this.commands, options.redis.prefix, options.queue.partitions);
  }

  /** Names of the job types this worker serves, sorted. */
  get servedTypes(): string[] {
    return this.served.map((type) => type.name).sort();
  }

  /** The job types live workers publish, as this worker last read them: what a producer beside it validates against. */
  get types(): JobTypeCatalog {
    return this.catalog;
  }

  /** This worker's consumer name. */
  get name(): string {
    return this.options.worker.consumerName;
  }

  /** Jobs running now. */
  get runningCount(): number {
    return this.running.size;
  }

  /** Handlers still running after their attempts ended (timed out, released or taken over). */
  get abandonedCount(): number {
    return this.abandoned;
  }

  /**
   * Publishes the job types it serves (so producers accept them), joins every queue's consumer group
   * and starts reading, promoting, reclaiming and heartbeating.
   */
  async start(): Promise<void> {
    const { queue: queueConfig } = this.options;
    // On Redis's clock, which every worker shares: the newest worker's definition wins a conflict.
    const [seconds, micros] = await this.commands.time();
    this.startedAt = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    await this.publish();
    await this.catalog.refresh();
    this.warnOfConflicts();
    this.announcements.on('message', (channel: string) => this.runtimes.find((runtime) => runtime.keys.delayed === channel)?.promoter.wake());
    await this.layouts.refresh();
    this.queueLimits = await readQueueLimits(this.commands, this.options.redis.prefix);
    await this.addNewPartitions();
    this.heartbeatLoop = this.heartbeat();
    await this.tendUnserved().catch((error: unknown) => this.reportError(error, 'tending jobs that wait for a worker of their type'));
    this.publishLoop = this.keepInTouch();
    this.deadlineSweep = setInterval(() => this.abortOverdue(), DEADLINE_SWEEP_MS);
    this.logger.info({ worker: this.name, queues: queueConfig.queues, concurrency: this.slots.capacity }, 'worker started');
  }

  /**
   * Starts consuming the partitions of this worker's queues it does not read yet: all of them at the
   * start, then those of a partition count another process began to use (see QueueLayouts).
   */
  private async addNewPartitions(): Promise<void> {
    const reading = new Set(this.runtimes.map((runtime) => runtime.keys.stream));
    for (const queue of this.options.queue.queues) {
      const routing = this.routing(queue);
      const fresh = this.layouts.all(queue).filter((partition) => !reading.has(partition.keys.stream));
      for (const partition of fresh) await this.addPartition(partition, routing);
      // Told of a job due sooner than its promoter planned for (see announceIfEarliest).
      if (fresh.length > 0) await this.announcements.subscribe(...fresh.map((partition) => partition.keys.delayed));
    }
  }

  /**
   * Starts consuming one partition of a queue, with a blocking reader of its own: a blocking read
   * holds its connection, and a cluster serves each partition from the master that holds it.
   */
  private async addPartition(partition: Partition, routing: TypeRouting): Promise<void> {
    const { redis, worker, queue: queueConfig } = this.options;
    const { queue, keys } = partition;
    await this.ensureGroup(keys);
    // A stop that began meanwhile has closed the readers it knew of: this one would stay open.
    if (this.stopping.signal.aborted) return;
    const reader = createRedis(redis, { failFast: false, commandTimeoutMs: 0, connectionName: partition.count === 1 ? `${this.name}:${queue}` : `${this.name}:${queue}:${partition.index}` });
    reader.on('error', () => undefined);
    const runtime: QueueRuntime = {
      queue,
      keys,
      reader,
      transitions: new JobTransitions(this.commands, keys, this.name, queueConfig, routing, () => runtime.limits),
      promoter: new DelayedPromoter({ redis: this.commands, keys, queue, logger: this.logger, now: this.now }),
      reclaimer: new StalledReclaimer({
        redis: this.commands, keys, queue, consumer: this.name, visibilityTimeoutMs: worker.visibilityTimeoutMs,
        maxDeliveries: worker.maxDeliveries, deadLetters: queueConfig, routing, logger: this.logger, now: this.now,
      }),
      paused: false,
      pauseCheckedAt: Number.NEGATIVE_INFINITY,
      busy: true,
      running: 0,
      isolatedEntry: undefined,
      suspectsWaiting: 0,
      handOnWaitMs: 0,
      left: [],
      next: [],
      turns: [],
      partitionCount: partition.count,
      limits: NO_LIMITS,
      limitsFrom: '',
      limitWait: undefined,
      releaseTimer: undefined,
      releaseAt: Number.POSITIVE_INFINITY,
      releasing: Promise.resolve(),
    };
    this.updateLimits(runtime);
    this.runtimes.push(runtime);
    runtime.promoter.start();
    this.loops.push(this.consume(runtime));
  }

  /**
   * Stops taking jobs at once and gives in-flight jobs up to `timeoutMs` to finish and be
   * acknowledged. Jobs still running then are aborted and handed back to the stream for another
   * worker (or, should that fail, left pending for the reclaimer). No job starts once this is
   * called, and every step that waits on Redis has a bound, so it ends even while Redis is down.
   */
  close(timeoutMs = this.options.worker.shutdownTimeoutMs): Promise<void> {
    this.closing ??= this.stop(timeoutMs);
    return this.closing;
  }

  private async stop(timeoutMs: number): Promise<void> {
    const deadline = this.now() + timeoutMs;
    this.stopping.abort();
    // Said first: while this worker drains, others must not hand it jobs of its types, nor count on it;
    // producers still accept its types (see PUBLICATION_KEPT_MS), and the jobs wait for a replacement.
    this.publishStopping.abort();
    const withdrawn = this.publishLoop
      ? within(this.publishLoop.then(() => publishJobTypes(this.commands, this.options.redis.prefix, this.name, { ...this.publication(), draining: true }, this.processReport(true))), CLOSE_STEP_MS)
      : Promise.resolve(true);
    for (const runtime of this.runtimes) runtime.reader.disconnect();
    // A read in flight now hands back what it started (see consume) instead of running it.
    await within(Promise.all(this.loops), CLOSE_STEP_MS);
    await within(Promise.all(this.runtimes.map((runtime) => runtime.promoter.stop())), CLOSE_STEP_MS);
    const finished = await within(this.settled(), Math.max(0, deadline - this.now()));
    if (!finished) await within(this.releaseUnfinished(), CLOSE_STEP_MS);
    this.heartbeatStopping.abort();
    await within(Promise.all([this.heartbeatLoop, withdrawn]), CLOSE_STEP_MS);
    clearInterval(this.deadlineSweep);
    for (const runtime of this.runtimes) clearTimeout(runtime.releaseTimer);
    await within(closeRedis(this.commands), CLOSE_STEP_MS);
    this.commands.disconnect();
    this.announcements.disconnect();
    this.logger.info({ worker: this.name }, 'worker stopped');
  }

  /** Resolves once every attempt has ended and its outcome is recorded. */
  private async settled(): Promise<void> {
    while (this.runs.size > 0) await Promise.all([...this.runs]);
  }

  private async releaseUnfinished(): Promise<void> {
    const unfinished = [...this.running].filter((running) => !running.lost);
    this.logger.warn({ worker: this.name, unfinished: unfinished.length }, 'shutdown deadline passed; handing unfinished jobs to other workers');
    await Promise.all(unfinished.map((running) => {
      running.lost = true;
      running.attempt.abort(new Error('worker shutting down'));
      return this.release(running.runtime, running.job);
    }));
  }

  /** Hands an attempt back to the stream for another worker; a stale one is only counted. */
  private async release(runtime: QueueRuntime, job: StartedJob): Promise<void> {
    try {
      if (!(await runtime.transitions.release(job, this.now()))) this.stale(job, 'release');
    } catch (error) {
      this.reportError(error, `releasing job ${job.id}`);
    }
  }

  /** Creates the consumer group in every band's stream of a partition, where it is missing. */
  private async ensureGroup(keys: QueueKeys): Promise<void> {
    for (const stream of keys.streams) {
      try {
        // From id 0, not $: jobs added before the first worker ever started must not be skipped.
        await this.commands.xgroup('CREATE', stream, WORKER_GROUP, '0', 'MKSTREAM');
      } catch (error) {
        if (!messageOf(error).includes('BUSYGROUP')) throw error;
      }
    }
  }

  /**
   * The read loop of one queue. Each round reserves slots first, so the worker never takes more jobs
   * than it can run. Queues that have work share the free slots evenly; a queue whose stream is empty
   * waits in a blocking read holding one slot only, so quiet queues never starve a busy one. A due
   * reclaim pass goes first.
   */
  private async consume(runtime: QueueRuntime): Promise<void> {
    const signal = this.stopping.signal;
    while (!signal.aborted) {
      // Entries the last call read but could not start hold their slots already: they start now.
      const ahead = runtime.left.splice(0);
      if (ahead.length === 0 && (await this.isPaused(runtime))) {
        await sleep(jitter(PAUSE_POLL_MS), signal);
        continue;
      }
      if (ahead.length === 0 && runtime.handOnWaitMs > 0) await sleep(runtime.handOnWaitMs, signal);
      // With entries left, the free slots are taken without waiting for one; but first the handlers
      // just launched get a turn, so that those that finish at once give theirs back.
      if (ahead.length > 0) await new Promise((resolve) => setImmediate(resolve));
      const wanted = ahead.length > 0 ? this.slots.tryTake(this.share()) : await this.slots.take(this.share(), signal);
      if (wanted === 0 && ahead.length === 0) break;
      let held = wanted;
      let entries: StreamEntry[] = [];
      try {
        if (ahead.length === 0 && runtime.isolatedEntry === undefined && (runtime.reclaimer.due || this.mayRunSuspect(runtime))) entries = await this.reclaim(runtime, wanted);
        if (ahead.length === 0 && entries.length === 0 && this.holdingForSuspect(runtime)) {
          // Running this queue down to idle so a suspect can run alone; keep reclaiming, take nothing new.
          this.slots.release(held);
          await sleep(HOLD_POLL_MS, signal);
          continue;
        }
        if (entries.length === 0) {
          // While the stream has entries, one call per batch reads and starts them (with the
          // completions since, and the entries the last call left); only an empty stream costs the
          // blocking read.
          const count = this.holdingForSuspect(runtime) ? 0 : wanted;
          held += ahead.length;
          const next = runtime.next.splice(0);
          const turns = runtime.turns.splice(0);
          // Looked at as far as a later call is likely to read (a share of the slots), so that it names the jobs it reads.
          const order = bandOrder(this.options.worker.priority, this.random);
          const batch = await runtime.transitions.take(runtime.queue, ahead, next, turns, count, this.share(), order, this.now());
          runtime.paused = batch.paused;
          runtime.busy = batch.taken > 0;
          runtime.left = batch.left;
          // A call that read nothing looked at nothing: the entries named before still come next.
          runtime.next = count === 0 ? next : batch.next;
          runtime.turns = count === 0 ? turns : batch.turns;
          // Held back by the queue's limits, the queue waits for them rather than in a blocking read,
          // which would take the entries they hold back.
          const limited = batch.taken === 0 ? batch.limited : false;
          // Turns to name keep the queue busy: the next call starts them.
          const idle = ahead.length === 0 && batch.taken === 0 && batch.turns.length === 0 && !batch.paused && count > 0 && limited === false;
          // Started entries and entries left hold their slots; the rest go back (stale entries,
          // those handed on or back, those not read), but an idle queue keeps one for its blocking read.
          this.slots.release(held - batch.started.length - batch.left.length - (idle ? 1 : 0));
          this.launch(runtime, batch.started);
          this.noteHandOns(runtime, batch);
          if (batch.held > 0) this.scheduleRelease(runtime, this.now());
          if (limited !== false) await this.waitForLimits(runtime, limited);
          if (!idle) continue;
          held = 1;
          entries = await this.read(runtime, 1);
          // One read of every band may bring an entry of each, highest band first: those past the free
          // slots go back to the ends of their streams, for any worker to take.
          if (entries.length > held) held += this.slots.tryTake(entries.length - held);
          const surplus = entries.splice(held);
          if (surplus.length > 0) await runtime.transitions.handBack(surplus, this.now());
          // Started by the next call, which reads any that came with them.
          runtime.left = entries;
          this.slots.release(held - entries.length);
          continue;
        }
      } catch (error) {
        this.slots.release(held);
        if (signal.aborted) break;
        this.reportError(error, `reading ${runtime.queue}`);
        if (messageOf(error).includes('NOGROUP')) await this.ensureGroup(runtime.keys).catch(() => undefined);
        await sleep(jitter(500), signal);
        continue;
      }
      this.slots.release(held - entries.length);
      // Entries read but not started stay in the pending list: a reclaim pass starts them later.
      const outcome = await this.startEntries(runtime, entries).catch((error: unknown) => {
        this.reportError(error, `starting jobs of ${runtime.queue}`);
        return undefined;
      });
      if (outcome) this.noteHandOns(runtime, outcome);
    }
    // Read, but not started before the stop: started now, each is handed straight back (see launch).
    const ahead = runtime.left.splice(0);
    if (ahead.length > 0) await this.startEntries(runtime, ahead).catch((error: unknown) => this.reportError(error, `handing back jobs of ${runtime.queue}`));
  }

  /**
   * After a read that found only jobs of types other workers serve, and handed them on, each read of
   * the queue waits a little first, longer after each such read (50 ms up to 1 s), until the worker
   * starts a job again: an idle worker that serves none of a busy queue's types would otherwise read
   * every entry first (or be the reader Redis hands a new entry to), delaying each job by a hand-off.
   */
  private noteHandOns(runtime: QueueRuntime, outcome: StartOutcome): void {
    if (outcome.started.length > 0) runtime.handOnWaitMs = 0;
    else if (outcome.handedOn > 0) runtime.handOnWaitMs = Math.min(MAX_HAND_ON_WAIT_MS, Math.max(MIN_HAND_ON_WAIT_MS, runtime.handOnWaitMs * 2));
  }

  /** Slots one queue may take in a round: an even share among the queues that have work. */
  private share(): number {
    const busy = this.runtimes.filter((runtime) => runtime.busy).length;
    return Math.ceil(this.slots.capacity / Math.max(1, busy));
  }

  /** Whether new jobs of this queue must wait: a suspect runs alone here, or waits for a worker that runs none of its jobs. */
  private holdingForSuspect(runtime: QueueRuntime): boolean {
    return runtime.isolatedEntry !== undefined || runtime.suspectsWaiting > 0;
  }

  /** Suspects are waiting and this worker runs nothing of their queue: take one now rather than at the next pass. */
  private mayRunSuspect(runtime: QueueRuntime): boolean {
    return runtime.suspectsWaiting > 0 && runtime.running === 0;
  }

  /** A reclaim pass; a suspect it hands over runs alone in its queue, so nothing new of that queue is taken until it ends. */
  private async reclaim(runtime: QueueRuntime, wanted: number): Promise<StreamEntry[]> {
    const pass = await runtime.reclaimer.claim(wanted, runtime.running === 0);
    runtime.suspectsWaiting = pass.suspectsWaiting;
    if (pass.isolated) runtime.isolatedEntry = pass.claimed[0]?.entryId;
    return pass.claimed;
  }

  /**
   * Whether the queue is paused, looked up at most every PAUSE_POLL_MS rather than before every read,
   * which would add a round trip per batch (the start scripts check it too, so no job starts once a
   * pause is set). A Redis error counts as not paused; the read reports it.
   */
  private async isPaused(runtime: QueueRuntime): Promise<boolean> {
    if (this.now() - runtime.pauseCheckedAt >= PAUSE_POLL_MS) {
      runtime.paused = (await this.commands.exists(runtime.keys.paused).catch(() => 0)) === 1;
      runtime.pauseCheckedAt = this.now();
    }
    return runtime.paused;
  }

  /** A blocking read of up to `count` new entries from each band's stream: what comes first wakes it. */
  private async read(runtime: QueueRuntime, count: number): Promise<StreamEntry[]> {
    const { streams } = runtime.keys;
    const reply = (await runtime.reader.xreadgroup(
      'GROUP', WORKER_GROUP, this.name, 'COUNT', count, 'BLOCK', this.options.worker.blockMs, 'STREAMS', ...streams, ...streams.map(() => '>'),
    )) as [string, [string, string[]][]][] | null;
    return (reply ?? []).flatMap(([stream, entries]) => entries.map(([entryId, fields]) => ({ band: streams.indexOf(stream), entryId, jobId: fields[1] ?? '' })));
  }

  /** Starts entries for which a slot each is already taken; frees the slots of those that are stale or handed on. */
  private async startEntries(runtime: QueueRuntime, entries: StreamEntry[]): Promise<StartOutcome> {
    let outcome: StartOutcome = { started: [], handedOn: 0, held: 0 };
    try {
      outcome = await runtime.transitions.startEntries(runtime.queue, entries, this.now());
    } finally {
      const { started } = outcome;
      this.slots.release(entries.length - started.length);
      // A suspect found stale (or not started at all) no longer holds this queue back.
      const isolated = runtime.isolatedEntry;
      if (entries.some((entry) => entry.entryId === isolated) && !started.some((job) => job.entryId === isolated)) runtime.isolatedEntry = undefined;
    }
    this.launch(runtime, outcome.started);
    return outcome;
  }

  /** Runs started jobs, or, once the worker is stopping, hands them straight back: no job starts after a stop. */
  private launch(runtime: QueueRuntime, started: readonly StartedJob[]): void {
    if (this.stopping.signal.aborted) {
      this.slots.release(started.length);
      for (const job of started) {
        if (runtime.isolatedEntry === job.entryId) runtime.isolatedEntry = undefined;
        this.track(this.release(runtime, job));
      }
      return;
    }
    for (const job of started) this.track(this.run(runtime, job));
  }

  private track(run: Promise<void>): void {
    this.runs.add(run);
    void run.finally(() => this.runs.delete(run));
  }

  /**
   * Runs one attempt and records its outcome. The outcome is recorded as soon as the attempt ends,
   * before its outcome reaches Redis (completions go in batches, and the next jobs are read
   * meanwhile). Its slot is given back only when the handler itself returns, which for a handler
   * that ignored its timeout may be much later: the worker never runs more handlers than its
   * concurrency.
   */
  private async run(runtime: QueueRuntime, job: StartedJob): Promise<void> {
    const startedAt = this.now();
    const type = this.options.registry.find(job.type);
    const attempt = new Attempt(startedAt, type?.timeoutMs ?? DEFAULT_JOB_TIMEOUT_MS);
    const running: RunningJob = { job, runtime, attempt, startedAt, lost: false };
    this.running.add(running);
    runtime.running += 1;
    const waitMs = Math.max(0, startedAt - job.runAtMs);
    this.emit('job:started', { id: job.id, queue: job.queue, type: job.type, attempt: job.attempt, waitMs });
    const span = startAttemptSpan(job, waitMs);
    let outcome: { result: unknown } | { error: unknown };
    try {
      const progress = async (value: unknown): Promise<void> => {
        if (running.lost) return;
        if (!(await runtime.transitions.progress(job, value, this.now()))) this.stale(job, 'progress');
      };
      outcome = { result: await withSpan(span, () => runHandler(job, type, this.options.handlers[job.type] as JobHandler | undefined, attempt, progress)) };
    } catch (error) {
      outcome = { error };
    }
    this.holdSlotUntilHandlerReturns(attempt);
    // What the span reports: an attempt lost to another worker, or whose outcome Redis refused as stale, was interrupted.
    let ended: AttemptOutcome = 'interrupted';
    let failure: unknown;
    try {
      if (running.lost) return;
      if ('result' in outcome) {
        let resultJson: string;
        try {
          resultJson = serializeResult(outcome.result, this.options.queue.payloadMaxDepth);
        } catch (error) {
          failure = error;
          ended = (await this.recordFailure(runtime, job, type, error, startedAt)) ?? ended;
          return;
        }
        if (await this.recordCompletion(running, resultJson)) {
          ended = 'completed';
          this.emit('job:completed', { id: job.id, queue: job.queue, type: job.type, attempt: job.attempt, durationMs: this.now() - startedAt });
        }
        return;
      }
      let { error } = outcome;
      if (error instanceof RetryAfterError) {
        if (await this.recordPostponement(runtime, job, error, startedAt)) {
          ended = 'postponed';
          return;
        }
        error = new Error(`its handler postponed the job ${MAX_POSTPONEMENTS} times; this attempt fails instead (${error.message})`);
      }
      failure = error;
      ended = (await this.recordFailure(runtime, job, type, error, startedAt, attempt)) ?? ended;
    } finally {
      endAttemptSpan(span, ended, ended === 'retrying' || ended === 'dead' ? { cause: failure, timedOut: attempt.timedOut } : undefined);
      this.running.delete(running);
      runtime.running -= 1;
      runtime.limitWait?.abort();
      if (limitsAnything(type?.limits)) this.scheduleRelease(runtime, this.now());
      if (runtime.isolatedEntry === job.entryId) runtime.isolatedEntry = undefined;
    }
  }

  /**
   * Frees the attempt's slot once its handler returns. A handler still running ABANDON_GRACE_MS after
   * its attempt was aborted has ignored its signal: it is counted as abandoned until it returns.
   */
  private holdSlotUntilHandlerReturns(attempt: Attempt): void {
    if (!attempt.wasAborted) {
      this.slots.release(1);
      return;
    }
    let returned = false;
    let counted = false;
    const grace = setTimeout(() => {
      if (returned) return;
      counted = true;
      this.abandoned += 1;
      const limit = this.options.worker.recycleAfterAbandoned;
      if (limit > 0 && this.abandoned >= limit) this.emit('worker:recycle', { abandoned: this.abandoned });
    }, ABANDON_GRACE_MS);
    grace.unref();
    void attempt.handlerSettled.then(() => {
      returned = true;
      clearTimeout(grace);
      if (counted) this.abandoned -= 1;
      this.slots.release(1);
    });
  }

  /**
   * Records a successful attempt. A Redis that cannot answer for a moment (a reconnect, LOADING,
   * READONLY during a failover) does not turn a success into a failure: the completion is sent again
   * until it is recorded, refused as stale, or a visibility timeout has passed, after which another
   * worker may have the job and the entry is left to the reclaimer.
   */
  private async recordCompletion(running: RunningJob, resultJson: string): Promise<boolean> {
    const { job, runtime } = running;
    const giveUpAt = this.now() + this.options.worker.visibilityTimeoutMs;
    for (let delay = 50; ; delay = Math.min(delay * 2, 2000)) {
      try {
        const completed = await runtime.transitions.complete(job, resultJson, this.now());
        if (!completed) this.stale(job, 'complete');
        return completed;
      } catch (error) {
        this.reportError(error, `completing job ${job.id}`);
        if (running.lost || this.now() + delay >= giveUpAt) return false;
        await sleep(jitter(delay));
      }
    }
  }

  /** Records a postponed attempt; false when the job was postponed too often, for the caller to fail the attempt instead. */
  private async recordPostponement(runtime: QueueRuntime, job: StartedJob, postponement: RetryAfterError, startedAt: number): Promise<boolean> {
    const postponed = await runtime.transitions.postpone(job, postponement.delayMs, postponement.message, this.now()).catch((error: unknown) => {
      this.reportError(error, `postponing job ${job.id}`);
      return undefined;
    });
    if (postponed === 'exhausted') return false;
    if (postponed === null) this.stale(job, 'postpone');
    if (postponed === 'postponed') {
      this.emit('job:postponed', { id: job.id, queue: job.queue, type: job.type, attempt: job.attempt, durationMs: this.now() - startedAt, delayMs: postponement.delayMs });
    }
    return true;
  }

  /** Records a failed attempt; returns where it sent the job (a retry at once is retrying too), or undefined when it could not. */
  private async recordFailure(
    runtime: QueueRuntime, job: StartedJob, type: RegisteredJobType | undefined, error: unknown, startedAt: number, attempt?: Attempt,
  ): Promise<'retrying' | 'dead' | undefined> {
    // A handler that outlives its attempt (timed out, ignoring its signal) still runs: its type's cap goes on counting it until it returns.
    const typeCapped = type?.limits.concurrency !== undefined;
    const overrun = attempt && !attempt.handlerReturned && (typeCapped || job.group !== null)
      ? { member: `${job.id}:${job.attempt}`, leaseMs: this.options.worker.visibilityTimeoutMs, typeCapped }
      : undefined;
    const failed = await runtime.transitions.fail(job, type, error, this.now(), this.random, overrun).catch((failError: unknown) => {
      this.reportError(failError, `failing job ${job.id}`);
      return undefined;
    });
    if (failed && overrun && attempt) {
      const { keys } = runtime;
      this.holdOverrun([
        ...(overrun.typeCapped ? [{ key: keys.overrunOf(job.type), member: overrun.member }] : []),
        ...(job.group !== null ? [{ key: keys.groupOverruns, member: `${job.group}|${overrun.member}` }] : []),
      ], attempt);
    }
    if (failed === null) this.stale(job, 'fail');
    if (failed) {
      this.emit('job:failed', {
        id: job.id, queue: job.queue, type: job.type, attempt: job.attempt, durationMs: this.now() - startedAt, error: failed.message, next: failed.next,
      });
    }
    return failed ? (failed.next === 'dead' ? 'dead' : 'retrying') : undefined;
  }

  /** Keeps an overrunning handler's places in the sets that count it while it runs (see heartbeat), and gives them up once it returns. */
  private holdOverrun(places: { key: string; member: string }[], attempt: Attempt): void {
    const overrun = { places };
    this.overruns.add(overrun);
    void attempt.handlerSettled.then(async () => {
      this.overruns.delete(overrun);
      for (const { key, member } of places) {
        await this.commands.zrem(key, member).catch((error: unknown) => this.reportError(error, `ending the overrun of ${member}`));
      }
    });
  }

  private abortOverdue(): void {
    const now = this.now();
    for (const { attempt } of this.running) attempt.abortIfOverdue(now);
  }

  /**
   * How this worker's start scripts tell its types from those it parks for others (see TypeRouting).
   * The types only other live workers of `queue` serve are worked out again only when the catalog changes.
   */
  private routing(queue: string): TypeRouting {
    const here = new Set(this.servedTypes);
    let elsewhere = { list: ',', generation: -1 };
    return {
      served: typeList(here),
      elsewhere: () => {
        if (elsewhere.generation !== this.catalog.generation) {
          const list = typeList([...this.catalog.servedIn(queue)].filter((name) => !here.has(name)));
          elsewhere = { list, generation: this.catalog.generation };
        }
        return elsewhere.list;
      },
    };
  }

  private publication(): WorkerPublication {
    return { worker: this.name, queues: this.options.queue.queues, startedAt: this.startedAt, types: this.served.map(publishedType) };
  }

  /** Says which types this worker serves, and that it is live. */
  private async publish(): Promise<void> {
    await publishJobTypes(this.commands, this.options.redis.prefix, this.name, this.publication(), this.processReport(false));
  }

  /** This worker's process and the jobs it runs now, for operators (see GET /workers). */
  private processReport(draining: boolean): WorkerProcessReport {
    const running = [...this.running].filter(({ lost }) => !lost).map(({ job, startedAt }) => ({ id: job.id, type: job.type, queue: job.queue, attempt: job.attempt, startedAt }));
    return processReport({ startedAt: this.startedAt, queues: this.options.queue.queues, concurrency: this.slots.capacity, draining }, running, this.now());
  }

  /**
   * Every second: reads what the other live workers serve (a worker of a type just started must be
   * known to the others soon), tends the jobs waiting for a worker of their type, and every
   * PUBLISH_INTERVAL_MS publishes again.
   */
  private async keepInTouch(): Promise<void> {
    const signal = this.publishStopping.signal;
    const publishEvery = Math.round(PUBLISH_INTERVAL_MS / CATALOG_REFRESH_MS);
    for (let tick = 1; !signal.aborted; tick += 1) {
      await sleep(CATALOG_REFRESH_MS, signal);
      if (signal.aborted) break;
      if (tick % publishEvery === 0) await this.publish().catch((error: unknown) => this.reportError(error, 'publishing its job types'));
      await this.catalog.refresh().catch((error: unknown) => this.reportError(error, 'reading the job types others serve'));
      await this.tendUnserved().catch((error: unknown) => this.reportError(error, 'tending jobs that wait for a worker of their type'));
      await this.followLimits().catch((error: unknown) => this.reportError(error, 'reading the queues\' flow limits'));
      if (tick % publishEvery === 0) await this.followLayouts().catch((error: unknown) => this.reportError(error, 'reading the partition counts in use'));
    }
  }

  /** Starts reading the partitions of a partition count a producer began to use since this worker started. */
  private async followLayouts(): Promise<void> {
    await this.layouts.refresh();
    if (this.stopping.signal.aborted) return;
    const before = this.runtimes.length;
    await this.addNewPartitions();
    if (this.runtimes.length > before) this.logger.info({ worker: this.name, partitions: this.runtimes.length }, 'reading the partitions of a new partition count');
  }

  /** Takes up the queues' flow limits as set now, and lets go of jobs their types' limits hold back where there is room now. */
  private async followLimits(): Promise<void> {
    this.queueLimits = await readQueueLimits(this.commands, this.options.redis.prefix);
    for (const runtime of this.runtimes) {
      this.updateLimits(runtime);
      this.scheduleRelease(runtime, this.now());
    }
  }

  /** Rebuilds what the start scripts get of the flow limits when the queue's own have changed. */
  private updateLimits(runtime: QueueRuntime): void {
    const queueLimits = this.queueLimits[runtime.queue];
    const from = JSON.stringify(queueLimits ?? {});
    if (from === runtime.limitsFrom) return;
    runtime.limits = new ScriptLimits(runtime.keys, queueLimits, this.typeLimits, runtime.partitionCount, FIRST_WINDOW_KEY);
    runtime.limitsFrom = from;
  }

  /**
   * Waits while the queue's limits let nothing start: until its rate lets the next start (`limited`
   * ms; a second at most, so a change of the limits is taken up), or, under its cap, until one of
   * its jobs ends here, or a while, as jobs ending elsewhere go unseen.
   */
  private async waitForLimits(runtime: QueueRuntime, limited: number | 'cap'): Promise<void> {
    const wait = new AbortController();
    runtime.limitWait = wait;
    const stop = (): void => wait.abort();
    this.stopping.signal.addEventListener('abort', stop, { once: true });
    const ms = limited === 'cap' ? jitter(LIMIT_POLL_MS) : Math.min(MAX_LIMIT_WAIT_MS, limited);
    await sleep(ms, wait.signal);
    this.stopping.signal.removeEventListener('abort', stop);
    runtime.limitWait = undefined;
  }

  /** Plans a pass over the jobs of `runtime` held back by their types' limits at `at` (ms), unless one comes sooner. */
  private scheduleRelease(runtime: QueueRuntime, at: number): void {
    if (this.stopping.signal.aborted || at >= runtime.releaseAt) return;
    clearTimeout(runtime.releaseTimer);
    runtime.releaseAt = at;
    runtime.releaseTimer = setTimeout(() => {
      runtime.releaseAt = Number.POSITIVE_INFINITY;
      runtime.releasing = runtime.releasing
        .then(() => this.releaseLimited(runtime))
        .catch((error: unknown) => this.reportError(error, `letting go of jobs held back by their limits in ${runtime.queue}`));
    }, Math.max(0, at - this.now()));
  }

  /**
   * Lets go of the jobs held back by their types' limits that the limits have room for now: of the
   * types this worker serves, by their limits, and, of those no live worker serves, every one (they
   * then wait for a worker of their type). Plans the next pass for when a rate has room again.
   */
  private async releaseLimited(runtime: QueueRuntime): Promise<void> {
    for (const type of Object.keys(await runtime.transitions.limitedTypes())) {
      const limits = this.typeLimits.get(type) ?? (this.catalog.servedIn(runtime.queue).has(type) ? undefined : {});
      if (limits === undefined) continue;
      for (;;) {
        const { released, again } = await runtime.transitions.releaseLimited(type, limits, runtime.partitionCount, this.now());
        if (again > 0) this.scheduleRelease(runtime, this.now() + again);
        if (released < RELEASE_BATCH) break;
      }
    }
  }

  /**
   * Jobs wait for a worker of their type at no cost (see parkUnserved): this worker sends those of its
   * own types back to the stream, and dead-letters (no-handler) those of other types that have
   * waited NO_HANDLER_TIMEOUT_MS, which any live worker may do.
   */
  private async tendUnserved(): Promise<void> {
    const mine = new Set(this.servedTypes);
    for (const runtime of this.runtimes) {
      for (const type of Object.keys(await runtime.transitions.unserved())) {
        if (mine.has(type)) {
          const released = await runtime.transitions.releaseUnserved(type, this.now());
          if (released > 0) this.logger.info({ worker: this.name, queue: runtime.queue, jobType: type, released }, 'took up jobs that waited for a worker of their type');
        } else {
          const expired = await runtime.transitions.expireUnserved(type, this.now(), this.options.worker.noHandlerTimeoutMs);
          if (expired > 0) {
            this.logger.warn({ worker: this.name, queue: runtime.queue, jobType: type, expired }, 'dead-lettered jobs no live worker served in time (no-handler)');
          }
        }
      }
    }
  }

  /** Another live worker defines one of this worker's types differently: producers then validate against only one of them. */
  private warnOfConflicts(): void {
    const mine = new Set(this.servedTypes);
    for (const type of this.catalog.list()) {
      if (!mine.has(type.name) || type.conflicts.length === 0) continue;
      this.logger.warn(
        { worker: this.name, jobType: type.name, variants: type.conflicts.map((variant) => variant.workers) },
        `job type "${type.name}" is defined differently by other live workers; producers validate against the newest worker's definition`,
      );
    }
  }

  /**
   * Keeps this worker's running attempts fresh, well within the visibility timeout. An attempt the
   * heartbeat finds taken over (this worker stalled past the timeout) is aborted and never recorded.
   */
  private async heartbeat(): Promise<void> {
    const signal = this.heartbeatStopping.signal;
    const interval = Math.max(100, Math.floor(this.options.worker.visibilityTimeoutMs / 3));
    while (!signal.aborted) {
      await sleep(interval, signal);
      for (const runtime of this.runtimes) {
        const attempts = [...this.running].filter((running) => running.runtime === runtime && !running.lost);
        try {
          const lost = new Set(await runtime.transitions.heartbeat(attempts.map((running) => running.job), this.now()));
          for (const running of attempts.filter(({ job }) => lost.has(job))) {
            running.lost = true;
            running.attempt.abort(new Error('the attempt was taken over by another worker'));
            this.stale(running.job, 'heartbeat');
          }
        } catch (error) {
          this.reportError(error, `heartbeating ${runtime.queue}`);
        }
      }
      await this.renewOverruns().catch((error: unknown) => this.reportError(error, 'renewing the leases of overrunning handlers'));
    }
  }

  /** Renews the places of this worker's overrunning handlers in the sets that count them, one call per set. */
  private async renewOverruns(): Promise<void> {
    const byKey = new Map<string, string[]>();
    for (const { places } of this.overruns) {
      for (const { key, member } of places) byKey.set(key, [...(byKey.get(key) ?? []), member]);
    }
    for (const [key, members] of byKey) await runScript(this.commands, 'renewOverruns', [key], [this.options.worker.visibilityTimeoutMs, ...members]);
  }

  private stale(job: StartedJob, transition: StaleTransition): void {
    this.logger.warn({ worker: this.name, jobId: job.id, queue: job.queue, attempt: job.attempt, transition }, 'refused: the attempt is no longer current');
    this.emit('job:stale', { id: job.id, queue: job.queue, type: job.type, attempt: job.attempt, transition });
  }

  private reportError(error: unknown, during: string): void {
    this.logger.warn({ worker: this.name, err: messageOf(error) }, `worker error while ${during}`);
    this.emit('worker:error', { error: messageOf(error), during });
  }
}

/** Whether `promise` settled within `ms`; it is not waited for any longer. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(resolve, ms, false);
  });
  try {
    return await Promise.race([promise.then(() => true, () => true), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
