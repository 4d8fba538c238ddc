import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

const read = (file: string): string => readFileSync(new URL(`./lua/${file}.lua`, import.meta.url), 'utf8');

/** Reads a Lua file next to this module, after the shared functions it uses. */
function lua(name: string, includes: readonly string[] = []): string {
  return [...includes, name].map(read).join('\n');
}

/**
 * A script that moves jobs: its body runs as a function after the shared transition functions
 * (recordEvent, moveCount, countThroughput) and steps (currentAttempt, requeue, moveToDead…), and what it gathered is written once it returns, on
 * every return path.
 */
function transition(name: string, includes: readonly string[] = []): string {
  return [
    read('record-event'),
    read('job-steps'),
    ...includes.map(read),
    `local function transition()\n${read(name)}\nend`,
    'local reply = transition()\nflushTransitions()\nreturn reply',
  ].join('\n');
}

/** Every script, by the name of the transition it performs. */
const SCRIPTS = {
  enqueueJobs: transition('enqueue-jobs'),
  startJobs: transition('start-jobs', ['start-entry']),
  readAndStartJobs: transition('read-and-start-jobs', ['start-entry', 'complete-entries']),
  completeJobs: transition('complete-jobs', ['complete-entries']),
  failJob: transition('fail-job'),
  promoteDueJobs: transition('promote-due-jobs'),
  reclaimStalled: transition('reclaim-stalled'),
  releaseJob: transition('release-job'),
  retryDeadJob: transition('retry-dead-job', ['send-back-dead']),
  retryDeadJobs: transition('retry-dead-jobs', ['send-back-dead']),
  cancelJob: transition('cancel-job'),
  updateProgress: transition('update-progress'),
  heartbeatJobs: transition('heartbeat-jobs'),
  trimDeadLetters: transition('trim-dead-letters'),
  releaseUnserved: transition('release-unserved'),
  expireUnserved: transition('expire-unserved'),
  removeGoneConsumer: lua('remove-gone-consumer'),
  publishJobTypes: lua('publish-job-types'),
  livePublishers: lua('live-publishers'),
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
