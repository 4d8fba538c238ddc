import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

/** Reads a Lua file next to this module, after the shared functions it uses. */
function lua(name: string, includes: readonly string[] = []): string {
  const read = (file: string): string => readFileSync(new URL(`./lua/${file}.lua`, import.meta.url), 'utf8');
  return [...includes, name].map(read).join('\n');
}

/** The shared functions of the scripts that move jobs: recordEvent, moveCount, countThroughput. */
const TRANSITION = ['record-event'];

/** Every script, by the name of the transition it performs. */
const SCRIPTS = {
  enqueue: lua('enqueue', TRANSITION),
  startJobs: lua('start-jobs', TRANSITION),
  completeJobs: lua('complete-jobs', TRANSITION),
  failJob: lua('fail-job', TRANSITION),
  promoteDueJobs: lua('promote-due-jobs', TRANSITION),
  reclaimStalled: lua('reclaim-stalled', TRANSITION),
  releaseJob: lua('release-job', TRANSITION),
  retryDeadJob: lua('retry-dead-job', [...TRANSITION, 'send-back-dead']),
  retryDeadJobs: lua('retry-dead-jobs', [...TRANSITION, 'send-back-dead']),
  cancelJob: lua('cancel-job', TRANSITION),
  updateProgress: lua('update-progress'),
  removeGoneConsumer: lua('remove-gone-consumer'),
  acquireLease: lua('acquire-lease'),
  releaseLease: lua('release-lease'),
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
