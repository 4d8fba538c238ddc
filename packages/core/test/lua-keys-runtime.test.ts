/**
 * Watches the scripts run: every key a command inside a script touches must be among the KEYS of
 * that script call (see lua-keys.test.ts, which checks the same on the sources). A workload through
 * the library's public API (and one call it cannot make on Redis 7.0) makes every script of scripts.ts run at least once, on a redis-server of
 * this test's own, under MONITOR; then each inner command's keys, as COMMAND GETKEYS names them, are
 * compared with the KEYS of the script call that ran it.
 *
 * On Redis 7.0, MONITOR shows a script call (EVALSHA, or EVAL the first time on a connection) before
 * the commands the script runs, which follow it as `lua` lines with nothing in between, since a
 * script runs alone. A `lua` line with no script call before it fails the test instead of being
 * skipped, so a change in that order cannot hide commands.
 */
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Type } from 'typebox';
import {
  closeRedis, createRedis, DeadLetters, defineJobType, HistoryRecorder, JobTypeRegistry, PermanentJobError, PRIORITY_BANDS, Queue, QueueAdmin, QueueLayouts, queueKeys, queueStats,
  RetryAfterError, Scheduler, Schedules, waitForRedis, Worker, WORKER_GROUP, type Job, type JobContext, type JobHandler, type ScriptedRedis, type SluiceConfig,
} from '@sluice/core';
import { JobTransitions, typeList } from '../src/job-runner';
import { defineScripts } from '../src/redis/scripts';
import { createTestDatabase, isolatedConfig, waitFor, type TestDatabase } from '../../../test/support/context';
import { RedisServer } from '../../../test/support/redis-server';

/** One script call as MONITOR showed it: which script, the KEYS it was given, and the commands it ran. */
interface ScriptRun {
  script: string;
  keys: Set<string>;
  commands: string[][];
}

/** Every script's name, by the SHA1 EVALSHA names it by and by its source as MONITOR prints it in an EVAL. */
function scriptNames(): { all: string[]; bySha: Map<string, string>; bySource: Map<string, string> } {
  const sources = new Map<string, string>();
  defineScripts({ defineCommand: (name: string, { lua }: { lua: string }) => sources.set(name, lua) } as unknown as Parameters<typeof defineScripts>[0]);
  const bySha = new Map<string, string>();
  const bySource = new Map<string, string>();
  for (const [name, source] of sources) {
    bySha.set(createHash('sha1').update(source).digest('hex'), name);
    bySource.set(asMonitored(source), name);
  }
  return { all: [...sources.keys()], bySha, bySource };
}

