import type { QueueConfig, RedisConfig, WorkerConfig } from './config';
import { messageOf, PermanentJobError } from './errors';
import type { JobContext, JobHandler } from './handler';
import { queueKeys, WORKER_GROUP, type QueueKeys } from './keys';
import { silentLogger, type Logger } from './logger';
import { DelayedPromoter } from './maintenance/delayed-promoter';
import { closeRedis, createRedis } from './redis/client';
import { runScript, type ScriptedRedis } from './redis/scripts';
import type { JobTypeRegistry, RegisteredJobType } from './registry';
import { DEFAULT_RETRY_POLICY, nextRetryDelay } from './retry-policy';
import { Slots } from './slots';
import { jitter, sleep } from './sleep';
import { WorkerEventEmitter } from './worker-events';

/** Largest handler result stored with a job, in bytes of JSON. */
export const MAX_RESULT_BYTES = 64 * 1024;
/** Longest error message stored per failed attempt. */
const MAX_ERROR_LENGTH = 2000;

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

/** A job that `startJobs` handed to this worker. */
interface StartedJob {
  entryId: string;
  id: string;
  type: string;
  payload: Record<string, unknown>;
  attempt: number;
  maxAttempts: number;
}

/**
 * The consumer side: reads each configured queue's stream in the workers' consumer group, runs
 * handlers with a concurrency limit, and moves each job on with one atomic script per transition.
 */
export class Worker extends WorkerEventEmitter {
  private readonly commands: ScriptedRedis;
  private readonly readers = new Map<string, ScriptedRedis>();
  private readonly promoters: DelayedPromoter[] = [];
  private readonly slots: Slots;
  private readonly stopping = new AbortController();
  private readonly inFlight = new Map<string, AbortController>();
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly random: () => number;
  private loops: Promise<void>[] = [];

  constructor(private readonly options: WorkerOptions) {
    super();
    this.logger = options.logger ?? silentLogger;
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.slots = new Slots(options.worker.concurrency);
    // Transitions queue up while Redis reconnects rather than fail: an ack must not be lost to a blip.
    this.commands = createRedis(options.redis, { failFast: false, connectionName: `${this.name}:commands` });
    this.commands.on('error', () => undefined);
    for (const type of Object.keys(options.handlers)) options.registry.get(type);
  }

  /** This worker's consumer name. */
  get name(): string {
    return this.options.worker.consumerName;
  }

  /** Jobs running now. */
  get running(): number {
    return this.inFlight.size;
  }

  /** Joins every queue's consumer group and starts reading. */
  async start(): Promise<void> {
    for (const queue of this.options.queue.queues) {
      const keys = queueKeys(this.options.redis.prefix, queue);
      await this.ensureGroup(keys);
      const reader = createRedis(this.options.redis, { failFast: false, commandTimeoutMs: 0, connectionName: `${this.name}:${queue}` });
      reader.on('error', () => undefined);
      this.readers.set(queue, reader);
      const promoter = new DelayedPromoter({ redis: this.commands, prefix: this.options.redis.prefix, queue, logger: this.logger, now: this.now });
      promoter.start();
      this.promoters.push(promoter);
      this.loops.push(this.consume(queue, keys, reader));
    }
    this.logger.info({ worker: this.name, queues: this.options.queue.queues, concurrency: this.slots.capacity }, 'worker started');
  }

  /**
   * Stops taking jobs at once, gives in-flight jobs up to `timeoutMs` to finish and be acknowledged,
   * then aborts the rest, which stay in the group's pending list for another worker to reclaim.
   */
  async close(timeoutMs = this.options.worker.shutdownTimeoutMs): Promise<void> {
    if (this.stopping.signal.aborted) return;
    this.stopping.abort();
    for (const reader of this.readers.values()) reader.disconnect();
    await Promise.all([...this.loops, ...this.promoters.map((promoter) => promoter.stop())]);
    const finished = await Promise.race([this.slots.idle().then(() => true), sleep(timeoutMs).then(() => false)]);
    if (!finished) {
      this.logger.warn({ worker: this.name, unfinished: this.inFlight.size }, 'shutdown deadline passed; unfinished jobs left for another worker');
      for (const controller of this.inFlight.values()) controller.abort(new Error('worker shutting down'));
    }
    await closeRedis(this.commands);
    this.logger.info({ worker: this.name }, 'worker stopped');
  }

  private async ensureGroup(keys: QueueKeys): Promise<void> {
    try {
      // From id 0, not $: jobs added before the first worker ever started must not be skipped.
      await this.commands.xgroup('CREATE', keys.stream, WORKER_GROUP, '0', 'MKSTREAM');
    } catch (error) {
      if (!messageOf(error).includes('BUSYGROUP')) throw error;
    }
  }

  private async consume(queue: string, keys: QueueKeys, reader: ScriptedRedis): Promise<void> {
    const signal = this.stopping.signal;
    while (!signal.aborted) {
      const wanted = await this.slots.take(this.slots.capacity, signal);
      if (wanted === 0) break;
      let started: StartedJob[] = [];
      try {
        started = await this.readAndStart(keys, reader, wanted);
      } catch (error) {
        if (signal.aborted) {
          this.slots.release(wanted);
          break;
        }
        this.reportError(error, `reading ${queue}`);
        if (messageOf(error).includes('NOGROUP')) await this.ensureGroup(keys).catch(() => undefined);
        await sleep(jitter(500), signal);
      }
      this.slots.release(wanted - started.length);
      for (const job of started) void this.run(queue, keys, job);
    }
  }

