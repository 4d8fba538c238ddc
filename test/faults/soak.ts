import { mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { queueKeys, WORKER_GROUP, type QueueKeys } from '@sluice/core';
import { createTestDatabase, envFor, isolatedConfig, type TestDatabase } from '../support/context';
import { ServiceProcess } from '../support/processes';
import { freePort, RedisServer } from '../support/redis-server';
import { newSeed, SeededRandom } from '../support/seeded-random';
import { SlowLink } from '../support/slow-link';
import { TcpProxy } from '../support/tcp-proxy';
import { WorkerPool } from '../support/worker-pool';
import { checkInvariants, formatTable, isExpiredRead, type Evidence, type FinalRead, type ProcessEnd, type Row } from './soak-checks';
import { FaultRunner, planFaults, type TermExit } from './soak-faults';
import { readHistory, readRunLogs, RedisWatcher, redisFootprint, type RedisFootprint } from './soak-observe';
import { ApiClient, PAYLOAD_MAX_DEPTH, Traffic, type AcceptedJob } from './soak-traffic';

/*
 * A randomized soak: an API and 2–3 soak workers on a Redis and a PostgreSQL schema of their own,
 * producers submitting ordinary, failing, timing-out, stubborn, odd and hostile jobs, and a fault
 * schedule killing, stopping and terminating workers, restarting Redis and cutting and slowing
 * PostgreSQL. Then everything drains, and the guarantees are checked against what Redis,
 * PostgreSQL, the API and the handlers' own run logs say. Every random choice comes from the seed.
 *
 *   npx tsx --conditions=sluice-source test/faults/soak.ts [--duration 60] [--seed N] [--workers 2|3]
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CONCURRENCY = 4;
const VISIBILITY_TIMEOUT_MS = 2000;
const RETENTION_MS = 5000;
const IDEMPOTENCY_TTL_MS = 8000;
const SHUTDOWN_TIMEOUT_MS = 1500;
/** Every process gets these: short enough that timeouts, takeovers, retention and key expiry all happen within a run. */
const SETTINGS = {
  CONCURRENCY: String(CONCURRENCY),
  VISIBILITY_TIMEOUT_MS: String(VISIBILITY_TIMEOUT_MS),
  JOB_RETENTION_MS: String(RETENTION_MS),
  DEAD_JOB_RETENTION_MS: String(RETENTION_MS),
  IDEMPOTENCY_TTL_MS: String(IDEMPOTENCY_TTL_MS),
  SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
  PAYLOAD_MAX_DEPTH: String(PAYLOAD_MAX_DEPTH),
  WORKER_BLOCK_MS: '200',
  LOG_LEVEL: 'info',
};
const LANES = 3;
/** Producers hold back past this many unfinished jobs, so that the drain stays bounded on a slow machine. */
const MAX_UNFINISHED = 300;
const CLIENT_TIMEOUT_MS = 15_000;
/**
 * Longest a worker may take to exit after SIGTERM: SHUTDOWN_TIMEOUT_MS for its jobs, then the
 * bounded steps of Worker.close() (2 s each) and the recorder's last drain, even with Redis away.
 */
const TERM_BOUND_MS = SHUTDOWN_TIMEOUT_MS + 15_000;
/** Dead letters leave Redis at a worker's periodic sweep (every ten visibility timeouts, jittered), so the wait allows for one. */
const SETTLE_BOUND_MS = RETENTION_MS + IDEMPOTENCY_TTL_MS + 12 * VISIBILITY_TIMEOUT_MS + 5000;
/** What Redis may keep beyond its baseline once every job is gone: allocator slack, the group's consumers, buffers. */
const MEMORY_SLACK_BYTES = 2 * 1_048_576;

export interface SoakOptions {
  durationS: number;
  seed: number;
  /** Worker processes; drawn from the seed (2 or 3) when absent. */
  workers?: number;
  log?: (line: string) => void;
  /** Ends the run early; the soak still stops everything it started. */
  signal?: AbortSignal;
}

export interface SoakReport {
  seed: number;
  rows: Row[];
  table: string;
  summary: string[];
  violations: number;
}

/** Things to undo at the end, last made first undone, each on its own so one failing undoes the rest. */
class Cleanup {
  private readonly steps: { what: string; run: () => Promise<unknown> | unknown }[] = [];

  add(what: string, run: () => Promise<unknown> | unknown): void {
    this.steps.push({ what, run });
  }

  async runAll(log: (line: string) => void): Promise<void> {
    for (const step of this.steps.reverse()) {
      try {
        await step.run();
      } catch (error) {
        log(`soak: cleanup of ${step.what} failed: ${String(error)}`);
      }
    }
  }
}

/** Polls `check` every `intervalMs` until it holds or `timeoutMs` passes; says which. */
async function until(check: () => Promise<boolean> | boolean, timeoutMs: number, intervalMs = 250): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await Promise.resolve().then(check).catch(() => false)) return true;
    if (Date.now() > deadline) return false;
    await sleep(intervalMs);
  }
}

