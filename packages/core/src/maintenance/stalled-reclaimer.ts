import type { QueueConfig } from '../config.js';
import type { TypeRouting } from '../job-runner.js';
import { messageOf } from '../errors.js';
import { WORKER_GROUP, type QueueKeys } from '../keys.js';
import { silentLogger, type Logger } from '../logger.js';
import { DEAD_TRIM_BATCH, trimDeadLetters } from '../dead-letter-trim.js';
import { streamEntries, type StreamEntry } from '../redis/entries.js';
import { runScript, runTransition, type ScriptedRedis } from '../redis/scripts.js';
import { jitter } from '../sleep.js';

/** Entries looked at per pass beyond the `count` wanted: those left to other workers or waiting as suspects. */
const EXTRA_CANDIDATES = 100;

/** What one reclaim pass took. */
export interface ReclaimPass {
  claimed: StreamEntry[];
  /** The one claimed entry is a suspect (redelivered before): run it with nothing else beside it. */
  isolated: boolean;
  /** Suspects left for a worker that runs nothing; workers stop taking new jobs until one does. */
  suspectsWaiting: number;
}

/** Settings of a `StalledReclaimer`. */
export interface StalledReclaimerOptions {
  redis: ScriptedRedis;
  keys: QueueKeys;
  queue: string;
  consumer: string;
  visibilityTimeoutMs: number;
  maxDeliveries: number;
  /** Bounds of the dead-letter stream, kept by poison dead-lettering and by each sweep. */
  deadLetters: Pick<QueueConfig, 'deadRetentionMs' | 'deadMaxJobs'>;
  /** Which types the worker serves: entries of others are left to live workers of their type. */
  routing: TypeRouting;
  /** Idle time after which a consumer owning nothing is removed. Default ten visibility timeouts. */
  goneConsumerIdleMs?: number;
  logger?: Logger;
  now?: () => number;
}

/**
 * Recovers from crashed workers: takes over entries idle past the visibility timeout, dead-letters
 * poison jobs, and removes consumers that are gone and own nothing. Every worker's read loop calls
 * it when a pass is due, with the slots it has free, so reclaimed jobs count against the worker's
 * concurrency like any other; the script hands each stalled entry to one worker. Entries redelivered
 * before are run one at a time, alone, so that a job that kills its worker takes no others with it.
 */
export class StalledReclaimer {
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly intervalMs: number;
  private readonly goneConsumerIdleMs: number;
  private nextPassAt: number;
  private nextSweepAt: number;

  constructor(private readonly options: StalledReclaimerOptions) {
    this.logger = options.logger ?? silentLogger;
    this.now = options.now ?? Date.now;
    this.intervalMs = Math.max(250, Math.floor(options.visibilityTimeoutMs / 4));
    this.goneConsumerIdleMs = options.goneConsumerIdleMs ?? options.visibilityTimeoutMs * 10;
    this.nextPassAt = this.now() + jitter(this.intervalMs);
    this.nextSweepAt = this.now() + jitter(this.goneConsumerIdleMs);
  }

  /** Whether a pass is due. */
  get due(): boolean {
    return this.now() >= this.nextPassAt;
  }

  /**
   * One pass: claims up to `count` stalled entries for this worker to start, and now and then sweeps
   * gone consumers. `idle` says the worker runs nothing, so it may take a suspect to run alone.
   * Failures are logged and survived; the next pass tries again.
   */
  async claim(count: number, idle: boolean): Promise<ReclaimPass> {
    this.nextPassAt = this.now() + jitter(this.intervalMs);
    try {
      const pass = await this.runOnce(count, idle);
      if (this.now() >= this.nextSweepAt) {
        this.nextSweepAt = this.now() + jitter(this.goneConsumerIdleMs);
        await this.removeGoneConsumers();
        await this.trimDeadLetters();
      }
      return pass;
    } catch (error) {
      this.logger.warn({ queue: this.options.queue, err: messageOf(error) }, 'reclaiming stalled jobs failed; retrying');
      return { claimed: [], isolated: false, suspectsWaiting: 0 };
    }
  }

  /**
   * Claims up to `count` entries idle past the visibility timeout, dead-lettering poison ones, from
   * each priority band's stream in turn, highest first. A suspect to run alone is taken only before
   * anything else is claimed, and ends the pass.
   */
  async runOnce(count: number, idle: boolean): Promise<ReclaimPass> {
    const pass: ReclaimPass = { claimed: [], isolated: false, suspectsWaiting: 0 };
    for (let band = 0; band < this.options.keys.streams.length && pass.claimed.length < count && !pass.isolated; band += 1) {
      const found = await this.reclaimBand(band, count - pass.claimed.length, idle && pass.claimed.length === 0);
      pass.claimed.push(...found.claimed);
      pass.isolated = found.isolated;
      pass.suspectsWaiting += found.suspectsWaiting;
    }
    return pass;
  }

