import type pg from 'pg';
import { messageOf } from '../errors.js';
import { queuePartition, type Partition, type QueueLayouts } from '../partitions.js';
import { silentLogger, type Logger } from '../logger.js';
import { runScript, type ScriptedRedis } from '../redis/scripts.js';
import { jitter, sleep } from '../sleep.js';
import { jobEventsInsertBatch } from './job-events-repository.js';
import { jobMetricsDepthRecord } from './metrics-repository.js';

/** Stream entries read per batch; each holds the events of one script call. */
const ENTRIES_PER_READ = 200;
const MINUTE_MS = 60_000;
/** Most entries kept in a queue's set-aside stream; the oldest go first. */
const SET_ASIDE_MAX_ENTRIES = 10_000;

/**
 * SQLSTATE classes of errors caused by what a batch holds, not by the connection or the server's
 * state: data exceptions (22: a string or JSON PostgreSQL cannot read), integrity violations (23)
 * and program limits (54: JSON nested past the parser's stack). Retrying such a batch can never
 * succeed; any other error (the server down, slow or restarting) is waited out.
 */
const CONTENT_ERROR_CLASSES = ['22', '23', '54'];

function isContentError(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && code.length === 5 && CONTENT_ERROR_CLASSES.includes(code.slice(0, 2));
}

/** The job ids an events array names, for a log line an operator can search by. */
function jobIdsIn(events: string): string[] {
  return [...new Set([...events.matchAll(/"job":"([0-9a-fA-F-]{36})"/g)].map((match) => match[1] as string))];
}

/** Settings of a `HistoryRecorder`. */
export interface HistoryRecorderOptions {
  redis: ScriptedRedis;
  pool: pg.Pool;
  prefix: string;
  queues: readonly string[];
  /** Which partitions each queue has. Default: one each, the queue's own keys. */
  layouts?: QueueLayouts;
  /** Unique name of this process, the lease holder's identity. */
  owner: string;
  logger?: Logger;
  /** Most characters of events JSON written per statement (a single stream entry holding more is written whole). Default 1 MiB. */
  batchBytes?: number;
  /** Pause when there is nothing to record. Default 50 ms. */
  idleMs?: number;
  /** Lease length; a crashed recorder's queue is taken over after it. Default 10 s. */
  leaseMs?: number;
}

/**
 * Drains each queue's events stream into PostgreSQL in batches. Every worker (and the API) runs
 * one; a lease per queue lets one drain at a time, which keeps each queue's events in order. Events
 * are deleted from Redis only after their transaction commits, so PostgreSQL being down costs no
 * history: it waits in Redis, not in process memory, and is written when PostgreSQL is back.
 *
 * No entry can stop the history: when PostgreSQL refuses a batch for what it holds, the batch is
 * split until the refused events are alone; everything else is recorded, and each refused event is
 * set aside in the queue's `history-set-aside` stream with PostgreSQL's error, and logged with its
 * job's id, instead of being retried forever while everything behind it waits.
 */
export class HistoryRecorder {
  private readonly logger: Logger;
  private readonly batchBytes: number;
  private readonly idleMs: number;
  private readonly leaseMs: number;
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;
  private failing = false;
  private setAsideCount = 0;
  /** Per queue served, the minute its depth was last sampled in. */
  private readonly depthSampled = new Map<string, number>();

  constructor(private readonly options: HistoryRecorderOptions) {
    this.logger = options.logger ?? silentLogger;
    this.batchBytes = options.batchBytes ?? 1_048_576;
    this.idleMs = options.idleMs ?? 50;
    this.leaseMs = options.leaseMs ?? 10_000;
  }

  /** Starts draining in the background. */
  start(): void {
    this.loop ??= this.run();
  }

  /** Events this recorder has set aside since it started (see the class comment). */
  get setAside(): number {
    return this.setAsideCount;
  }