/** GET /jobs/:id for every job, a few at a time, asking again while the answer is a 503 or none. */
async function readFinal(client: ApiClient, ids: readonly string[]): Promise<Map<string, FinalRead>> {
  const finals = new Map<string, FinalRead>();
  let next = 0;
  const reader = async (): Promise<void> => {
    while (next < ids.length) {
      const id = ids[next++] as string;
      let answer = await client.send({ method: 'GET', path: `/jobs/${id}` });
      for (let tries = 1; tries < 5 && (answer.status === 503 || typeof answer.status !== 'number'); tries += 1) {
        await sleep(500);
        answer = await client.send({ method: 'GET', path: `/jobs/${id}` });
      }
      finals.set(id, answer.status === 200 ? { status: 200, job: answer.body as FinalRead['job'] } : { status: answer.status });
    }
  };
  await Promise.all(Array.from({ length: 16 }, reader));
  return finals;
}

/** The set-aside stream's length and the jobs its entries name. */
async function setAsideOf(redis: Redis, key: string): Promise<{ length: number; jobs: Set<string> }> {
  const entries = await redis.xrange(key, '-', '+');
  const jobs = new Set<string>();
  for (const [, fields] of entries) {
    const named = fields[fields.indexOf('jobs') + 1] ?? '';
    for (const id of named.split(',')) if (id) jobs.add(id);
  }
  return { length: entries.length, jobs };
}