const MONITOR_ESCAPES: Record<string, string> = { '\\': '\\\\', '"': '\\"', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\x07': '\\a', '\b': '\\b' };

/**
 * An argument as ioredis hands it over from MONITOR: Redis escapes it (sdscatrepr: quotes,
 * backslashes, control characters, every byte outside printable ASCII as \xHH), and ioredis undoes
 * only the escaped quotes.
 */
function asMonitored(text: string): string {
  let printed = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const char = String.fromCharCode(byte);
    printed += MONITOR_ESCAPES[char] ?? (byte >= 0x20 && byte < 0x7f ? char : `\\x${byte.toString(16).padStart(2, '0')}`);
  }
  return printed.replace(/\\"/g, '"');
}

/** Follows the MONITOR stream, grouping each script's commands under its call. */
class ScriptWatch {
  readonly runs: ScriptRun[] = [];
  /** `lua` lines that followed no script call. */
  readonly strays: string[][] = [];
  /** What ECHO commands said: marks a test sets to know MONITOR has shown all that came before. */
  readonly echoes = new Set<string>();
  private current: ScriptRun | undefined;

  constructor(private readonly names: ReturnType<typeof scriptNames>) {}

  onLine(args: string[], source: string): void {
    if (source === 'lua') {
      if (this.current) this.current.commands.push(args);
      else this.strays.push(args);
      return;
    }
    const [command = '', script = '', keyCount = '0', ...rest] = args;
    const kind = command.toLowerCase();
    if (kind !== 'evalsha' && kind !== 'eval') {
      if (kind === 'echo') this.echoes.add(script);
      this.current = undefined;
      return;
    }
    const name = (kind === 'evalsha' ? this.names.bySha.get(script) : this.names.bySource.get(script)) ?? `a script unknown to scripts.ts (${kind} ${script.slice(0, 40)})`;
    this.current = { script: name, keys: new Set(rest.slice(0, Number(keyCount))), commands: [] };
    this.runs.push(this.current);
  }

  ran(): Set<string> {
    return new Set(this.runs.map((run) => run.script));
  }
}

/** The keys of each distinct command, as Redis names them (COMMAND GETKEYS); a command it cannot tell about is an error. */
async function keysOfCommands(redis: Redis, commands: readonly string[][]): Promise<Map<string, string[] | Error>> {
  const distinct = new Map(commands.map((command) => [JSON.stringify(command), command]));
  const answers = new Map<string, string[] | Error>();
  const pipeline = redis.pipeline();
  const asked: string[] = [];
  for (const [id, [name = '', ...args]] of distinct) {
    // GETKEYS needs an argument to look at; a command run with none (TIME) names no key.
    if (args.length === 0) answers.set(id, []);
    else {
      asked.push(id);
      pipeline.call('COMMAND', 'GETKEYS', name, ...args);
    }
  }
  const replies = (await pipeline.exec()) ?? [];
  asked.forEach((id, i) => {
    const [error, keys] = replies[i] ?? [new Error('no reply'), null];
    if (!error) answers.set(id, keys as string[]);
    else answers.set(id, error.message.includes('has no key arguments') ? [] : error);
  });
  return answers;
}

/** A key with what differs from one job or second to the next taken out, so that one violation is reported once. */
function shapeOf(key: string, prefix: string): string {
  return key
    .replace(prefix, '<prefix>')
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<job id>')
    .replace(/\d{6,}/g, '<number>');
}

const work = defineJobType({
  name: 'work',
  payload: Type.Object({
    action: Type.Union([Type.Literal('complete'), Type.Literal('flaky'), Type.Literal('die'), Type.Literal('slow'), Type.Literal('postpone')]), ms: Type.Optional(Type.Integer()),
  }),
  // The flaky job's second failure waits out a backoff in the delayed set, briefly.
  retry: { maxAttempts: 3, immediateRetries: 1, baseDelayMs: 50, maxDelayMs: 100 },
});
/** Limited to one running and two starts in 300 ms: a few of its jobs wait for room, then are let go. */
const limited = defineJobType({ name: 'limited', payload: Type.Object({}), limits: { rate: { max: 2, perMs: 300 }, concurrency: 1 } });
/** Capped, with a handler that outlives its attempt's timeout ignoring its signal: the cap counts it, under a lease the worker renews, until it returns. */
const overrunning = defineJobType({ name: 'overrunning', payload: Type.Object({}), timeoutMs: 150, retry: { maxAttempts: 1 }, limits: { concurrency: 1 } });
let overrunReturned = false;
async function runOverrunning(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 900));
  overrunReturned = true;
}
/** Served only by a worker started later: its job waits for one, then is released. */
const later = defineJobType({ name: 'later', payload: Type.Object({}) });
/** Served by no worker: its job waits until it is dead-lettered (no-handler). */
const orphan = defineJobType({ name: 'orphan', payload: Type.Object({}) });

type WorkPayload = { action: 'complete' | 'flaky' | 'die' | 'slow' | 'postpone'; ms?: number };

async function runWork({ payload, attempt, signal, progress }: JobContext<WorkPayload>): Promise<unknown> {
  if (payload.action === 'postpone' && attempt === 1) throw new RetryAfterError(50);
  if (payload.action === 'flaky' && attempt <= 2) throw new Error(`failure ${attempt}`);
  if (payload.action === 'die') throw new PermanentJobError('cannot ever work');
  if (payload.action === 'slow') {
    await progress({ half: true });
    // Long enough for a heartbeat; a worker that stops cuts it short.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, payload.ms ?? 0);
      signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      }, { once: true });
    });
  }
  return 'done';
}

let server: RedisServer;
let config: SluiceConfig;
let database: TestDatabase;
let admin: Redis;
let monitor: Redis;
let redis: ScriptedRedis;
let recorder: HistoryRecorder;
const workers: Worker[] = [];
const names = scriptNames();
const watch = new ScriptWatch(names);

