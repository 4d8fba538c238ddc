import { mkdtemp, readdir, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeRedis, createRedis, Queue, queueKeys, waitForRedis, type SluiceConfig } from '@sluice/core';
import { createJobRegistry } from '@sluice/jobs';
import { composeRedisDurabilityArgs } from '../support/compose-file';
import { createTestDatabase, dropRedisKeys, envFor, isolatedConfig, waitFor, type TestDatabase } from '../support/context';
import { ServiceProcess } from '../support/processes';
import { freePort, RedisServer } from '../support/redis-server';

const LANES = 4;
const BEFORE_MS = 2000;
const OUTAGE_MS = 2500;
const AFTER_MS = 2500;
const MIN_ACCEPTED_AFTER = 20;
const CLIENT_TIMEOUT_MS = 5000;
/** The API promises a 503 within 2 s even when Redis hangs; a dead Redis must not take longer. */
const REFUSAL_LIMIT_MS = 2000;

/** One POST /jobs as the client saw it. Times are Date.now(). */
interface Attempt {
  sentAt: number;
  answeredAt: number;
  ms: number;
  status: number | 'timeout' | 'network-error';
  id?: string;
}

let dataDir: string;
let server: RedisServer;
let redisUp = false;
let config: SluiceConfig;
let database: TestDatabase;
let api: ServiceProcess;
let workers: ServiceProcess[] = [];
let baseUrl: string;

beforeAll(async () => {
  dataDir = await realpath(await mkdtemp(join(tmpdir(), 'sluice-redis-restart-')));
  // What docker-compose.yml ships: `always` fsyncs each write before Redis replies, so a job the
  // API answered 2xx for is on disk.
  server = await RedisServer.start([...composeRedisDurabilityArgs(), '--dir', dataDir]);
  redisUp = true;
  config = isolatedConfig('redis-restart', { REDIS_URL: server.url });
  database = await createTestDatabase(config);
  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  // A read whose reply dies with the server leaves its entries pending on that worker; a short
  // visibility timeout lets the reclaimer hand them on within the test's time.
  const env = { ...envFor(config), CONCURRENCY: '8', VISIBILITY_TIMEOUT_MS: '3000' };
  api = ServiceProcess.start('api', 'apps/api/src/server.ts', { ...env, PORT: String(port) });
  workers = [1, 2].map((n) => ServiceProcess.start(`worker-${n}`, 'apps/worker/src/main.ts', { ...env, WORKER_NAME: `restart-worker-${n}` }));
  await Promise.all([api.waitForOutput('Server listening'), ...workers.map((worker) => worker.waitForOutput('worker started'))]);
}, 60_000);

