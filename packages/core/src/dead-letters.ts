import { InvalidJobError, JobNotFoundError, JobStateConflictError } from './errors.js';
import { isoFromMs, jobFromHash, type ListedJob } from './job.js';
import type { QueueKeys } from './keys.js';
import { LIST_PAGE_MAX_BYTES, LIST_VALUE_MAX_BYTES } from './limits.js';
import { takeWithinBytes } from './list-page.js';
import { placesOfJob, type QueueLayouts } from './partitions.js';
import { toRedisError } from './redis/client.js';
import { entryFields } from './redis/entries.js';
import { runTransition, type ScriptedRedis } from './redis/scripts.js';

/** A job in the dead-letter stream: the job as listings carry it (see `ListedJob`), why it died and when. */
export interface DeadJob extends ListedJob {
  reason: string;
  deadAt: string;
}

/** One page of the dead-letter streams, newest first. */
export interface DeadJobPage {
  jobs: DeadJob[];
  /** Pass back as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

/** A cursor: a stream id, then `~` and the rank of its partition (absent in cursors of one partition per queue). */
const CURSOR = /^(\d{1,15}-\d{1,15})(?:~(\d{1,5}))?$/;

/** The job-hash fields `jobFromHash` reads, but the payload and result (read apart, and only when small) and the history. */
const LISTED_FIELDS = ['id', 'queue', 'type', 'status', 'attempts', 'maxAttempts', 'priority', 'runAt', 'createdAt', 'updatedAt', 'finishedAt', 'lastError', 'idempotencyKey', 'progress'];

/** How many dead-letter entries one script call of a bulk action looks at. */
const RETRY_BATCH = 500;

/** How many dead-letter entries one round trip of `count` reads. */
const COUNT_BATCH = 1000;

/** Which dead jobs a bulk action is about: those of `queue` (or every queue) whose type is `type` (or any). */
export interface DeadJobFilter {
  queue?: string;
  type?: string;
}

/** Settings of `DeadLetters`. */
export interface DeadLettersOptions {
  /** How long a discarded job stays readable from Redis, as any finished job (QueueConfig.retentionMs). Default 1 h. */
  retentionMs?: number;
  /** Clock, injectable for tests. Default `Date.now`. */
  now?: () => number;
}

const DEFAULT_DISCARDED_RETENTION_MS = 3_600_000;

/** Reading, retrying and discarding the dead-letter streams of a set of queues. */
export class DeadLetters {
  private readonly now: () => number;
  private readonly retentionMs: number;

  constructor(
    private readonly redis: ScriptedRedis,
    private readonly layouts: QueueLayouts,
    private readonly queues: readonly string[],
    options: DeadLettersOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.retentionMs = options.retentionMs ?? DEFAULT_DISCARDED_RETENTION_MS;
  }

  /**
   * Dead jobs newest first, across `queue` or every queue. Ids of different streams order by time, so
   * one cursor serves every queue and partition: the stream id of the last job returned, and the rank
   * of its partition among all of them, which orders entries of equal ids (separate streams often
   * give the same id) so that a page ending among them loses none.
   */
  async list(options: { queue?: string; limit: number; cursor?: string }): Promise<DeadJobPage> {
    const cursor = options.cursor === undefined ? undefined : CURSOR.exec(options.cursor);
    if (cursor === null) throw new InvalidJobError('cursor is not one this API returned; pass the nextCursor of the previous page');
    const after = cursor ? { id: cursor[1] as string, rank: cursor[2] === undefined ? Number.POSITIVE_INFINITY : Number(cursor[2]) } : undefined;
    const partitions = this.queues.flatMap((queue) => this.layouts.all(queue)).map((partition, rank) => ({ partition, rank }))
      .filter(({ partition }) => options.queue === undefined || partition.queue === options.queue);
    try {
      const pages = await Promise.all(partitions.map(async ({ partition, rank }) => {
        // Up to the cursor's id, inclusive: entries of that id in partitions ranked after its own come next.
        const entries = await this.redis.xrevrange(partition.keys.dlq, after?.id ?? '+', '-', 'COUNT', options.limit + 2);
        return entries
          .filter(([entryId]) => after === undefined || entryId !== after.id || rank > after.rank)
          .map(([entryId, fields]) => ({ partition, rank, entryId, fields: entryFields(fields) }));
      }));
      const entries = pages.flat().sort((a, b) => compareIds(b.entryId, a.entryId) || a.rank - b.rank).slice(0, options.limit + 1);
      const listed = await this.listedJobs(entries.slice(0, options.limit).map((entry) => entry.partition.keys.job(entry.fields.id ?? '')));
      // A job whose hash has expired is left out; its entry still counts for where the page ends.
      const rows = entries.slice(0, options.limit).flatMap((entry, index) => {
        const job = listed[index];
        return job ? [{ cursor: `${entry.entryId}~${entry.rank}`, job: { ...job, reason: entry.fields.reason ?? 'exhausted', deadAt: isoFromMs(entry.fields.at ?? 0) } }] : [];
      });
      const page = takeWithinBytes(rows, LIST_PAGE_MAX_BYTES);
      const cut = page.length < rows.length;
      const last = entries[options.limit - 1];
      const nextCursor = cut ? (page.at(-1)?.cursor ?? null) : entries.length > options.limit && last ? `${last.entryId}~${last.rank}` : null;
      return { jobs: page.map((row) => row.job), nextCursor };
    } catch (error) {
      throw toRedisError(error);
    }
  }

