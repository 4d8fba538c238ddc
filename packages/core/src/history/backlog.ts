import type { RedisConfig } from '../config.js';
import { queueKeys } from '../keys.js';
import { toRedisError } from '../redis/client.js';
import type { ScriptedRedis } from '../redis/scripts.js';

/** How far one queue's history in PostgreSQL is behind Redis. */
export interface HistoryBacklog {
  /** Events-stream entries not yet recorded (each holds one script call's transitions). */
  entries: number;
  /** Age of the oldest unrecorded entry, in ms; 0 when nothing waits. */
  lagMs: number;
  /** Events PostgreSQL refused for their content, set aside in the queue's `history-set-aside` stream. */
  setAside: number;
}

/** Reads every queue's history backlog from Redis in one round trip, a pipeline per queue (a cluster slot each). */
export async function historyBacklog(
  redis: ScriptedRedis,
  redisConfig: RedisConfig,
  queues: readonly string[],
  now = Date.now(),
): Promise<Record<string, HistoryBacklog>> {
  const pipelines = queues.map((queue) => {
    const keys = queueKeys(redisConfig.prefix, queue);
    return redis.pipeline().xlen(keys.events).xrange(keys.events, '-', '+', 'COUNT', 1).xlen(keys.historySetAside);
  });
  let replies: [Error | null, unknown][];
  try {
    replies = (await Promise.all(pipelines.map(async (pipeline) => (await pipeline.exec()) ?? []))).flat();
  } catch (error) {
    throw toRedisError(error);
  }
  const backlog: Record<string, HistoryBacklog> = {};
  queues.forEach((queue, index) => {
    const [entries, oldest, setAside] = replies.slice(index * 3, index * 3 + 3).map(([error, reply]) => {
      if (error) throw toRedisError(error);
      return reply;
    });
    // An entry id starts with the time Redis added it, in ms.
    const oldestId = (oldest as [string, string[]][])[0]?.[0];
    backlog[queue] = {
      entries: Number(entries),
      lagMs: oldestId === undefined ? 0 : Math.max(0, now - Number(oldestId.split('-')[0])),
      setAside: Number(setAside),
    };
  });
  return backlog;
}
