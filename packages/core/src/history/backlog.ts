import type { QueueKeys } from '../keys.js';
import type { QueueLayouts } from '../partitions.js';
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

/**
 * Reads every queue's history backlog from Redis in one round trip, a pipeline per partition (a
 * cluster slot each): entries and set-aside events summed over the queue's partitions, the lag the
 * largest of theirs.
 */
export async function historyBacklog(
  redis: ScriptedRedis,
  layouts: QueueLayouts,
  queues: readonly string[],
  now = Date.now(),
): Promise<Record<string, HistoryBacklog>> {
  let perQueue: HistoryBacklog[][];
  try {
    perQueue = await Promise.all(queues.map((queue) => Promise.all(layouts.all(queue).map(({ keys }) => partitionBacklog(redis, keys, now)))));
  } catch (error) {
    throw toRedisError(error);
  }
  const backlog: Record<string, HistoryBacklog> = {};
  queues.forEach((queue, index) => {
    const partitions = perQueue[index] as HistoryBacklog[];
    backlog[queue] = {
      entries: partitions.reduce((sum, partition) => sum + partition.entries, 0),
      lagMs: Math.max(0, ...partitions.map((partition) => partition.lagMs)),
      setAside: partitions.reduce((sum, partition) => sum + partition.setAside, 0),
    };
  });
  return backlog;
}

async function partitionBacklog(redis: ScriptedRedis, keys: QueueKeys, now: number): Promise<HistoryBacklog> {
  const replies = (await redis.pipeline().xlen(keys.events).xrange(keys.events, '-', '+', 'COUNT', 1).xlen(keys.historySetAside).exec()) ?? [];
  const [entries, oldest, setAside] = replies.map(([error, reply]) => {
    if (error) throw toRedisError(error);
    return reply;
  });
  // An entry id starts with the time Redis added it, in ms.
  const oldestId = (oldest as [string, string[]][])[0]?.[0];
  return {
    entries: Number(entries),
    lagMs: oldestId === undefined ? 0 : Math.max(0, now - Number(oldestId.split('-')[0])),
    setAside: Number(setAside),
  };
}
