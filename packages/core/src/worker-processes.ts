import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import { Type } from 'typebox';
import { Value } from 'typebox/value';
import { catalogKeys } from './keys.js';
import { PUBLICATION_LIVE_MS } from './job-type-catalog.js';
import { NAME_PATTERN_SOURCE } from './limits.js';
import { toRedisError } from './redis/client.js';
import { runScript, type ScriptedRedis } from './redis/scripts.js';

/** Most running jobs one worker's report names; `runningCount` still counts them all. */
export const MAX_REPORTED_JOBS = 50;
/** Most workers `workerProcesses` answers with, those seen last first. */
export const MAX_LISTED_WORKERS = 500;

/** A job a worker runs now. */
export interface RunningJobReport {
  id: string;
  type: string;
  queue: string;
  attempt: number;
  /** When this attempt started (ms; in a report, on the worker's clock, on Redis's once read). */
  startedAt: number;
}

/**
 * What a worker says about its process each time it publishes its job types (PUBLISH_INTERVAL_MS):
 * the operator's view of who runs what, and where.
 */
export interface WorkerProcessReport {
  hostname: string;
  pid: number;
  /** Resident set size of the process (bytes). */
  rssBytes: number;
  /** The version of @sluice/core the process runs. */
  version: string;
  /** When the worker started (ms, on Redis's clock). */
  startedAt: number;
  queues: string[];
  concurrency: number;
  /** The worker is stopping: it finishes what it runs and takes nothing new. */
  draining: boolean;
  runningCount: number;
  /** The first MAX_REPORTED_JOBS of the jobs it runs, oldest first. */
  running: RunningJobReport[];
  /**
   * When the report was made, on the worker's own clock, which may be off: the reader moves the jobs'
   * start times by the difference to `seenAt`, so that they are on Redis's clock like everything else.
   */
  reportedAt: number;
}

/** A live worker as GET /workers shows it: its name, when it last reported (ms, Redis's clock) and its report, every time on Redis's clock. */
export interface WorkerProcess extends Omit<WorkerProcessReport, 'reportedAt'> {
  name: string;
  seenAt: number;
}

/** The version of this package, read once. */
const SLUICE_VERSION = (createRequire(import.meta.url)('../package.json') as { version: string }).version;

/** A report of this process, for a worker with the given settings and running jobs, made at `now` on the worker's clock. */
export function processReport(worker: { startedAt: number; queues: string[]; concurrency: number; draining: boolean }, running: readonly RunningJobReport[], now: number): WorkerProcessReport {
  const oldestFirst = [...running].sort((a, b) => a.startedAt - b.startedAt);
  return {
    hostname: hostname(),
    pid: process.pid,
    rssBytes: process.memoryUsage.rss(),
    version: SLUICE_VERSION,
    ...worker,
    runningCount: running.length,
    running: oldestFirst.slice(0, MAX_REPORTED_JOBS),
    reportedAt: now,
  };
}

/**
 * The live workers (those that published within PUBLICATION_LIVE_MS), those seen last first, at most
 * MAX_LISTED_WORKERS, with what each last reported. A worker of a version that does not report its
 * process is left out. Reports live beside the publications and are removed with them.
 */
export async function workerProcesses(redis: ScriptedRedis, prefix: string): Promise<WorkerProcess[]> {
  const keys = catalogKeys(prefix);
  try {
    const [, ...flat] = (await runScript(redis, 'livePublishers', [keys.seen, keys.version], [PUBLICATION_LIVE_MS, PUBLICATION_LIVE_MS])) as [unknown, ...(string | number)[]];
    const names: string[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) names.push(String(flat[i]));
    if (names.length === 0) return [];
    const pipeline = redis.pipeline();
    pipeline.hmget(keys.processes, ...names);
    pipeline.zmscore(keys.seen, ...names);
    const [reports, scores] = ((await pipeline.exec()) ?? []).map(([error, reply]) => {
      if (error) throw error;
      return reply as (string | null)[];
    });
    return names
      .flatMap((name, index): WorkerProcess[] => {
        const report = parseReport(reports?.[index] ?? null);
        return report ? [{ name, ...onRedisClock(report, Number(scores?.[index] ?? 0)) }] : [];
      })
      .sort((a, b) => b.seenAt - a.seenAt || a.name.localeCompare(b.name))
      .slice(0, MAX_LISTED_WORKERS);
  } catch (error) {
    throw toRedisError(error);
  }
}

/** Longest host name a report may give: a DNS name's 253 characters. */
const MAX_HOSTNAME_LENGTH = 253;
/** Most queues a report may name. */
const MAX_REPORTED_QUEUES = 1000;

const Name = Type.String({ pattern: NAME_PATTERN_SOURCE });
const Count = Type.Integer({ minimum: 0 });
/** A report as processReport writes it, with its bounds: what GET /workers can show and its schema promises. */
const ReportSchema = Type.Object({
  hostname: Type.String({ maxLength: MAX_HOSTNAME_LENGTH }),
  pid: Count,
  rssBytes: Count,
  version: Type.String({ maxLength: 64 }),
  startedAt: Count,
  queues: Type.Array(Name, { maxItems: MAX_REPORTED_QUEUES }),
  concurrency: Count,
  draining: Type.Boolean(),
  runningCount: Count,
  running: Type.Array(Type.Object({ id: Type.String({ maxLength: 64 }), type: Name, queue: Name, attempt: Count, startedAt: Count }), { maxItems: MAX_REPORTED_JOBS }),
  reportedAt: Count,
});

/** A report written when Redis's clock said `seenAt`, its jobs' start times moved from the worker's clock onto Redis's. */
function onRedisClock({ reportedAt, ...report }: WorkerProcessReport, seenAt: number): Omit<WorkerProcess, 'name'> {
  const offset = seenAt - reportedAt;
  return { ...report, seenAt, running: report.running.map((job) => ({ ...job, startedAt: job.startedAt + offset })) };
}

/**
 * A report as far as it can be shown. Anything may have written Redis (a worker of another version, a
 * hand-built one), so a report that is not one processReport would write, within its bounds, is left
 * out rather than failing the whole list or sending it on unbounded.
 */
function parseReport(json: string | null): WorkerProcessReport | null {
  if (json === null) return null;
  try {
    const report: unknown = JSON.parse(json);
    return Value.Check(ReportSchema, report) ? report : null;
  } catch {
    return null;
  }
}