beforeAll(async () => {
  server = await RedisServer.start();
  config = isolatedConfig('lua-keys-runtime', {
    // MONITOR watches one server: this test's own, whatever the project's Redis is.
    REDIS_URL: server.url, REDIS_CLUSTER_NODES: '', VISIBILITY_TIMEOUT_MS: '1000', DEAD_JOBS_MAX: '1', CONCURRENCY: '4',
  });
  admin = new Redis(server.url);
  monitor = await admin.monitor();
  monitor.on('monitor', (_time: string, args: string[], source: string) => watch.onLine(args, source));
  database = await createTestDatabase(config);
  redis = createRedis(config.redis);
  await waitForRedis(redis, 5000);
});

afterAll(async () => {
  await Promise.all(workers.map((worker) => worker.close(1000)));
  await recorder?.stop();
  if (redis) await closeRedis(redis);
  monitor?.disconnect();
  admin?.disconnect();
  await database?.drop();
  await server?.stop();
});

function startWorker(
  name: string, registry: JobTypeRegistry, handlers: Record<string, JobHandler<never>>, options: { noHandlerTimeoutMs?: number; concurrency?: number; now?: () => number } = {},
): Promise<Worker> {
  const worker = new Worker({
    redis: config.redis, queue: config.queue, registry, handlers,
    worker: {
      ...config.worker, consumerName: name,
      ...(options.noHandlerTimeoutMs !== undefined && { noHandlerTimeoutMs: options.noHandlerTimeoutMs }),
      ...(options.concurrency !== undefined && { concurrency: options.concurrency }),
    },
    ...(options.now && { now: options.now }),
  });
  workers.push(worker);
  return worker.start().then(() => worker);
}

function inState(queue: Queue, id: string, wanted: (job: Job) => boolean, what: string): Promise<Job> {
  return waitFor(`job ${id} ${what}`, async () => {
    const job = await queue.getJob(id);
    return job && wanted(job) ? job : null;
  }, 15_000);
}