  /**
   * The jobs as listings carry them, in order (undefined for a job whose hash is gone): two round
   * trips, the first learning every payload's and result's size so that a large one never leaves Redis.
   */
  private async listedJobs(keys: readonly string[]): Promise<(ListedJob | undefined)[]> {
    // Commands sent all at once rather than in one pipeline: the jobs of several partitions sit in several cluster slots.
    const { redis } = this;
    const found = await Promise.all(keys.map(async (key) => {
      const [fields, payloadBytes, resultBytes] = await Promise.all([redis.hmget(key, ...LISTED_FIELDS), redis.hstrlen(key, 'payload'), redis.hstrlen(key, 'result')]);
      return { key, fields, payloadBytes, resultBytes, hash: {} as Record<string, string> };
    }));
    const reads: { hash: Record<string, string>; key: string; field: 'payload' | 'result' }[] = [];
    for (const job of found) {
      for (const [field, bytes] of [['payload', job.payloadBytes], ['result', job.resultBytes]] as const) {
        if (bytes > 0 && bytes <= LIST_VALUE_MAX_BYTES) reads.push({ hash: job.hash, key: job.key, field });
      }
    }
    const read = await Promise.all(reads.map(({ key, field }) => redis.hget(key, field)));
    reads.forEach(({ hash, field }, index) => {
      const value = read[index];
      if (typeof value === 'string') hash[field] = value;
    });
    return found.map(({ fields, payloadBytes, resultBytes, hash }) => {
      if (!fields?.[0]) return undefined;
      LISTED_FIELDS.forEach((field, position) => {
        const value = fields[position];
        if (typeof value === 'string') hash[field] = value;
      });
      const { history: _history, ...job } = jobFromHash(hash);
      const payloadTruncated = payloadBytes > LIST_VALUE_MAX_BYTES;
      return { ...job, payload: payloadTruncated ? null : job.payload, payloadBytes, payloadTruncated, resultBytes, resultTruncated: resultBytes > LIST_VALUE_MAX_BYTES };
    });
  }

  /** Sends a dead job back to its queue with its attempts reset. 404 unknown, 409 not dead. */
  async retry(id: string): Promise<void> {
    const reply = await this.onDeadJob(id, (keys, now) => runTransition(this.redis, 'retryDeadJob', keys, now, [...keys.lanes, keys.job(id), keys.dlq], [id, now]));
    if (reply !== 1) throw new JobStateConflictError(id, String(reply), `Job ${id} is ${String(reply)}; only dead jobs can be retried.`);
  }

  /**
   * Discards a dead job: it leaves the dead-letter stream and becomes `discarded`, never to run
   * again; its history keeps the discard. 404 unknown, 409 not dead.
   */
  async discard(id: string): Promise<void> {
    const reply = await this.onDeadJob(id, (keys, now) =>
      runTransition(this.redis, 'discardDeadJob', keys, now, [keys.dlq, keys.job(id)], [id, now, this.retentionMs]));
    if (reply !== 1) throw new JobStateConflictError(id, String(reply), `Job ${id} is ${String(reply)}; only dead jobs can be discarded.`);
  }

  /**
   * Runs `step` (a script on one job) in the partition that holds job `id`, and returns its reply;
   * throws `JobNotFoundError` when no partition holds it (or the script found it gone).
   */
  private async onDeadJob(id: string, step: (keys: QueueKeys, now: number) => Promise<unknown>): Promise<unknown> {
    let reply: unknown = 0;
    try {
      const places = placesOfJob(this.layouts.prefix, this.queues, id);
      const found = await Promise.all(places.map(({ keys }) => this.redis.exists(keys.job(id))));
      const place = places[found.indexOf(1)];
      if (place !== undefined) reply = await step(place.keys, this.now());
    } catch (error) {
      throw toRedisError(error);
    }
    if (reply === 0) throw new JobNotFoundError(id);
    return reply;
  }

