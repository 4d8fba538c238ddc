import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

/** Reads a Lua file next to this module; the shared `recordEvent` function is prepended where used. */
function lua(name: string, withRecordEvent: boolean): string {
  const read = (file: string): string => readFileSync(new URL(`./lua/${file}.lua`, import.meta.url), 'utf8');
  return withRecordEvent ? `${read('record-event')}\n${read(name)}` : read(name);
}

/** Every script, by the name of the transition it performs. */
const SCRIPTS = {
  enqueue: lua('enqueue', true),
  startJobs: lua('start-jobs', true),
  completeJob: lua('complete-job', true),
  failJob: lua('fail-job', true),
  promoteDueJobs: lua('promote-due-jobs', true),
  reclaimStalled: lua('reclaim-stalled', true),
  releaseJob: lua('release-job', true),
  retryDeadJob: lua('retry-dead-job', true),
  cancelJob: lua('cancel-job', true),
  updateProgress: lua('update-progress', false),
  removeGoneConsumer: lua('remove-gone-consumer', false),
  acquireLease: lua('acquire-lease', false),
  releaseLease: lua('release-lease', false),
} as const;

/** The name of a Sluice script. */
export type ScriptName = keyof typeof SCRIPTS;
type ScriptCommand = (numberOfKeys: number, ...keysAndArgs: (string | number)[]) => Promise<unknown>;

/** A connection on which every Sluice script is defined (EVALSHA, falling back to EVAL once). */
export type ScriptedRedis = Redis & Record<ScriptName, ScriptCommand>;

/** Defines Sluice's scripts on a connection. */
export function defineScripts(redis: Redis): ScriptedRedis {
  for (const [name, source] of Object.entries(SCRIPTS)) {
    redis.defineCommand(name, { lua: source });
  }
  return redis as ScriptedRedis;
}

/** Runs a script with its keys and arguments; the number of keys is counted here. */
export function runScript(redis: ScriptedRedis, name: ScriptName, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
  return redis[name](keys.length, ...keys, ...args);
}

/**
 * Runs `name` once per queue against the job's keys there, in one round trip, and returns the first
 * reply that is not 0 ("no such job here"), or 0 when no queue has the job. Scripts called this way
 * treat a missing job hash as "not here" and change nothing.
 */
export async function runOnJobInAnyQueue(
  redis: ScriptedRedis,
  name: ScriptName,
  queues: readonly string[],
  keysFor: (queue: string) => readonly string[],
  args: readonly (string | number)[],
): Promise<unknown> {
  const pipeline = redis.pipeline() as unknown as ScriptedRedis;
  for (const queue of queues) void runScript(pipeline, name, keysFor(queue), args);
  const replies = (await (pipeline as unknown as ReturnType<ScriptedRedis['pipeline']>).exec()) ?? [];
  for (const [error, reply] of replies) {
    if (error) throw error;
    if (reply !== 0) return reply;
  }
  return 0;
}
