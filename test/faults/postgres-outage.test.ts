import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeRedis, createRedis, Queue, queueKeys, waitForRedis, type ScriptedRedis } from '@sluice/core';
import { createJobRegistry } from '@sluice/jobs';
import { createTestDatabase, dropRedisKeys, envFor, isolatedConfig, waitFor, type TestDatabase } from '../support/context';
import { ServiceProcess } from '../support/processes';
import { TcpProxy } from '../support/tcp-proxy';

const CUT_MS = 10_000;
/** Jobs added this long into the cut must have completed before it ends. */
const SUBMIT_DURING_CUT_MS = 8000;
const BEFORE_MS = 2000;
const AFTER_MS = 1000;
const BATCH = 10;
const BATCH_INTERVAL_MS = 50;

const config = isolatedConfig('pg-outage');
const events = queueKeys(config.redis.prefix, 'default').events;
let database: TestDatabase;
let proxy: TcpProxy;
let workers: ServiceProcess[] = [];
let redis: ScriptedRedis;
let queue: Queue;

beforeAll(async () => {
  // Migrated straight on the real server: only the workers go through the proxy.
  database = await createTestDatabase(config);
  const real = new URL(config.postgres.url);
  proxy = await TcpProxy.start(Number(real.port || 5432), real.hostname);
  const proxied = new URL(config.postgres.url);
  proxied.hostname = '127.0.0.1';
  proxied.port = String(proxy.port);
  const env = { ...envFor(config), DATABASE_URL: proxied.toString(), CONCURRENCY: '8' };
  workers = [1, 2].map((n) => ServiceProcess.start(`worker-${n}`, 'apps/worker/src/main.ts', { ...env, WORKER_NAME: `pg-outage-worker-${n}` }));
  redis = createRedis(config.redis);
  await waitForRedis(redis, 5000);
  queue = new Queue({ redis, redisConfig: config.redis, queueConfig: config.queue, registry: createJobRegistry() });
  await Promise.all(workers.map((worker) => worker.waitForOutput('worker started')));
}, 60_000);

