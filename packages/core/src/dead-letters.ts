import type { RedisConfig } from './config';
import { InvalidJobError, JobNotFoundError, JobStateConflictError } from './errors';
import { isoFromMs, jobFromHash, type Job } from './job';
import { queueKeys } from './keys';
import { toRedisError } from './redis/client';
import { runOnJobInAnyQueue, runScript, type ScriptedRedis } from './redis/scripts';

/** A job in the dead-letter stream: the job, why it died and when. */
export interface DeadJob extends Omit<Job, 'history'> {
  reason: string;
  deadAt: string;
}

/** One page of the dead-letter streams, newest first. */
export interface DeadJobPage {
  jobs: DeadJob[];
  /** Pass back as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

const CURSOR = /^\d{1,15}-\d{1,15}$/;

/** How many dead-letter entries one script call looks at. */
const RETRY_BATCH = 500;

/** Reading and retrying the dead-letter streams of a set of queues. */
export class DeadLetters {
  constructor(
    private readonly redis: ScriptedRedis,
    private readonly redisConfig: RedisConfig,
    private readonly queues: readonly string[],
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Dead jobs newest first, across `queue` or every queue. The cursor is the stream id of the last
   * job returned; ids of different queues' streams order by time, so one cursor serves them all.
   */
  async list(options: { queue?: string; limit: number; cursor?: string }): Promise<DeadJobPage> {
    if (options.cursor !== undefined && !CURSOR.test(options.cursor)) {
      throw new InvalidJobError('cursor is not one this API returned; pass the nextCursor of the previous page');
    }
    const queues = options.queue === undefined ? this.queues : [options.queue];
    const end = options.cursor === undefined ? '+' : `(${options.cursor}`;
    try {
      const pages = await Promise.all(
        queues.map(async (queue) => {
          const entries = await this.redis.xrevrange(queueKeys(this.redisConfig.prefix, queue).dlq, end, '-', 'COUNT', options.limit + 1);
          return entries.map(([entryId, fields]) => ({ queue, entryId, fields: pairs(fields) }));
        }),
      );
      const entries = pages.flat().sort((a, b) => compareIds(b.entryId, a.entryId)).slice(0, options.limit + 1);
      const page = entries.slice(0, options.limit);
      const pipeline = this.redis.pipeline();
      for (const entry of page) pipeline.hgetall(queueKeys(this.redisConfig.prefix, entry.queue).jobPrefix + entry.fields.id);
      const hashes = (await pipeline.exec()) ?? [];
      const jobs = page.flatMap((entry, index) => {
        const hash = hashes[index]?.[1] as Record<string, string> | undefined;
        if (!hash?.id) return [];
        const { history: _history, ...job } = jobFromHash(hash);
        return [{ ...job, reason: entry.fields.reason ?? 'exhausted', deadAt: isoFromMs(entry.fields.at ?? 0) }];
      });
      return { jobs, nextCursor: entries.length > options.limit ? (page.at(-1)?.entryId ?? null) : null };
    } catch (error) {
      throw toRedisError(error);
    }
  }

  /** Sends a dead job back to its queue with its attempts reset. 404 unknown, 409 not dead. */
  async retry(id: string): Promise<void> {
    let reply: unknown;
    try {
      reply = await runOnJobInAnyQueue(this.redis, 'retryDeadJob', this.queues, (queue) => {
        const keys = queueKeys(this.redisConfig.prefix, queue);
        return [keys.stream, keys.events, keys.jobPrefix + id, keys.dlq];
      }, [id, this.now()]);
    } catch (error) {
      throw toRedisError(error);
    }
    if (reply === 0) throw new JobNotFoundError(id);
    if (reply !== 1) throw new JobStateConflictError(id, String(reply), `Job ${id} is ${String(reply)}; only dead jobs can be retried.`);
  }

  /**
   * Sends back every dead job of `queue` (or every queue) whose type is `type` (or any), oldest first,
   * in batches that are each one atomic step. Returns how many went back.
   */
  async retryAll(filter: { queue?: string; type?: string }): Promise<number> {
    const queues = filter.queue === undefined ? this.queues : [filter.queue];
    let retried = 0;
    try {
      for (const queue of queues) {
        const keys = queueKeys(this.redisConfig.prefix, queue);
        let after = '';
        do {
          const [count, last] = (await runScript(this.redis, 'retryDeadJobs', [keys.stream, keys.events, keys.dlq], [
            this.now(), filter.type ?? '', RETRY_BATCH, after, keys.jobPrefix,
          ])) as [number, string];
          retried += count;
          after = last;
        } while (after !== '');
      }
    } catch (error) {
      throw toRedisError(error);
    }
    return retried;
  }
}

function pairs(flat: string[]): Record<string, string> {
  const record: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) record[flat[i] as string] = flat[i + 1] as string;
  return record;
}

function compareIds(a: string, b: string): number {
  const [aMs, aSeq] = a.split('-').map(BigInt) as [bigint, bigint];
  const [bMs, bSeq] = b.split('-').map(BigInt) as [bigint, bigint];
  if (aMs !== bMs) return aMs < bMs ? -1 : 1;
  return aSeq === bSeq ? 0 : aSeq < bSeq ? -1 : 1;
}