  /**
   * Sends back every dead job of `queue` (or every queue) whose type is `type` (or any), oldest first,
   * in batches that are each one atomic step. Returns how many went back.
   */
  async retryAll(filter: DeadJobFilter): Promise<number> {
    return this.eachDeadBatch(filter, (keys, entries, now) => runTransition(this.redis, 'retryDeadJobs', keys, now,
      [...keys.lanes, keys.dlq, ...entries.map(([, fields]) => keys.job(entryFields(fields).id ?? ''))],
      [now, filter.type ?? '', ...entries.map(([entryId]) => entryId)]));
  }

  /**
   * Discards every dead job of `queue` (or every queue) whose type is `type` (or any), oldest first,
   * in batches that are each one atomic step (see `discard`). Returns how many were discarded.
   */
  async discardAll(filter: DeadJobFilter): Promise<number> {
    return this.eachDeadBatch(filter, (keys, entries, now) => runTransition(this.redis, 'discardDeadJobs', keys, now,
      [keys.dlq, ...entries.map(([, fields]) => keys.job(entryFields(fields).id ?? ''))],
      [now, filter.type ?? '', this.retentionMs, ...entries.map(([entryId]) => entryId)]));
  }

  /**
   * Reads the dead-letter entries of the filter's queues, oldest first, up to each stream's end as
   * it is when the walk reaches it (a job that dies again meanwhile stays dead), and hands them on in
   * batches of RETRY_BATCH to `act`, a script that checks each job is still dead from its entry and
   * of the wanted type, and returns how many it moved. Returns the sum.
   */
  private async eachDeadBatch(
    filter: DeadJobFilter,
    act: (keys: QueueKeys, entries: [string, string[]][], now: number) => Promise<unknown>,
  ): Promise<number> {
    const queues = filter.queue === undefined ? this.queues : [filter.queue];
    let moved = 0;
    try {
      for (const { keys } of queues.flatMap((queue) => this.layouts.all(queue))) {
        const end = (await this.redis.xrevrange(keys.dlq, '+', '-', 'COUNT', 1))[0]?.[0];
        if (end === undefined) continue;
        let start = '-';
        for (;;) {
          const entries = await this.redis.xrange(keys.dlq, start, end, 'COUNT', RETRY_BATCH);
          if (entries.length === 0) break;
          moved += Number(await act(keys, entries, this.now()));
          if (entries.length < RETRY_BATCH) break;
          start = `(${entries.at(-1)?.[0]}`;
        }
      }
    } catch (error) {
      throw toRedisError(error);
    }
    return moved;
  }

  /**
   * How many dead jobs of `queue` (or every queue) have type `type` (or any): what `retryAll` or
   * `discardAll` with the same filter would act on now. Without a type it reads the queues' counters; with one it
   * reads every dead-letter entry's job, a round trip per thousand entries.
   */
  async count(filter: DeadJobFilter): Promise<number> {
    const queues = filter.queue === undefined ? this.queues : [filter.queue];
    try {
      let total = 0;
      for (const { keys } of queues.flatMap((queue) => this.layouts.all(queue))) {
        total += filter.type === undefined ? Math.max(0, Number((await this.redis.hget(keys.counts, 'dead')) ?? 0)) : await this.countOfType(keys, filter.type);
      }
      return total;
    } catch (error) {
      throw toRedisError(error);
    }
  }

  private async countOfType(keys: QueueKeys, type: string): Promise<number> {
    let count = 0;
    let start = '-';
    for (;;) {
      const entries = await this.redis.xrange(keys.dlq, start, '+', 'COUNT', COUNT_BATCH);
      const pipeline = this.redis.pipeline();
      for (const [, fields] of entries) pipeline.hmget(keys.job(entryFields(fields).id ?? ''), 'status', 'type');
      const jobs = (await pipeline.exec()) ?? [];
      // The same test as retryDeadJobs: a job still dead, of the wanted type.
      count += jobs.filter(([, job]) => (job as (string | null)[])[0] === 'dead' && (job as (string | null)[])[1] === type).length;
      if (entries.length < COUNT_BATCH) return count;
      start = `(${entries.at(-1)?.[0]}`;
    }
  }
}

function compareIds(a: string, b: string): number {
  const [aMs, aSeq] = a.split('-').map(BigInt) as [bigint, bigint];
  const [bMs, bSeq] = b.split('-').map(BigInt) as [bigint, bigint];
  if (aMs !== bMs) return aMs < bMs ? -1 : 1;
  return aSeq === bSeq ? 0 : aSeq < bSeq ? -1 : 1;
}
