import type pg from 'pg';
import { messageOf } from '../errors';
import { queueKeys } from '../keys';
import { silentLogger, type Logger } from '../logger';
import { runScript, type ScriptedRedis } from '../redis/scripts';
import { jitter, sleep } from '../sleep';
import { jobEventsInsertBatch } from './job-events-repository';

/** Stream entries read per batch; each holds the events of one script call. */
const ENTRIES_PER_READ = 200;

/** Settings of a `HistoryRecorder`. */
export interface HistoryRecorderOptions {
  redis: ScriptedRedis;
  pool: pg.Pool;
  prefix: string;
  queues: readonly string[];
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
 */
export class HistoryRecorder {
  private readonly logger: Logger;
  private readonly batchBytes: number;
  private readonly idleMs: number;
  private readonly leaseMs: number;
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;
  private failing = false;

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

  /**
   * Stops the loop, drains what is left once more and gives up the leases (best effort), so a clean
   * exit leaves nothing behind and another recorder takes over at once.
   */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loop;
    this.loop = undefined;
    try {
      for (const queue of this.options.queues) {
        while (await this.runOnce(queue));
        const keys = queueKeys(this.options.prefix, queue);
        await runScript(this.options.redis, 'releaseLease', [keys.recorderLease], [this.options.owner]);
      }
    } catch (error) {
      this.logger.warn({ err: messageOf(error) }, 'history not flushed at shutdown; another recorder will write it');
    }
  }

  /**
   * Records one batch of `queue`'s events if this process holds the queue's lease: whole stream
   * entries (one per script call) up to `batchBytes` of events. Returns whether entries are left.
   */
  async runOnce(queue: string): Promise<boolean> {
    const { redis, pool, prefix, owner } = this.options;
    const keys = queueKeys(prefix, queue);
    const held = await runScript(redis, 'acquireLease', [keys.recorderLease], [owner, this.leaseMs]);
    if (held !== 1) return false;
    const entries = await redis.xrange(keys.events, '-', '+', 'COUNT', ENTRIES_PER_READ);
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
    await jobEventsInsertBatch(pool, eventArrays);
    await redis.xdel(keys.events, ...entryIds);
    return entryIds.length < entries.length || entries.length === ENTRIES_PER_READ;
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
