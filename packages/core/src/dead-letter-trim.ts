import type { QueueConfig } from './config.js';
import type { QueueKeys } from './keys.js';
import { entryFields } from './redis/entries.js';
import { runTransition, type ScriptedRedis } from './redis/scripts.js';

/** Most dead-letter entries one trim removes: each call stays short. */
export const DEAD_TRIM_BATCH = 500;

/**
 * Keeps a queue's dead-letter stream within its bounds: at most `deadMaxJobs` entries, none older than
 * `deadRetentionMs`. Up to `DEAD_TRIM_BATCH` of the oldest entries past either bound are read, then
 * removed with their job hashes in one step (trimDeadLetters), which names those hashes: a script
 * touches only the keys it is given. Runs after each death and in each maintenance sweep. Returns how
 * many entries were removed.
 */
export async function trimDeadLetters(
  redis: ScriptedRedis,
  keys: QueueKeys,
  bounds: Pick<QueueConfig, 'deadRetentionMs' | 'deadMaxJobs'>,
  now: number,
): Promise<number> {
  const [length, expired] = await Promise.all([
    redis.xlen(keys.dlq),
    redis.xrange(keys.dlq, '-', String(now - bounds.deadRetentionMs), 'COUNT', DEAD_TRIM_BATCH),
  ]);
  const over = length - bounds.deadMaxJobs;
  const overLength = over > expired.length ? await redis.xrange(keys.dlq, '-', '+', 'COUNT', Math.min(over, DEAD_TRIM_BATCH)) : [];
  const entries = overLength.length > expired.length ? overLength : expired;
  if (entries.length === 0) return 0;
  await runTransition(redis, 'trimDeadLetters', keys, now,
    [keys.dlq, ...entries.map(([, fields]) => keys.job(entryFields(fields).id ?? ''))],
    entries.map(([id]) => id));
  return entries.length;
}
