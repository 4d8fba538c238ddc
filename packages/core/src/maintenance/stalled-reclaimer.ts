import { messageOf } from '../errors';
import { WORKER_GROUP, type QueueKeys } from '../keys';
import { silentLogger, type Logger } from '../logger';
import { runScript, type ScriptedRedis } from '../redis/scripts';
import type { Slots } from '../slots';
import { jitter, sleep } from '../sleep';

/** A stream entry taken over from a silent worker: its id and its job's id. */
export interface ClaimedEntry {
  entryId: string;
  jobId: string;
}

/** Settings of a `StalledReclaimer`. */
export interface StalledReclaimerOptions {
  redis: ScriptedRedis;
  keys: QueueKeys;
  queue: string;
  consumer: string;
  visibilityTimeoutMs: number;
  maxDeliveries: number;
  /** The worker's concurrency limit: never claim more than it can run. */
  slots: Slots;
  /** Starts claimed entries; called with slots already taken for each of them. */
  startClaimed: (entries: ClaimedEntry[]) => Promise<void>;
  logger?: Logger;
  now?: () => number;
}

/**
 * Recovers from crashed workers: takes over entries idle past the visibility timeout (XAUTOCLAIM),
 * dead-letters poison jobs, and removes consumers that are gone and own nothing. Runs in every
 * worker; XAUTOCLAIM hands each stalled entry to one of them.
 */
export class StalledReclaimer {
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;
  private readonly logger: Logger;
  private readonly now: () => number;
  private lastConsumerSweep = 0;

  constructor(private readonly options: StalledReclaimerOptions) {
    this.logger = options.logger ?? silentLogger;
    this.now = options.now ?? Date.now;
  }

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loop;
  }

  /** Claims one batch of stalled entries, as many as there are free slots. Returns how many were claimed. */
  async runOnce(): Promise<number> {
    const { redis, keys, slots, consumer, visibilityTimeoutMs, maxDeliveries } = this.options;
    const wanted = slots.tryTake(slots.capacity);
    if (wanted === 0) return 0;
    const claimed: ClaimedEntry[] = [];
    try {
      const [flat, poisoned, deleted] = (await runScript(redis, 'reclaimStalled', [keys.stream, keys.events, keys.dlq], [
        WORKER_GROUP, consumer, visibilityTimeoutMs, wanted, this.now(), maxDeliveries, keys.jobPrefix,
      ])) as [string[], number, number];
      for (let i = 0; i + 1 < flat.length; i += 2) claimed.push({ entryId: flat[i] as string, jobId: flat[i + 1] as string });
      if (claimed.length + poisoned + deleted > 0) {
        this.logger.info({ queue: this.options.queue, claimed: claimed.length, poisoned, deleted }, 'reclaimed stalled jobs');
      }
    } finally {
      slots.release(wanted - claimed.length);
    }
    if (claimed.length > 0) await this.options.startClaimed(claimed);
    return claimed.length;
  }

  /** Removes consumers idle far past the visibility timeout that own no pending entries. Returns how many. */
  async removeGoneConsumers(): Promise<number> {
    const { redis, keys, consumer, visibilityTimeoutMs } = this.options;
    const consumers = (await redis.xinfo('CONSUMERS', keys.stream, WORKER_GROUP)) as (string | number)[][];
    let removed = 0;
    for (const fields of consumers) {
      const name = String(fields[fields.indexOf('name') + 1]);
      if (name === consumer) continue;
      removed += Number(await runScript(redis, 'removeGoneConsumer', [keys.stream], [WORKER_GROUP, name, visibilityTimeoutMs * 10]));
    }
    return removed;
  }

  private async run(): Promise<void> {
    const signal = this.stopping.signal;
    const interval = Math.max(250, Math.floor(this.options.visibilityTimeoutMs / 4));
    while (!signal.aborted) {
      await sleep(jitter(interval), signal);
      if (signal.aborted) break;
      try {
        while ((await this.runOnce()) > 0 && !signal.aborted);
        if (this.now() - this.lastConsumerSweep > this.options.visibilityTimeoutMs * 10) {
          this.lastConsumerSweep = this.now();
          await this.removeGoneConsumers();
        }
      } catch (error) {
        this.logger.warn({ queue: this.options.queue, err: messageOf(error) }, 'reclaiming stalled jobs failed; retrying');
      }
    }
  }
}