function countBy<T>(items: Iterable<T>, key: (item: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return counts;
}

function listCounts(counts: Map<string, number>): string {
  return [...counts].sort(([a], [b]) => a.localeCompare(b)).map(([name, n]) => `${name} ${n}`).join(', ');
}

function keysOf(footprint: RedisFootprint): string {
  return `${listCounts(new Map(Object.entries(footprint.keys)))}; lengths ${listCounts(new Map(Object.entries(footprint.lengths)))}`;
}

/** Writes each process's output to test-output/soak-<seed>-<time>/<name>.log, for a failed run to be looked into; returns the directory. */
async function keepLogs(seed: number, services: readonly ServiceProcess[]): Promise<string> {
  const dir = join(ROOT, 'test-output', `soak-${seed}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  await mkdir(dir, { recursive: true });
  await Promise.all(services.map((service) => writeFile(join(dir, `${service.name}.log`), `${service.output.join('\n')}\n`)));
  return dir;
}

/** The system under test, and the soak's own handles on it. */
interface System {
  redisServer: RedisServer;
  /** The soak's own connection to that Redis. */
  redis: Redis;
  keys: QueueKeys;
  prefix: string;
  database: TestDatabase;
  proxy: TcpProxy;
  slowLink: SlowLink;
  api: ServiceProcess;
  pool: WorkerPool;
  client: ApiClient;
  runLogDir: string;
}

/**
 * Starts a private Redis (AOF, fsync always), a PostgreSQL schema behind a proxy and a slow link,
 * the API and the soak workers; `cleanup` learns how to undo each step as it is taken.
 */
async function startSystem(cleanup: Cleanup, workerCount: number): Promise<System> {
  const dataDir = await realpath(await mkdtemp(join(tmpdir(), 'sluice-soak-')));
  cleanup.add('the data directory', () => rm(dataDir, { recursive: true, force: true }));
  const runLogDir = join(dataDir, 'runs');
  const redisDir = join(dataDir, 'redis');
  await Promise.all([mkdir(runLogDir), mkdir(redisDir)]);

  // `always` fsyncs each write before Redis replies: a kill loses nothing that was acknowledged.
  const redisServer = await RedisServer.start(['--appendonly', 'yes', '--appendfsync', 'always', '--dir', redisDir]);
  cleanup.add('redis-server', () => redisServer.stop());
  const config = isolatedConfig('soak', { REDIS_URL: redisServer.url, ...SETTINGS });
  const database = await createTestDatabase(config);
  cleanup.add('the PostgreSQL schema', () => database.drop());

  // Processes reach PostgreSQL through a proxy that can cut them off, in front of a link that can slow them down.
  const target = new URL(config.postgres.url);
  const slowLink = await SlowLink.start(Number(target.port || 5432), target.hostname);
  cleanup.add('the slow link', () => slowLink.close());
  const proxy = await TcpProxy.start(slowLink.port);
  cleanup.add('the proxy', () => proxy.close());
  const proxied = new URL(config.postgres.url);
  proxied.hostname = '127.0.0.1';
  proxied.port = String(proxy.port);
  const env = { ...envFor(config), ...SETTINGS, DATABASE_URL: proxied.toString() };

  const port = await freePort();
  const api = ServiceProcess.start('api', 'apps/api/src/server.ts', { ...env, PORT: String(port) });
  cleanup.add('the API', () => api.stop('SIGKILL'));
  const pool = new WorkerPool({ file: 'test/fixtures/soak-worker.ts', env: { ...env, SOAK_LOG_DIR: runLogDir }, size: workerCount, name: 'soak', maxRestarts: 1000 });
  cleanup.add('the workers', async () => {
    await pool.stop(TERM_BOUND_MS);
    await Promise.all(pool.started.map((service) => service.stop('SIGKILL')));
  });
  pool.start();
  await Promise.all([api.waitForOutput('Server listening', 60_000), pool.ready(60_000)]);

  const redis = new Redis(redisServer.url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, retryStrategy: () => 200, connectTimeout: 2000, commandTimeout: 5000 });
  redis.on('error', () => undefined);
  cleanup.add('the soak connection', () => redis.disconnect());
  if (!(await until(() => redis.status === 'ready', 10_000, 50))) throw new Error('the soak cannot reach its Redis');
  return {
    redisServer, redis, keys: queueKeys(config.redis.prefix, config.queue.queues[0] ?? 'default'), prefix: config.redis.prefix, database, proxy, slowLink,
    api, pool, client: new ApiClient(`http://127.0.0.1:${port}`, CLIENT_TIMEOUT_MS), runLogDir,
  };
}

/** Runs the soak and checks the invariants; stops everything it started, even when it fails. */
export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const log = options.log ?? ((line: string) => console.log(line));
  const signal = options.signal ?? new AbortController().signal;
  const random = new SeededRandom(options.seed);
  const workerCount = options.workers ?? random.fork('workers').int(2, 3);
  const durationMs = options.durationS * 1000;
  log(`soak: seed ${options.seed}; replay with: npx tsx --conditions=sluice-source test/faults/soak.ts --duration ${options.durationS} --seed ${options.seed}`);
  log(`soak: ${workerCount} workers × CONCURRENCY ${CONCURRENCY}, VISIBILITY_TIMEOUT_MS ${VISIBILITY_TIMEOUT_MS}, retention ${RETENTION_MS} ms, ${LANES} producer lanes`);

  const cleanup = new Cleanup();
  try {
    const system = await startSystem(cleanup, workerCount);
    const { redis, keys, pool, api, client } = system;
    const baseline = await redisFootprint(redis, system.prefix, keys);
    const accepted = new Map<string, AcceptedJob>();
    const watcher = new RedisWatcher(redis, keys.job, accepted);
    const traffic = new Traffic({ client, idempotencyTtlMs: IDEMPOTENCY_TTL_MS, maxUnfinished: MAX_UNFINISHED, unfinished: () => watcher.unfinished() }, accepted);
    const busy = async (name: string): Promise<boolean> => ((await redis.xpending(keys.stream, WORKER_GROUP, '-', '+', 1, name)) as unknown[]).length > 0;
    const faults = new FaultRunner({ pool, redis: system.redisServer, proxy: system.proxy, slowLink: system.slowLink, termBoundMs: TERM_BOUND_MS, busy, log });
    cleanup.add('the faults', () => faults.restore());
    const schedule = planFaults(random.fork('faults'), durationMs, workerCount, VISIBILITY_TIMEOUT_MS);
    log(`soak: faults planned: ${listCounts(countBy([...schedule.workers, ...schedule.services], (plan) => plan.kind))}`);

    // The run: producers and faults until the end, a watcher throughout, progress every 10 s.
    const startedAt = Date.now();
    watcher.start();
    cleanup.add('the watcher', () => watcher.stop());
    const progress = setInterval(() => {
      log(`soak: +${Math.round((Date.now() - startedAt) / 1000)} s: ${accepted.size} jobs accepted, ${watcher.unfinished()} unfinished, ${traffic.exchanges.length} requests, ${faults.windows.length} faults`);
    }, 10_000);
    cleanup.add('the progress timer', () => clearInterval(progress));
    await Promise.all([
      ...Array.from({ length: LANES }, (_, lane) => traffic.lane(lane, random.fork(`lane ${lane}`), startedAt + durationMs, signal)),
      faults.run(schedule, startedAt, signal),
    ]);
    clearInterval(progress);
    if (signal.aborted) throw new Error('interrupted');

    // The drain: every job finished, every event recorded in PostgreSQL, every finished job read twice.
    const drainStarted = Date.now();
    const drained = await until(() => watcher.unfinished() === 0, 90_000, 500);
    log(`soak: ${drained ? 'drained' : 'NOT drained'} in ${Date.now() - drainStarted} ms (${watcher.unfinished()} unfinished)`);
    const recorded = await until(async () => (await redis.xlen(keys.events)) === 0, 40_000, 250);
    log(`soak: events stream ${recorded ? 'empty' : `still holds ${await redis.xlen(keys.events).catch(() => '?')} entries`} ${Date.now() - drainStarted} ms after the run`);
    await sleep(1500);
    await watcher.stop();
    await watcher.pass();

    // While retention runs out, everything is read back; then Redis is measured and the workers stopped.
    const settleStarted = Date.now();
    const settled = until(async () => {
      const now = await redisFootprint(redis, system.prefix, keys);
      return (now.keys.job ?? 0) === 0 && (now.keys.idem ?? 0) === 0 && Object.values(now.lengths).every((length) => length === 0);
    }, SETTLE_BOUND_MS, 1000);
    const ids = [...accepted.keys()];
    const [finals, stored, runLogs, setAside] = await Promise.all([
      readFinal(client, ids), readHistory(system.database.pool, ids), readRunLogs(system.runLogDir), setAsideOf(redis, keys.historySetAside),
    ]);
    log(`soak: Redis ${(await settled) ? 'settled' : 'NOT settled'} ${Date.now() - settleStarted} ms after the drain`);
    const end = await redisFootprint(redis, system.prefix, keys);

    const apiAlive = api.child.exitCode === null && api.child.signalCode === null;
    const serving = Array.from({ length: workerCount }, (_, slot) => pool.worker(slot));
    const stopStarted = Date.now();
    const codes = await pool.stop(TERM_BOUND_MS);
    const stopTook = Date.now() - stopStarted;
    const finalStops: TermExit[] = serving.map((service, slot) => ({ name: service.name, code: codes[slot] ?? null, signal: service.child.signalCode, tookMs: stopTook }));
    const processes: ProcessEnd[] = pool.started.map((service) => ({
      name: service.name, code: service.child.exitCode, signal: service.child.signalCode,
      signalled: faults.signalled.has(service) || serving.includes(service),
      recycled: service.output.some((line) => line.includes('too many handlers still running past their attempts')),
    }));

    const evidence: Evidence = {
      accepted, exchanges: traffic.exchanges, trafficProblems: traffic.problems, windows: faults.windows, finals, redis: watcher.finished, stored, setAside,
      runLogs, concurrency: CONCURRENCY, memory: { baseline, end, slackBytes: MEMORY_SLACK_BYTES }, processes, termExits: [...faults.termExits, ...finalStops],
      termBoundMs: TERM_BOUND_MS, apiAlive, retentionMs: RETENTION_MS,
    };
    const rows = checkInvariants(evidence);
    const summary = summarize(options, workerCount, evidence, traffic, faults, pool);
    const violations = rows.reduce((sum, row) => sum + row.violations, 0);
    if (violations > 0) summary.push(`process logs: ${await keepLogs(options.seed, [api, ...pool.started])}`);
    return { seed: options.seed, rows, table: formatTable(rows), summary, violations };
  } finally {
    await cleanup.runAll(log);
  }
}