afterAll(async () => {
  // Services stop cleanly only with Redis there to flush to.
  if (server && !redisUp) await server.start();
  await Promise.all([api, ...workers].filter(Boolean).map((service) => service.stop('SIGTERM')));
  if (config) await dropRedisKeys(config);
  await database?.drop();
  await server?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function submit(): Promise<Attempt> {
  const sentAt = Date.now();
  const started = performance.now();
  const answered = (status: Attempt['status'], id?: string): Attempt => ({
    sentAt, answeredAt: Date.now(), ms: performance.now() - started, status, ...(id !== undefined && { id }),
  });
  try {
    const response = await fetch(`${baseUrl}/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'sleep', payload: { ms: 5 } }),
      signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS),
    });
    const body = (await response.json()) as { id?: string };
    return answered(response.status, response.ok ? body.id : undefined);
  } catch (error) {
    return answered((error as Error).name === 'TimeoutError' ? 'timeout' : 'network-error');
  }
}

/** Opens a connection to the test's server that gives up at once instead of reconnecting. */
async function probe(): Promise<Redis> {
  const redis = new Redis(server.url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  redis.on('error', () => undefined);
  await redis.connect();
  return redis;
}

describe('Redis with AOF is killed and restarted while jobs flow', () => {
  it('refuses submissions with a fast 503 while Redis is gone, loses no accepted job, and resumes by itself', async () => {
    const attempts: Attempt[] = [];
    const timeline = { killedAt: 0, downAt: 0, restartAt: 0, upAt: 0 };
    let stopping = false;
    const hardStop = Date.now() + BEFORE_MS + OUTAGE_MS + 15_000;
    const acceptedAfterRestart = (): number => attempts.filter((a) => a.status === 202 && timeline.restartAt > 0 && a.sentAt >= timeline.restartAt).length;
    const lanes = Array.from({ length: LANES }, async () => {
      while (!stopping && Date.now() < hardStop) {
        attempts.push(await submit());
        await sleep(10);
      }
    });

    let persistedBeforeRestart: string[] = [];
    let missingAfterRestart: string[] = [];
    let reloadedDir = '';
    let aofFiles: string[] = [];
    let probeJob = '';
    let probeAddedAt = 0;
    try {
      await sleep(BEFORE_MS);
      // SIGKILL, not SIGTERM: a crash gets no chance to flush or rewrite the AOF on the way out, so
      // only what `appendfsync always` already put on disk can come back.
      timeline.killedAt = Date.now();
      await server.kill();
      redisUp = false;
      timeline.downAt = Date.now();
      await sleep(OUTAGE_MS);

      persistedBeforeRestart = attempts.filter((a) => a.status === 202).map((a) => a.id as string);
      timeline.restartAt = Date.now();
      await server.start();
      redisUp = true;
      timeline.upAt = Date.now();

      const check = await probe();
      try {
        reloadedDir = String(((await check.config('GET', 'dir')) as string[])[1]);
        const keys = queueKeys(config.redis.prefix, 'default');
        const exists = await Promise.all(persistedBeforeRestart.map((id) => check.exists(keys.job(id))));
        missingAfterRestart = persistedBeforeRestart.filter((_, index) => exists[index] !== 1);
      } finally {
        check.disconnect();
      }
      aofFiles = await readdir(join(dataDir, 'appendonlydir'));
      // Added past the API, so the workers' recovery is timed apart from the API's.
      const producer = createRedis(config.redis);
      try {
        await waitForRedis(producer, 5000);
        probeAddedAt = Date.now();
        probeJob = (await new Queue({ redis: producer, redisConfig: config.redis, queueConfig: config.queue, registry: createJobRegistry() }).add('sleep', { ms: 5 })).id;
      } finally {
        await closeRedis(producer);
      }

      await waitFor('submissions to be accepted after the restart', () => Date.now() - timeline.upAt >= AFTER_MS && acceptedAfterRestart() >= MIN_ACCEPTED_AFTER, 12_000, 50);
    } finally {
      stopping = true;
      await Promise.all(lanes);
    }

    expect(reloadedDir).toBe(dataDir);
    expect(aofFiles.some((file) => file.endsWith('.manifest'))).toBe(true);
    expect(persistedBeforeRestart.length).toBeGreaterThan(0);
    expect(missingAfterRestart).toEqual([]);

    const unanswered = attempts.filter((a) => typeof a.status !== 'number');
    expect(unanswered).toEqual([]);
    expect([...new Set(attempts.map((a) => a.status))].sort()).toEqual([202, 503]);

    const duringOutage = attempts.filter((a) => a.sentAt >= timeline.downAt && a.answeredAt <= timeline.restartAt);
    expect(duringOutage.length).toBeGreaterThan(0);
    expect(duringOutage.every((a) => a.status === 503)).toBe(true);
    const slowestRefusal = Math.max(...duringOutage.map((a) => a.ms));
    expect(slowestRefusal).toBeLessThan(REFUSAL_LIMIT_MS);

    const accepted = [...attempts.filter((a) => a.status === 202).map((a) => a.id as string), probeJob];
    expect(new Set(accepted).size).toBe(accepted.length);
    const afterRestart = attempts.filter((a) => a.status === 202 && a.sentAt >= timeline.restartAt).map((a) => a.id as string);
    expect(afterRestart.length).toBeGreaterThanOrEqual(MIN_ACCEPTED_AFTER);
    expect(persistedBeforeRestart.length + afterRestart.length).toBe(accepted.length - 1);

    await waitFor('every accepted job completed in PostgreSQL', async () => {
      const { rows } = await database.pool.query<{ n: string }>(`SELECT count(*) AS n FROM jobs WHERE status = 'completed' AND id = ANY($1::uuid[])`, [accepted]);
      return Number(rows[0]?.n) === accepted.length;
    }, 20_000, 100);

    for (const id of [persistedBeforeRestart[0], afterRestart.at(-1)]) {
      const response = await fetch(`${baseUrl}/jobs/${id}`, { signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS) });
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ id, status: 'completed' });
    }
    for (const worker of workers) expect(worker.child.exitCode === null && worker.child.signalCode === null).toBe(true);

    const firstAccepted = Math.min(...attempts.filter((a) => a.status === 202 && a.answeredAt >= timeline.restartAt).map((a) => a.answeredAt));
    const { rows: [resumed] } = await database.pool.query<{ at: Date }>(
      `SELECT at FROM job_events WHERE job_id = $1 AND status = 'processing'`, [probeJob],
    );
    const refused = attempts.filter((a) => a.status === 503);
    console.log(
      [
        'redis restart:',
        `  accepted over HTTP ${accepted.length - 1} (${persistedBeforeRestart.length} before the kill, ${afterRestart.length} after the restart), all completed`,
        `  refused with 503: ${refused.length}, ${duringOutage.length} of them while Redis was down; slowest refusal ${slowestRefusal.toFixed(0)} ms`,
        `  outage: ${timeline.upAt - timeline.killedAt} ms from the kill until Redis answered again`,
        `  time to recover, from the restart of redis-server: Redis answering ${timeline.upAt - timeline.restartAt} ms, API's first 202 ${firstAccepted - timeline.restartAt} ms, ` +
          `workers starting a job added at ${probeAddedAt - timeline.restartAt} ms: ${(resumed?.at.getTime() ?? Number.NaN) - timeline.restartAt} ms`,
      ].join('\n'),
    );
  }, 45_000);
});
