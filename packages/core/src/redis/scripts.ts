import { readFileSync } from 'node:fs';
import type { Cluster, Redis } from 'ioredis';
import type { QueueKeys } from '../keys.js';

const read = (file: string): string => readFileSync(new URL(`./lua/${file}.lua`, import.meta.url), 'utf8');

/** Reads a Lua file next to this module, after the shared functions it uses. */
function lua(name: string, includes: readonly string[] = []): string {
  return [...includes, name].map(read).join('\n');
}

/**
 * A script that moves jobs: its body runs as a function after the shared transition functions
 * (recordEvent, moveCount, countThroughput) and steps (currentAttempt, requeue, moveToDead…), and
 * what it gathered is written once it returns, on every return path, to the queue's keys it gets
 * first (see runTransition).
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
  startJobs: transition('start-jobs', ['flow-limits', 'start-entry']),
  handBackEntries: transition('hand-back-entries', ['flow-limits', 'start-entry']),
  takeJobs: transition('take-jobs', ['flow-limits', 'start-entry', 'complete-entries']),
  parkUnserved: transition('park-unserved'),
  completeJobs: transition('complete-jobs', ['complete-entries']),
  failJob: transition('fail-job'),
  promoteDueJobs: transition('promote-due-jobs'),
  reclaimStalled: transition('reclaim-stalled'),
  releaseJob: transition('release-job'),
  postponeJob: transition('postpone-job'),
  retryDeadJob: transition('retry-dead-job', ['send-back-dead']),
  retryDeadJobs: transition('retry-dead-jobs', ['send-back-dead']),
  cancelJob: transition('cancel-job'),
  runJobNow: transition('run-job-now'),
  discardDeadJob: transition('discard-dead-job', ['discard-dead']),
  discardDeadJobs: transition('discard-dead-jobs', ['discard-dead']),
  updateProgress: transition('update-progress'),
  heartbeatJobs: transition('heartbeat-jobs'),
  trimDeadLetters: transition('trim-dead-letters'),
  releaseUnserved: transition('release-unserved'),
  parkLimited: transition('park-limited'),
  releaseLimited: transition('release-limited', ['flow-limits']),
  expireUnserved: transition('expire-unserved'),
  removeGoneConsumer: lua('remove-gone-consumer'),
  renewOverruns: lua('renew-overruns'),
  publishJobTypes: lua('publish-job-types'),
  livePublishers: lua('live-publishers'),
  oldestWaiting: lua('oldest-waiting'),
  acquireLease: lua('acquire-lease'),
  releaseLease: lua('release-lease'),
  saveSchedule: lua('save-schedule'),
  removeSchedule: lua('remove-schedule'),
  claimScheduleTick: lua('claim-schedule-tick', ['schedule-runs']),
  claimScheduleTrigger: lua('claim-schedule-trigger'),
  takeOverScheduleClaim: lua('take-over-schedule-claim'),
  recordScheduleRun: lua('record-schedule-run', ['schedule-runs']),
} as const;

/** The name of a Sluice script. */
export type ScriptName = keyof typeof SCRIPTS;
type ScriptCommand = (numberOfKeys: number, ...keysAndArgs: (string | number)[]) => Promise<unknown>;

/** A connection to one node (itself, or the master Sentinel names) or to a Redis Cluster. */
export type RedisClient = Redis | Cluster;

/** A connection on which every Sluice script is defined (EVALSHA, falling back to EVAL once). */
export type ScriptedRedis = RedisClient & Record<ScriptName, ScriptCommand>;

/** Defines Sluice's scripts on a connection. */
export function defineScripts(redis: RedisClient): ScriptedRedis {
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
 * Runs a transition script of one queue: its events stream, counts hash and the throughput bucket
 * of `now` go first, as KEYS[1..3], where every transition writes what it gathered.
 */
export function runTransition(
  redis: ScriptedRedis,
  name: ScriptName,
  queue: QueueKeys,
  now: number,
  keys: readonly string[],
  args: readonly (string | number)[],
): Promise<unknown> {
  return runScript(redis, name, [queue.events, queue.counts, queue.throughput(now), ...keys], args);
}