  /**
   * runOnce for one band's stream. The candidates and their jobs' ids are read first, so that
   * reclaimStalled names the job hashes it touches; it checks each candidate again. An idle entry
   * deleted from the stream has no job to run from it: it is only acknowledged.
   */
  private async reclaimBand(band: number, count: number, idle: boolean): Promise<ReclaimPass> {
    const { redis, keys, consumer, visibilityTimeoutMs, maxDeliveries } = this.options;
    const stream = keys.streams[band] as string;
    const pending = await pendingIdle(redis, stream, visibilityTimeoutMs, count + EXTRA_CANDIDATES);
    if (pending.length === 0) return { claimed: [], isolated: false, suspectsWaiting: 0 };
    const entries = await Promise.all(pending.map(([entryId]) => redis.xrange(stream, entryId, entryId)));
    const candidates: StreamEntry[] = [];
    const gone: string[] = [];
    entries.forEach((found, index) => {
      const entryId = (pending[index] as [string])[0];
      const jobId = found[0]?.[1][1];
      if (jobId === undefined) gone.push(entryId);
      else candidates.push({ band, entryId, jobId });
    });
    if (gone.length > 0) await redis.xack(stream, WORKER_GROUP, ...gone);
    const now = this.now();
    const [flat, poisoned, deleted, isolated, suspects] = (await runTransition(redis, 'reclaimStalled', keys, now,
      [stream, keys.dlq, ...candidates.map((entry) => keys.job(entry.jobId))], [
        WORKER_GROUP, consumer, visibilityTimeoutMs, count, now, maxDeliveries, idle ? '1' : '0',
        this.options.routing.served, this.options.routing.elsewhere(),
        ...candidates.flatMap((entry) => [entry.entryId, entry.jobId]),
      ])) as [string[], number, number, number, number];
    if (poisoned > 0) await trimDeadLetters(redis, keys, this.options.deadLetters, now);
    const claimed = streamEntries(flat, band);
    if (claimed.length + poisoned + deleted + gone.length > 0) {
      this.logger.info({
        queue: this.options.queue, claimed: claimed.length, isolated: isolated === 1, poisoned, deleted: deleted + gone.length, suspects,
      }, 'reclaimed stalled jobs');
    }
    return { claimed, isolated: isolated === 1, suspectsWaiting: suspects };
  }

  /**
   * Trims the dead-letter stream to its age and length bounds, as each new dead job does, so that
   * old dead jobs leave Redis even when no job dies for a while. Returns how many were trimmed.
   */
  async trimDeadLetters(): Promise<number> {
    const { redis, keys, deadLetters } = this.options;
    let trimmed = 0;
    let batch: number;
    do {
      batch = await trimDeadLetters(redis, keys, deadLetters, this.now());
      trimmed += batch;
    } while (batch === DEAD_TRIM_BATCH);
    return trimmed;
  }

  /**
   * Removes consumers idle past `goneConsumerIdleMs` that own no pending entries, from each band's
   * stream (a consumer is the group's in each stream it read). Returns how many.
   */
  async removeGoneConsumers(): Promise<number> {
    const { redis, keys, consumer } = this.options;
    let removed = 0;
    for (const stream of keys.streams) {
      const consumers = (await redis.xinfo('CONSUMERS', stream, WORKER_GROUP).catch(unlessNoGroup([]))) as (string | number)[][];
      for (const fields of consumers) {
        const name = String(fields[fields.indexOf('name') + 1]);
        if (name === consumer) continue;
        removed += Number(await runScript(redis, 'removeGoneConsumer', [stream], [WORKER_GROUP, name, this.goneConsumerIdleMs]));
      }
    }
    return removed;
  }
}

/** The entries of `stream` idle for `minIdleMs` at least, oldest first: {entryId, …} each. */
async function pendingIdle(redis: ScriptedRedis, stream: string, minIdleMs: number, count: number): Promise<[string, ...unknown[]][]> {
  return (await redis.xpending(stream, WORKER_GROUP, 'IDLE', minIdleMs, '-', '+', count).catch(unlessNoGroup([]))) as [string, ...unknown[]][];
}

/** A band's stream that no worker has joined yet (or that a Redis restart lost) has no group: nothing is pending in it. */
function unlessNoGroup<T>(nothing: T): (error: unknown) => T {
  return (error) => {
    if (/NOGROUP|no such key/i.test(messageOf(error))) return nothing;
    throw error;
  };
}
