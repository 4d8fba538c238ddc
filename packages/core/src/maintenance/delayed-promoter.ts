import { messageOf } from '../errors.js';
import type { QueueKeys } from '../keys.js';
import { silentLogger, type Logger } from '../logger.js';
import { runTransition, type ScriptedRedis } from '../redis/scripts.js';
import { jitter, sleep } from '../sleep.js';

/** Settings of a `DelayedPromoter`. */
export interface DelayedPromoterOptions {
  redis: ScriptedRedis;
  /** The keys of the queue's partition it promotes in. */
  keys: QueueKeys;
  /** The queue's name, for the log. */
  queue: string;
  logger?: Logger;
  /** Jobs promoted per script call. Default 500. */
  batchSize?: number;
  /** Longest sleep between checks: the safety net should an announcement of an earlier job be missed (e.g. during a reconnect). Default 100 ms. */
  maxSleepMs?: number;
  now?: () => number;
}

/**
 * Moves due scheduled jobs and retries from the delayed ZSET into the stream. It sleeps until the
 * earliest job is due (or `maxSleepMs`), and is woken early when a job due sooner is added (the
 * worker relays the enqueue script's announcement). It runs in every worker at once: the script's
 * ZREM makes exactly one caller promote each job.
 */
export class DelayedPromoter {
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;
  private napping: AbortController | undefined;
  private readonly logger: Logger;
  private readonly now: () => number;

  constructor(private readonly options: DelayedPromoterOptions) {
    this.logger = options.logger ?? silentLogger;
    this.now = options.now ?? Date.now;
  }

  /** Starts promoting in the background. */
  start(): void {
    this.loop ??= this.run();
  }

  /** Stops and waits for the loop to end. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loop;
  }

  /** Cuts the current sleep short: a job due earlier than the promoter planned for was added. */
  wake(): void {
    this.napping?.abort();
  }

  /**
   * Promotes one batch of due jobs. Returns how many were promoted and when the next job is due (ms,
   * or null). The due jobs are read first, so that promoteDueJobs names their hashes.
   */
  async runOnce(): Promise<{ promoted: number; nextDueAt: number | null }> {
    const { redis, keys } = this.options;
    const now = this.now();
    const [due, first] = await Promise.all([
      redis.zrangebyscore(keys.delayed, '-inf', now, 'LIMIT', 0, this.options.batchSize ?? 500),
      redis.zrange(keys.delayed, 0, 0, 'WITHSCORES'),
    ]);
    if (due.length === 0) return { promoted: 0, nextDueAt: first[1] === undefined ? null : Number(first[1]) };
    const [promoted, nextDue] = (await runTransition(redis, 'promoteDueJobs', keys, now,
      [...keys.lanes, keys.delayed, ...due.map((id) => keys.job(id))], [now, ...due])) as [number, string];
    const nextDueAt = Number(nextDue);
    return { promoted, nextDueAt: nextDueAt < 0 ? null : nextDueAt };
  }

  /** Sleeps until `ms` pass, the promoter stops, or `wake` is called. */
  private async nap(ms: number): Promise<void> {
    this.napping = new AbortController();
    const stop = (): void => this.napping?.abort();
    this.stopping.signal.addEventListener('abort', stop, { once: true });
    await sleep(ms, this.napping.signal);
    this.stopping.signal.removeEventListener('abort', stop);
  }

  private async run(): Promise<void> {
    const signal = this.stopping.signal;
    const maxSleepMs = this.options.maxSleepMs ?? 100;
    while (!signal.aborted) {
      try {
        const { promoted, nextDueAt } = await this.runOnce();
        if (promoted === (this.options.batchSize ?? 500)) continue;
        const untilDue = nextDueAt === null ? maxSleepMs : nextDueAt - this.now();
        await this.nap(Math.max(1, Math.min(untilDue, maxSleepMs)));
      } catch (error) {
        this.logger.warn({ err: messageOf(error), queue: this.options.queue }, 'promoting delayed jobs failed; retrying');
        await sleep(jitter(1000), signal);
      }
    }
  }
}