  private async readAndStart(keys: QueueKeys, reader: ScriptedRedis, count: number): Promise<StartedJob[]> {
    const reply = (await reader.xreadgroup(
      'GROUP', WORKER_GROUP, this.name, 'COUNT', count, 'BLOCK', this.options.worker.blockMs, 'STREAMS', keys.stream, '>',
    )) as [string, [string, string[]][]][] | null;
    const entries = reply?.[0]?.[1] ?? [];
    if (entries.length === 0) return [];
    const jobKeys = entries.map(([, fields]) => keys.jobPrefix + (fields[1] ?? ''));
    const results = (await runScript(this.commands, 'startJobs', [keys.stream, keys.events, ...jobKeys], [
      WORKER_GROUP, this.name, this.now(), ...entries.map(([entryId]) => entryId),
    ])) as (string | number)[][];
    return results
      .filter((item) => item.length > 1)
      .map(([entryId, id, type, payload, attempt, maxAttempts]) => ({
        entryId: String(entryId),
        id: String(id),
        type: String(type),
        payload: JSON.parse(String(payload)) as Record<string, unknown>,
        attempt: Number(attempt),
        maxAttempts: Number(maxAttempts),
      }));
  }

  private async run(queue: string, keys: QueueKeys, job: StartedJob): Promise<void> {
    const controller = new AbortController();
    this.inFlight.set(job.entryId, controller);
    const startedAt = this.now();
    try {
      const type = this.options.registry.find(job.type);
      if (!type) throw new PermanentJobError(`job type "${job.type}" is not registered with this worker`);
      const result = await this.attempt(queue, job, type, controller);
      await this.complete(keys, job, result, startedAt);
    } catch (error) {
      if (this.stopping.signal.aborted && controller.signal.aborted) return;
      await this.fail(keys, job, error).catch((failError: unknown) => this.reportError(failError, `failing job ${job.id}`));
    } finally {
      this.inFlight.delete(job.entryId);
      this.slots.release(1);
    }
  }

  private async attempt(queue: string, job: StartedJob, type: RegisteredJobType, controller: AbortController): Promise<unknown> {
    const handler = this.options.handlers[job.type] as JobHandler | undefined;
    if (!handler) throw new PermanentJobError(`this worker has no handler for job type "${job.type}"`);
    const timeout = setTimeout(() => controller.abort(new Error(`timed out after ${type.timeoutMs} ms`)), type.timeoutMs);
    const aborted = new Promise<never>((_, reject) => {
      controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true });
    });
    const context: JobContext = { ...job, queue, signal: controller.signal };
    try {
      return await Promise.race([Promise.resolve().then(() => handler(context)), aborted]);
    } finally {
      clearTimeout(timeout);
    }
  }

  private async complete(keys: QueueKeys, job: StartedJob, result: unknown, startedAt: number): Promise<void> {
    const resultJson = result === undefined ? '' : JSON.stringify(result) ?? '';
    if (Buffer.byteLength(resultJson) > MAX_RESULT_BYTES) {
      throw new PermanentJobError(`the handler's result is ${Buffer.byteLength(resultJson)} bytes of JSON; at most ${MAX_RESULT_BYTES} are stored`);
    }
    await runScript(this.commands, 'completeJob', [keys.stream, keys.events, keys.jobPrefix + job.id], [
      WORKER_GROUP, job.entryId, this.now(), this.name, resultJson, this.options.queue.retentionMs,
    ]);
    this.emit('job:completed', { id: job.id, type: job.type, attempt: job.attempt, durationMs: this.now() - startedAt });
  }

  private async fail(keys: QueueKeys, job: StartedJob, error: unknown): Promise<void> {
    const message = messageOf(error).slice(0, MAX_ERROR_LENGTH) || 'failed without a message';
    const policy = this.options.registry.find(job.type)?.retry ?? DEFAULT_RETRY_POLICY;
    const permanent = error instanceof PermanentJobError;
    const reason = permanent ? 'permanent' : job.attempt >= job.maxAttempts ? 'exhausted' : '';
    const now = this.now();
    const retryAt = now + nextRetryDelay(job.attempt, policy, this.random);
    const next = (await runScript(this.commands, 'failJob', [keys.stream, keys.delayed, keys.events, keys.jobPrefix + job.id, keys.dlq], [
      WORKER_GROUP, job.entryId, now, this.name, message, retryAt, reason,
    ])) as 'pending' | 'retrying' | 'dead' | 0;
    if (next !== 0) this.emit('job:failed', { id: job.id, type: job.type, attempt: job.attempt, error: message, next });
  }

  private reportError(error: unknown, during: string): void {
    this.logger.warn({ worker: this.name, err: messageOf(error) }, `worker error while ${during}`);
    this.emit('worker:error', { error: messageOf(error), during });
  }
}