/** What the run did, in a few lines: jobs, answers, faults, handler runs, and what Redis held. */
function summarize(options: SoakOptions, workerCount: number, evidence: Evidence, traffic: Traffic, faults: FaultRunner, pool: WorkerPool): string[] {
  const { accepted, finals, runLogs, processes, memory } = evidence;
  const ran = runLogs.runs;
  const expiredReads = traffic.exchanges.filter((exchange) => isExpiredRead(evidence, exchange));
  const outputs = pool.started.flatMap((service) => service.output);
  return [
    `seed ${options.seed}, ${options.durationS} s, ${workerCount} workers; ${accepted.size} jobs accepted, ${traffic.exchanges.length} requests`,
    `jobs by kind: ${listCounts(countBy(accepted.values(), (job) => job.kind))}`,
    `final status: ${listCounts(countBy(accepted.keys(), (id) => String(finals.get(id)?.job?.status ?? `HTTP ${finals.get(id)?.status}`)))}`,
    `answers: ${listCounts(countBy(traffic.exchanges, (exchange) => `${exchange.route} ${exchange.status}`))}`,
    `faults run: ${listCounts(countBy(faults.windows, (window) => window.kind))}${faults.skipped.length > 0 ? `; skipped: ${faults.skipped.join(', ')}` : ''}`,
    `handler runs: ${ran.length} (${listCounts(countBy(ran, (run) => (run.outcome ? `${run.outcome}${run.aborted ? ' after abort' : ''}` : 'cut short')))}); ` +
      `runs of jobs not answered 2xx: ${ran.filter((run) => !accepted.has(run.job)).length}; unreadable log lines: ${runLogs.unreadable}`,
    `worker processes: ${pool.started.length}; stale transitions refused: ${outputs.filter((line) => line.includes('refused: the attempt is no longer current')).length}; ` +
      `recycled: ${processes.filter((process) => process.recycled).length}`,
    `history set aside: ${evidence.setAside.length}; Redis at the start: ${keysOf(memory.baseline)}; at the end: ${keysOf(memory.end)}`,
    `reads answered 404 for jobs past their retention whose history was not yet in PostgreSQL: ${expiredReads.length}` +
      `${expiredReads.length > 0 ? ` (e.g. ${expiredReads.slice(0, 3).map((exchange) => `${exchange.jobId} at ${new Date(exchange.sentAt).toISOString()}`).join(', ')})` : ''}`,
  ];
}

