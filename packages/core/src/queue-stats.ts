import type { RedisConfig } from './config.js';
import { JOB_STATES, type JobState } from './job-state.js';
import { queueKeys, WORKER_GROUP } from './keys.js';
import { toRedisError } from './redis/client.js';
import type { ScriptedRedis } from './redis/scripts.js';

/** One consumer of a queue's group, as Redis sees it. */
export interface ConsumerStats {
  name: string;
  /** Entries delivered to it and not yet acknowledged. */
  pending: number;
  /** Milliseconds since it last read or claimed. */
  idleMs: number;
}

/** What a queue is doing: jobs per state, its consumers, its rate over the last minute. */
export interface QueueStats {
  counts: Record<JobState, number>;
  paused: boolean;
  consumers: ConsumerStats[];
  /** Attempts that completed and failed in the last 60 seconds. */
  lastMinute: { completed: number; failed: number };
  /** The same attempts second by second, oldest first; the last second is still under way. */
  perSecond: ThroughputSecond[];
  /** Jobs waiting because no live worker serves their type, per type (see NO_HANDLER_TIMEOUT_MS). */
  unservedTypes: Record<string, number>;
}

/** Attempts that completed and failed within one second. */
export interface ThroughputSecond {
  /** The second, in Unix seconds. */
  second: number;
  completed: number;
  failed: number;
}

const THROUGHPUT_WINDOW_SECONDS = 60;

/**
 * Reads every queue's statistics from Redis in one round trip, a pipeline per queue (each queue is a
 * cluster slot of its own): the per-state counts the transition scripts keep, the group's
 * consumers, and the per-second throughput buckets. Nothing here scans the history.
 */
export async function queueStats(redis: ScriptedRedis, config: RedisConfig, queues: readonly string[], now = Date.now()): Promise<Record<string, QueueStats>> {
  const second = Math.floor(now / 1000);
  const pipelines = queues.map((queue) => {
    const keys = queueKeys(config.prefix, queue);
    const pipeline = redis.pipeline();
    pipeline.hgetall(keys.counts);
    pipeline.exists(keys.paused);
    pipeline.xinfo('CONSUMERS', keys.stream, WORKER_GROUP);
    pipeline.hgetall(keys.unserved);
    for (let s = second - THROUGHPUT_WINDOW_SECONDS + 1; s <= second; s += 1) pipeline.hmget(keys.throughput(s * 1000), 'completed', 'failed');
    return pipeline;
  });
  let replies: [Error | null, unknown][];
  try {
    replies = (await Promise.all(pipelines.map(async (pipeline) => (await pipeline.exec()) ?? []))).flat();
  } catch (error) {
    throw toRedisError(error);
  }
  const perQueue = 4 + THROUGHPUT_WINDOW_SECONDS;
  const stats: Record<string, QueueStats> = {};
  queues.forEach((queue, index) => {
    const [counts, paused, consumers, unserved, ...buckets] = replies.slice(index * perQueue, (index + 1) * perQueue);
    for (const reply of [counts, paused, unserved]) if (reply?.[0]) throw toRedisError(reply[0]);
    const perSecond = buckets.map((bucket, offset): ThroughputSecond => {
      const [completed, failed] = (bucket[1] ?? []) as (string | null)[];
      return { second: second - THROUGHPUT_WINDOW_SECONDS + 1 + offset, completed: Number(completed ?? 0), failed: Number(failed ?? 0) };
    });
    stats[queue] = {
      counts: countsFrom((counts?.[1] ?? {}) as Record<string, string>),
      paused: paused?.[1] === 1,
      // A queue no worker has joined yet has no group: no consumers.
      consumers: consumers?.[0] ? [] : consumersFrom(consumers?.[1] as (string | number)[][]),
      lastMinute: perSecond.reduce((sum, bucket) => ({ completed: sum.completed + bucket.completed, failed: sum.failed + bucket.failed }), { completed: 0, failed: 0 }),
      perSecond,
      unservedTypes: Object.fromEntries(Object.entries((unserved?.[1] ?? {}) as Record<string, string>).map(([type, count]) => [type, Number(count)])),
    };
  });
  return stats;
}

function countsFrom(hash: Record<string, string>): Record<JobState, number> {
  return Object.fromEntries(JOB_STATES.map((state) => [state, Math.max(0, Number(hash[state] ?? 0))])) as Record<JobState, number>;
}

function consumersFrom(rows: (string | number)[][]): ConsumerStats[] {
  return rows.map((fields) => {
    const info = new Map<string, string | number>();
    for (let i = 0; i + 1 < fields.length; i += 2) info.set(String(fields[i]), fields[i + 1] as string | number);
    return { name: String(info.get('name')), pending: Number(info.get('pending') ?? 0), idleMs: Number(info.get('idle') ?? 0) };
  });
}