describe('the scripts touch only the keys their calls declare, as MONITOR sees them run', () => {
  it('runs every script, each command in it on keys of its KEYS only', async () => {
    const keys = queueKeys(config.redis.prefix, 'default');
    const queue = new Queue({ redis, redisConfig: config.redis, queueConfig: config.queue, registry: new JobTypeRegistry([work, limited, overrunning, later, orphan]) });
    recorder = new HistoryRecorder({ redis, pool: database.pool, prefix: config.redis.prefix, queues: config.queue.queues, owner: 'lua-keys-runtime' });
    recorder.start();

    // A consumer that reads a job and goes silent, as a crashed worker does: the worker reclaims the job.
    await admin.xgroup('CREATE', keys.stream, WORKER_GROUP, '0', 'MKSTREAM');
    const stalled = await queue.add('work', { action: 'complete' });
    await admin.xreadgroup('GROUP', WORKER_GROUP, 'crashed-worker', 'COUNT', 1, 'STREAMS', keys.stream, '>');

    // Ahead by a minute once the rest is done, so that the worker's sweep for gone consumers is due.
    let clockAhead = 0;
    const worker = await startWorker('worker', new JobTypeRegistry([work, limited, overrunning]), { work: runWork, limited: () => 'done', overrunning: runOverrunning }, {
      now: () => Date.now() + clockAhead,
    });

    const [completed, flaky, slow, dead, delayed] = await Promise.all([
      queue.add('work', { action: 'complete' }),
      queue.add('work', { action: 'flaky' }),
      queue.add('work', { action: 'slow', ms: 700 }),
      queue.add('work', { action: 'die' }),
      queue.add('work', { action: 'complete' }, { delay: 100 }),
    ]);
    const cancelled = await queue.add('work', { action: 'complete' }, { delay: 60_000 });
    await queue.cancel(cancelled.id);
    for (const { id } of [stalled, completed, flaky, slow, delayed]) await inState(queue, id, (job) => job.status === 'completed', 'to complete');

    // Jobs over their type's limits wait for room, then go; one postponed by its handler runs again later.
    const [postponed, ...held] = await queue.addBulk([
      { type: 'work', payload: { action: 'postpone' } }, ...Array.from({ length: 4 }, () => ({ type: 'limited', payload: {} })),
    ]);
    for (const { id } of [postponed, ...held].filter((job) => job !== undefined)) await inState(queue, id, (job) => job.status === 'completed', 'to complete');
    // Under the queue's own limits, taken as set within a second or so.
    const queueAdmin = new QueueAdmin(redis, new QueueLayouts(redis, config.redis.prefix, config.queue.partitions), config.queue.queues);
    await queueAdmin.setLimits('default', { rate: { max: 20, perMs: 1000 }, concurrency: 2 });
    await waitFor('a start counted in the queue\'s rate window', async () => {
      const { id } = await queue.add('work', { action: 'complete' });
      await inState(queue, id, (job) => job.status === 'completed', 'to complete');
      return (await redis.exists(keys.rateWindow(null))) === 1;
    }, 5000, 100);
    await queueAdmin.setLimits('default', {});

    // Grouped jobs wait their turn, one of a group at a time: a failed attempt's retry goes back to its
    // turn, and a job cancelled while it waits leaves the fair queue.
    await queueAdmin.setLimits('default', { groupConcurrency: 1 });
    const [groupSlow, groupFlaky, groupCancelled, otherGroup] = await queue.addBulk([
      { type: 'work', payload: { action: 'slow', ms: 300 }, group: 'tenant-a' },
      { type: 'work', payload: { action: 'flaky' }, group: 'tenant-a' },
      { type: 'work', payload: { action: 'complete' }, group: 'tenant-a' },
      { type: 'work', payload: { action: 'complete' }, group: 'tenant-b' },
    ]);
    await queue.cancel(groupCancelled?.id as string);
    for (const job of [groupSlow, groupFlaky, otherGroup]) await inState(queue, job?.id as string, (found) => found.status === 'completed', 'to complete in its group\'s turn');
    await queueAdmin.setLimits('default', {});

    // One dead job is retried alone, then with all the others; the next death, past DEAD_JOBS_MAX, trims the dead-letter stream.
    const deaths = (times: number) => (job: Job) => job.status === 'dead' && job.history.filter((event) => event.status === 'dead').length === times;
    await inState(queue, dead.id, deaths(1), 'to be dead');
    const deadLetters = new DeadLetters(redis, new QueueLayouts(redis, config.redis.prefix, config.queue.partitions), config.queue.queues);
    await deadLetters.retry(dead.id);
    await inState(queue, dead.id, deaths(2), 'to be dead again');
    expect(await deadLetters.retryAll({})).toBe(1);
    await inState(queue, dead.id, deaths(3), 'to be dead once more');

    // An operator discards a dead job (which, dying past DEAD_JOBS_MAX, trimmed the one before) and runs a scheduled job now.
    const doomed = await queue.add('work', { action: 'die' });
    await inState(queue, doomed.id, (job) => job.status === 'dead', 'to be dead');
    await deadLetters.discard(doomed.id);
    const runNow = await queue.add('work', { action: 'complete' }, { delay: 60_000 });
    await queue.runNow(runNow.id);
    await inState(queue, runNow.id, (job) => job.status === 'completed', 'to complete once run now');

    // After the dead-letter steps (DEAD_JOBS_MAX is 1): a handler that outlives its attempt keeps its place under its type's cap, renewed by the heartbeat, until it returns.
    const overrun = await queue.add('overrunning', {});
    await inState(queue, overrun.id, (job) => job.status === 'dead', 'to time out');
    await waitFor('the overrunning handler to return', () => overrunReturned, 5000);
    await waitFor('its place to be given up', async () => (await redis.zcard(keys.overrunOf('overrunning'))) === 0);

    // Jobs of types no live worker serves wait: one until a worker of its type starts, one until it expires.
    const [waiting, unserved] = await Promise.all([queue.add('later', {}), queue.add('orphan', {})]);
    await waitFor('both to wait for a worker of their type', async () => Object.keys(await admin.hgetall(keys.unserved)).length === 2);
    const laterWorker = await startWorker('later-worker', new JobTypeRegistry([later]), { later: () => 'done' }, { noHandlerTimeoutMs: 1000 });
    await inState(queue, waiting.id, (job) => job.status === 'completed', 'to complete once a worker of its type started');
    await inState(queue, unserved.id, (job) => job.status === 'dead', 'to be dead-lettered for want of a worker (no-handler)');
    expect(await deadLetters.discardAll({ type: 'orphan' })).toBe(1);
    await laterWorker.close(1000);

    clockAhead = 60_000;
    await waitFor('the sweep for gone consumers', () => watch.ran().has('removeGoneConsumer'));

    // Schedules: added, changed, ticked, triggered; a claim whose scheduler failed is driven again after its lease; removed.
    let scheduleClock = Date.parse('2030-01-01T00:00:00Z');
    const scheduleNow = () => scheduleClock;
    const schedules = new Schedules({ redis, prefix: config.redis.prefix, queue, now: scheduleNow });
    let failOnce = true;
    const failing = {
      get: (name: string) => new JobTypeRegistry([work]).get(name),
      learn: async () => {
        if (!failOnce) return;
        failOnce = false;
        throw new Error('Redis went away');
      },
    };
    const stopped = new Scheduler({ redis, prefix: config.redis.prefix, queue: new Queue({ redis, redisConfig: config.redis, queueConfig: config.queue, registry: failing }), now: scheduleNow });
    const scheduler = new Scheduler({ redis, prefix: config.redis.prefix, queue, now: scheduleNow });
    await schedules.create({ name: 'every-minute', everyMs: 60_000, job: { type: 'work', payload: { action: 'complete' } } });
    await schedules.update('every-minute', { overlap: 'skip' });
    scheduleClock += 60_000;
    await expect(stopped.runOnce()).rejects.toThrow('Redis went away');
    scheduleClock += 40_000;
    expect(await scheduler.runOnce()).toMatchObject({ redriven: 1 });
    await schedules.trigger('every-minute');
    await schedules.remove('every-minute');

    // A worker that stops hands back the job it is running; the recorder gives up its lease.
    const interrupted = await queue.add('work', { action: 'slow', ms: 10_000 });
    await inState(queue, interrupted.id, (job) => job.status === 'processing', 'to run');
    await worker.close(100);

    // A blocking read of every band may bring an entry of each (Redis 7.2 on; 7.0 serves the first
    // stream written to): a worker without slots for all hands the rest back, which is done here directly.
    const handedBack = await queue.addBulk(PRIORITY_BANDS.map((band) => ({ type: 'work', payload: { action: 'complete' }, priority: band.min })));
    const read = (await admin.xreadgroup('GROUP', WORKER_GROUP, 'one-slot', 'COUNT', 1, 'STREAMS', ...keys.streams, ...keys.streams.map(() => '>'))) as [string, [string, string[]][]][];
    const entries = read.flatMap(([stream, found]) => found.map(([entryId, fields]) => ({ band: keys.streams.indexOf(stream), entryId, jobId: fields[1] as string })));
    expect(entries).toHaveLength(PRIORITY_BANDS.length);
    await new JobTransitions(redis, keys, 'one-slot', config.queue, { served: typeList(['work']), elsewhere: () => ',' }).handBack(entries, Date.now());
    for (const { id } of handedBack) await inState(queue, id, (job) => job.status === 'pending' && job.history.length === 1, 'to wait in a new entry');
    // The statistics read the queue's latency over the jobs handed back and a grouped one waiting its turn.
    await queue.add('work', { action: 'complete' }, { group: 'late' });
    await queueStats(redis, new QueueLayouts(redis, config.redis.prefix, config.queue.partitions), ['default']);
    await recorder.stop();

    // MONITOR lags behind the replies; it shows commands in the order they ran, so once it shows this, it has shown the workload.
    await admin.echo('end of the workload');
    await waitFor('MONITOR to show the whole workload', () => watch.echoes.has('end of the workload'));
    monitor.disconnect();
    const missing = names.all.filter((name) => !watch.ran().has(name));
    expect(missing, 'scripts the workload never ran').toEqual([]);
    expect(watch.strays, 'commands MONITOR showed from a script, with no script call before them').toEqual([]);

    const commands = watch.runs.flatMap((run) => run.commands);
    const keysOf = await keysOfCommands(admin, commands);
    const undeclared = new Map<string, number>();
    for (const run of watch.runs) {
      for (const command of run.commands) {
        const found = keysOf.get(JSON.stringify(command));
        const touched = found instanceof Error ? [`<keys unknown: ${found.message}>`] : (found ?? []).filter((key) => !run.keys.has(key));
        for (const key of touched) {
          const violation = `${run.script}: ${command[0]} ${shapeOf(key, config.redis.prefix)}`;
          undeclared.set(violation, (undeclared.get(violation) ?? 0) + 1);
        }
      }
    }
    const report = [...undeclared].map(([violation, times]) => `${violation} (${times}×), not in the call's KEYS`).sort();
    if (report.length > 0) console.log(`Keys the scripts touched without KEYS (${report.length}):\n${report.join('\n')}`);
    expect(report, 'keys touched without KEYS').toEqual([]);
    expect(commands.length).toBeGreaterThan(0);
  }, 40_000);
});