  /**
   * Stops the loop, drains what is left once more and gives up the leases (best effort), so a clean
   * exit leaves nothing behind and another recorder takes over at once. The drain stops at what the
   * events streams held when the stop began: other workers' events keep coming, and are theirs.
   */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loop;
    this.loop = undefined;
    try {
      for (const partition of this.options.queues.flatMap((queue) => this.partitionsOf(queue))) {
        const { keys } = partition;
        const last = (await this.options.redis.xrevrange(keys.events, '+', '-', 'COUNT', 1))[0]?.[0];
        if (last !== undefined) while (await this.recordPartition(partition, last));
        await runScript(this.options.redis, 'releaseLease', [keys.recorderLease], [this.options.owner]);
      }
    } catch (error) {
      this.logger.warn({ err: messageOf(error) }, 'history not flushed at shutdown; another recorder will write it');
    }
  }

  /**
   * Records one batch of each of `queue`'s partitions' events where this process holds the
   * partition's lease. Returns whether entries are left.
   */
  async runOnce(queue: string): Promise<boolean> {
    let left = false;
    for (const partition of this.partitionsOf(queue)) left = (await this.recordPartition(partition)) || left;
    await this.sampleDepth(queue);
    return left;
  }

  /**
   * Once a minute, records how many of `queue`'s jobs wait (pending, over all its partitions) in the
   * metrics history, if this process holds the lease of the queue's first partition: one sample per
   * queue and minute, whichever recorders run.
   */
  private async sampleDepth(queue: string): Promise<void> {
    const minute = Math.floor(Date.now() / MINUTE_MS) * MINUTE_MS;
    if (this.depthSampled.get(queue) === minute) return;
    const { redis, owner } = this.options;
    const partitions = this.partitionsOf(queue);
    const lease = partitions[0]?.keys.recorderLease;
    if (lease === undefined || (await runScript(redis, 'acquireLease', [lease], [owner, this.leaseMs])) !== 1) return;
    const pending = await Promise.all(partitions.map(({ keys }) => redis.hget(keys.counts, 'pending')));
    await jobMetricsDepthRecord(this.options.pool, minute, queue, pending.reduce((sum, count) => sum + Math.max(0, Number(count ?? 0)), 0));
    this.depthSampled.set(queue, minute);
  }

  private partitionsOf(queue: string): Partition[] {
    return this.options.layouts?.all(queue) ?? [queuePartition(this.options.prefix, queue, 1, 0)];
  }

  /**
   * Records one batch of a partition's events if this process holds its lease: whole stream entries
   * (one per script call) up to `batchBytes` of events, and up to entry `until` when given. Returns
   * whether entries are left.
   */
  private async recordPartition(partition: Partition, until = '+'): Promise<boolean> {
    const { redis, owner } = this.options;
    const { keys } = partition;
    const held = await runScript(redis, 'acquireLease', [keys.recorderLease], [owner, this.leaseMs]);
    if (held !== 1) return false;
    const entries = await redis.xrange(keys.events, '-', until, 'COUNT', ENTRIES_PER_READ);
    if (entries.length === 0) return false;
    const eventArrays: string[] = [];
    const entryIds: string[] = [];
    let bytes = 0;
    for (const [id, fields] of entries) {
      const events = fields[fields.indexOf('events') + 1] ?? '[]';
      if (entryIds.length > 0 && bytes + events.length > this.batchBytes) break;
      bytes += events.length;
      entryIds.push(id);
      eventArrays.push(events);
    }
    await this.recordOrSetAside(partition, eventArrays);
    await redis.xdel(keys.events, ...entryIds);
    return entryIds.length < entries.length || entries.length === ENTRIES_PER_READ;
  }

  /**
   * Writes `eventArrays` (JSON arrays of events); when PostgreSQL refuses them for their content,
   * halves the batch, and then an entry's events one by one, until each refused event is alone, and
   * sets those aside. Any other error is thrown: the batch is tried again later, whole.
   */
  private async recordOrSetAside(partition: Partition, eventArrays: readonly string[]): Promise<void> {
    try {
      await jobEventsInsertBatch(this.options.pool, eventArrays);
      return;
    } catch (error) {
      if (!isContentError(error)) throw error;
      if (eventArrays.length === 1) {
        const events = JSON.parse(eventArrays[0] as string) as unknown[];
        if (events.length <= 1) return this.setAsideEvents(partition, eventArrays[0] as string, error);
        return this.recordOrSetAside(partition, events.map((event) => `[${JSON.stringify(event)}]`));
      }
    }
    const half = Math.ceil(eventArrays.length / 2);
    await this.recordOrSetAside(partition, eventArrays.slice(0, half));
    await this.recordOrSetAside(partition, eventArrays.slice(half));
  }

  private async setAsideEvents({ queue, keys }: Partition, events: string, error: unknown): Promise<void> {
    const jobs = jobIdsIn(events);
    await this.options.redis.xadd(keys.historySetAside, 'MAXLEN', '~', SET_ASIDE_MAX_ENTRIES, '*',
      'jobs', jobs.join(','), 'error', messageOf(error), 'events', events, 'at', String(Date.now()));
    this.setAsideCount += 1;
    this.logger.error({ queue, jobs, err: messageOf(error), stream: keys.historySetAside },
      'PostgreSQL refused a job history event; it is set aside in Redis, and everything else is recorded');
  }

  private async run(): Promise<void> {
    const signal = this.stopping.signal;
    while (!signal.aborted) {
      let more = false;
      try {
        for (const queue of this.options.queues) more = (await this.runOnce(queue)) || more;
        this.recovered();
      } catch (error) {
        this.failed(error);
        await sleep(jitter(1000), signal);
        continue;
      }
      if (!more) await sleep(this.idleMs, signal);
    }
  }

  private failed(error: unknown): void {
    if (!this.failing) this.logger.warn({ err: messageOf(error) }, 'history recorder cannot write; events wait in Redis');
    this.failing = true;
  }

  private recovered(): void {
    if (this.failing) this.logger.info({}, 'history recorder writing again');
    this.failing = false;
  }
}