afterAll(async () => {
  proxy?.restore();
  let codes: (number | null)[] = [];
  try {
    codes = await Promise.all(workers.map((worker) => worker.stop('SIGTERM')));
  } finally {
    await proxy?.close();
    if (redis) await closeRedis(redis);
    await dropRedisKeys(config);
    await database?.drop();
  }
  expect(codes.every((code) => code === 0)).toBe(true);
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const allOutput = (): string => workers.flatMap((worker) => worker.output).join('\n');

async function redisStatuses(ids: readonly string[]): Promise<string[]> {
  const jobs = await Promise.all(ids.map((id) => queue.getJob(id)));
  return jobs.map((job) => job?.status ?? 'missing');
}

async function recordedEvents(ids: readonly string[]): Promise<number> {
  const { rows } = await database.pool.query<{ n: string }>('SELECT count(*) AS n FROM job_events WHERE job_id = ANY($1::uuid[])', [ids]);
  return Number(rows[0]?.n);
}

/** Transitions waiting in the events stream, whose entries hold one script call's events each. */
async function eventsWaiting(): Promise<number> {
  const entries = await redis.xrange(events, '-', '+');
  return entries.reduce((sum, [, fields]) => sum + (JSON.parse(fields[1] ?? '[]') as unknown[]).length, 0);
}

describe('PostgreSQL is cut off from the workers for 10 s, starting with a history write in flight', () => {
  it('keeps both workers running and completing jobs while history waits in Redis, then records every transition exactly once', async () => {
    const added: { id: string; at: number }[] = [];
    let stopping = false;
    const hardStop = Date.now() + BEFORE_MS + CUT_MS + AFTER_MS + 10_000;
    let peakBacklog = 0;
    const submitter = (async () => {
      // Ends by itself at `hardStop` should the test fail before it sets `stopping`.
      for (let n = 0; !stopping && Date.now() < hardStop; n += 1) {
        const jobs = await queue.addBulk(Array.from({ length: BATCH }, (_, i) => ({ type: 'noop', payload: { n: n * BATCH + i } })));
        const at = Date.now();
        for (const job of jobs) added.push({ id: job.id, at });
        await sleep(BATCH_INTERVAL_MS);
      }
    })();
    const sampler = (async () => {
      while (!stopping && Date.now() < hardStop) {
        peakBacklog = Math.max(peakBacklog, await redis.xlen(events));
        await sleep(50);
      }
    })();

    let cutAt = 0;
    let restoredAt = 0;
    let duringCut: string[] = [];
    let completedInCut = 0;
    let waitingAtRestore = 0;
    let recordedInCut = -1;
    let checkedAt = Number.POSITIVE_INFINITY;
    try {
      await sleep(BEFORE_MS);
      // As a recorder sends its write, so the cut finds a pooled client with the statement in
      // flight: the worst moment, and a common one while the recorder is busy.
      await proxy.cutOnClientData('INSERT INTO job_events', 5000);
      cutAt = Date.now();
      await sleep(SUBMIT_DURING_CUT_MS);
      const gone = workers.filter((worker) => worker.child.exitCode !== null || worker.child.signalCode !== null);
      expect(gone.map((worker) => `${worker.name} exited (${worker.child.exitCode ?? worker.child.signalCode}):\n${worker.output.slice(-25).join('\n')}`)).toEqual([]);
      duringCut = added.filter((job) => job.at > cutAt && job.at <= cutAt + SUBMIT_DURING_CUT_MS).map((job) => job.id);
      await waitFor('jobs added during the cut to complete in Redis', async () => {
        const statuses = await redisStatuses(duringCut);
        completedInCut = statuses.filter((status) => status === 'completed').length;
        return completedInCut === duringCut.length;
      }, CUT_MS - SUBMIT_DURING_CUT_MS - 300, 50);
      recordedInCut = await recordedEvents(duringCut);
      checkedAt = Date.now();
      await sleep(cutAt + CUT_MS - Date.now());
      waitingAtRestore = await eventsWaiting();
      restoredAt = Date.now();
      proxy.restore();
      await sleep(AFTER_MS);
    } finally {
      stopping = true;
      await Promise.all([submitter, sampler]);
    }

    expect(duringCut.length).toBeGreaterThan(100);
    expect(checkedAt).toBeLessThan(cutAt + CUT_MS);
    expect(completedInCut).toBe(duringCut.length);
    expect(recordedInCut).toBe(0);
    expect(waitingAtRestore).toBeGreaterThanOrEqual(3 * duringCut.length);
    expect(allOutput()).toContain('history recorder cannot write; events wait in Redis');

    await waitFor('the events of the cut to reach PostgreSQL', async () => (await recordedEvents(duringCut)) === 3 * duringCut.length, 20_000, 50);
    const caughtUpMs = Date.now() - restoredAt;
    await waitFor('the events stream to drain', async () => (await redis.xlen(events)) === 0, 10_000, 50);
    expect(allOutput()).toContain('history recorder writing again');

    const ids = added.map((job) => job.id);
    const { rows: jobRows } = await database.pool.query<{ status: string; attempts: number; n: string }>(
      'SELECT status, attempts, count(*) AS n FROM jobs WHERE id = ANY($1::uuid[]) GROUP BY status, attempts', [ids],
    );
    expect(jobRows).toEqual([{ status: 'completed', attempts: 1, n: String(ids.length) }]);
    const { rows: histories } = await database.pool.query<{ history: string; n: string }>(
      `SELECT history, count(*) AS n FROM (
         SELECT string_agg(seq || ':' || status, ' ' ORDER BY seq) AS history FROM job_events WHERE job_id = ANY($1::uuid[]) GROUP BY job_id
       ) AS h GROUP BY history`,
      [ids],
    );
    expect(histories).toEqual([{ history: '1:pending 2:processing 3:completed', n: String(ids.length) }]);

    console.log(
      [
        'postgres outage:',
        `  jobs: ${ids.length} (${duringCut.length} added and completed while PostgreSQL was cut off)`,
        `  events waiting in Redis: ${waitingAtRestore} when the cut ended; stream entries (one per script call) at the peak: ${peakBacklog}`,
        `  caught up ${caughtUpMs} ms after the restore`,
      ].join('\n'),
    );
  }, 45_000);
});