function parseArgs(argv: readonly string[]): { durationS: number; seed: number; workers?: number } {
  const value = (name: string): string | undefined => {
    const at = argv.indexOf(`--${name}`);
    return at >= 0 ? argv[at + 1] : undefined;
  };
  const number = (name: string, fallback: number | undefined, min: number, max: number): number | undefined => {
    const text = value(name);
    if (text === undefined) return fallback;
    const parsed = Number(text);
    if (!Number.isInteger(parsed) || parsed < min || parsed > max) throw new Error(`--${name} must be an integer from ${min} to ${max} (got "${text}")`);
    return parsed;
  };
  return {
    durationS: number('duration', 60, 10, 24 * 3600) as number,
    seed: number('seed', undefined, 0, 2 ** 32 - 1) ?? newSeed(),
    ...(value('workers') !== undefined && { workers: number('workers', undefined, 2, 3) }),
  };
}

async function main(): Promise<void> {
  let options: ReturnType<typeof parseArgs>;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (error) {
    console.error(`soak: ${(error as Error).message}\nusage: npx tsx --conditions=sluice-source test/faults/soak.ts [--duration seconds] [--seed n] [--workers 2|3]`);
    process.exit(2);
  }
  const controller = new AbortController();
  process.once('SIGINT', () => {
    console.log('soak: interrupted; stopping what it started (Ctrl-C again to leave at once)');
    controller.abort();
    process.once('SIGINT', () => process.exit(130));
  });
  let report: SoakReport;
  try {
    report = await runSoak({ ...options, signal: controller.signal });
  } catch (error) {
    if (!controller.signal.aborted) throw error;
    console.log('soak: interrupted; everything it started is stopped');
    process.exit(130);
  }
  console.log(`\n${report.summary.map((line) => `  ${line}`).join('\n')}\n\n${report.table}\n`);
  console.log(report.violations === 0 ? 'soak: every invariant held' : `soak: ${report.violations} violations (seed ${report.seed})`);
  process.exit(report.violations === 0 ? 0 : 1);
}

// Run as a program, not imported (as the CI test does).
if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    console.error(`soak: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
    process.exit(2);
  });
}
