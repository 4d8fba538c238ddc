import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Type } from 'typebox';
import {
  closeRedis, createRedis, defineJobType, JobTypeRegistry, loadConfig, Queue, RedisUnavailableError, waitForRedis, Worker, type ScriptedRedis,
  type SluiceConfig,
} from '@sluice/core';
import { createTestDatabase, envFor, isolatedConfig, waitFor, type TestDatabase } from '../support/context';
import { submitOverHttp, Traffic } from '../support/http-traffic';
import { ServiceProcess } from '../support/processes';
import { freePort } from '../support/redis-server';
import { SENTINEL_MASTER, SentinelGroup } from '../support/sentinel-group';

const noop = defineJobType({ name: 'noop', payload: Type.Object({}) });
const registry = new JobTypeRegistry([noop]);

let group: SentinelGroup;
let config: SluiceConfig;
let redis: ScriptedRedis;
let queue: Queue;
let worker: Worker;
const completed = new Set<string>();

beforeAll(async () => {
  group = await SentinelGroup.start();
  const base = isolatedConfig('sentinel');
  // REDIS_URL names no node here: the sentinels say where the master is.
  config = loadConfig({
    REDIS_URL: 'redis://127.0.0.1:1', REDIS_SENTINELS: group.addresses, REDIS_SENTINEL_MASTER: SENTINEL_MASTER, REDIS_PREFIX: base.redis.prefix,
    WORKER_BLOCK_MS: '200', LOG_LEVEL: 'silent',
  });
  redis = createRedis(config.redis);
  redis.on('error', () => undefined);
  await waitForRedis(redis, 10_000);
  queue = new Queue({ redis, redisConfig: config.redis, queueConfig: config.queue, registry });
  worker = new Worker({ redis: config.redis, queue: config.queue, worker: config.worker, registry, handlers: { noop: () => 'done' } });
  worker.on('job:completed', ({ id }) => completed.add(id));
  await worker.start();
}, 60_000);

afterAll(async () => {
  await worker?.close(1000);
  if (redis) await closeRedis(redis);
  await group?.stop();
});

/** Submits until Redis takes the job: during a failover the producer answers 503 (RedisUnavailableError), briefly. */
async function submitThroughFailover(): Promise<{ id: string; refusals: number }> {
  let refusals = 0;
  const id = await waitFor('a submission to be taken', async () => {
    try {
      return (await queue.add('noop', {})).id;
    } catch (error) {
      if (!(error instanceof RedisUnavailableError)) throw error;
      refusals += 1;
      return null;
    }
  }, 30_000, 100);
  return { id, refusals };
}

describe('Redis behind Sentinel', () => {
  it('finds the master through the sentinels, and follows a failover: the producer answers again and the worker carries on by itself', async () => {
    const before = await Promise.all(Array.from({ length: 20 }, () => queue.add('noop', {}).then((job) => job.id)));
    await waitFor('the jobs before the failover to complete', () => before.every((id) => completed.has(id)), 10_000);
    expect(await group.masterPort()).toBe(group.master.port);

    await group.master.kill();
    const first = await submitThroughFailover();
    await waitFor('the sentinels to promote the replica', async () => (await group.masterPort()) === group.replica.port, 30_000, 100);

    const after = [first.id, ...(await Promise.all(Array.from({ length: 20 }, () => queue.add('noop', {}).then((job) => job.id))))];
    await waitFor('the jobs after the failover to complete on the new master', () => after.every((id) => completed.has(id)), 30_000);
    expect(await redis.call('ROLE')).toEqual(expect.arrayContaining(['master']));
  }, 90_000);
});

describe('the API and stock workers behind Sentinel, with REDIS_WAIT_REPLICAS=1', () => {
  const PARTITIONS = 6;
  const JOBS = 2000;
  const NOOP = { type: 'noop', payload: {} };
  /**
   * Longest the API may refuse submissions across the master's death. Measured here: the sentinels
   * promote the replica about 2.5 s after the kill and the API, reconnecting with backoff, is on it
   * about 5 s after; under WAIT the new master takes jobs once the killed node is back as its synced
   * replica, about 7.5 s after the kill (a master waits 5 s before a diskless sync). The bound leaves
   * room for a machine other tests share, and still fails an API that never follows the sentinels.
   */
  const OUTAGE_LIMIT_MS = 15_000;

  let stackGroup: SentinelGroup;
  let stackConfig: SluiceConfig;
  let database: TestDatabase;
  let api: ServiceProcess;
  let workers: ServiceProcess[] = [];
  let url: string;

  beforeAll(async () => {
    stackGroup = await SentinelGroup.start();
    const sentinels = { REDIS_SENTINELS: stackGroup.addresses, REDIS_SENTINEL_MASTER: SENTINEL_MASTER };
    // REDIS_URL names no node here: the sentinels say where the master is.
    stackConfig = isolatedConfig('sentinel-stack', { REDIS_URL: 'redis://127.0.0.1:1', ...sentinels, QUEUES: `default:${PARTITIONS}` });
    database = await createTestDatabase(stackConfig);
    // A worker's read whose reply dies with the master leaves its entries pending on that worker; a
    // short visibility timeout lets the reclaimer hand them on within the test's time.
    const env = { ...envFor(stackConfig), ...sentinels, VISIBILITY_TIMEOUT_MS: '3000' };
    workers = [1, 2].map((n) => ServiceProcess.start(`worker-${n}`, 'apps/worker/src/main.ts', { ...env, WORKER_NAME: `sentinel-worker-${n}` }));
    await Promise.all(workers.map((worker) => worker.waitForOutput('worker started')));
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    api = ServiceProcess.start('api', 'apps/api/src/server.ts', { ...env, PORT: String(port), REDIS_WAIT_REPLICAS: '1' });
    await api.waitForOutput('Server listening');
  }, 90_000);

  afterAll(async () => {
    await Promise.all([api, ...workers].filter(Boolean).map((service) => service.stop('SIGTERM')));
    await database?.drop();
    await stackGroup?.stop();
  });

  async function completedInHistory(ids: readonly string[]): Promise<number> {
    const { rows } = await database.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM jobs WHERE status = 'completed' AND id = ANY($1::uuid[])`, [ids]);
    return rows[0]?.n ?? 0;
  }

  it(`runs ${JOBS} jobs over HTTP with their history, and loses no accepted job when the master is killed mid-run`, async () => {
    const startedAt = Date.now();
    const ids = await submitOverHttp(url, JOBS, NOOP);
    expect(new Set(ids).size).toBe(JOBS);
    await waitFor('every job completed in PostgreSQL', async () => (await completedInHistory(ids)) === JOBS, 60_000, 250);
    const firstPhaseMs = Date.now() - startedAt;

    const traffic = new Traffic({ url, partitions: PARTITIONS, bulkLanes: 1, bulkSize: 20, pauseMs: 20, job: NOOP });
    const timeline = { killedAt: 0, promotedAt: 0, rejoinedAt: 0 };
    try {
      await waitFor('submissions to flow before the kill', () => traffic.accepted().length >= 300, 20_000, 50);
      timeline.killedAt = Date.now();
      await stackGroup.master.kill();
      await waitFor('the sentinels to promote the replica', async () => (await stackGroup.masterPort()) === stackGroup.replica.port, 30_000, 100);
      timeline.promotedAt = Date.now();
      // WAIT answers 2xx only once a replica has the job: the promoted replica has none until the
      // killed node comes back, as a supervisor restarts it, and the sentinels make it a replica.
      await stackGroup.rejoin(stackGroup.master);
      timeline.rejoinedAt = Date.now();
      await traffic.acceptingSince(timeline.rejoinedAt, 5, 30_000);
    } finally {
      await traffic.stop();
    }

    const accepted = traffic.accepted();
    await waitFor('every accepted job completed in PostgreSQL', async () => {
      const completed = await completedInHistory(accepted);
      if (completed === accepted.length) return true;
      throw new Error(`${accepted.length - completed} of ${accepted.length} accepted jobs are not completed in PostgreSQL`);
    }, 45_000, 250);
    for (const service of [api, ...workers]) expect({ [service.name]: service.child.exitCode ?? service.child.signalCode }).toEqual({ [service.name]: null });

    const refusals = traffic.refusals();
    const outages = traffic.outages();
    console.log(`sentinel, WAIT=1: ${JOBS} jobs over HTTP completed with their history in ${(firstPhaseMs / 1000).toFixed(1)} s; master killed: ` +
      `replica promoted ${timeline.promotedAt - timeline.killedAt} ms, the killed node a replica again ${timeline.rejoinedAt - timeline.killedAt} ms after the kill; ` +
      `${accepted.length} jobs accepted in ${traffic.attempts.length} submissions, 0 lost; ` +
      `refused: ${Object.entries(refusals).map(([answer, count]) => `${count}× ${answer}`).join(', ') || 'none'}; ` +
      `longest refusals: ${outages.slice(0, 3).map((outage) => `${outage.partition === null ? 'bulk' : `p${outage.partition}`} ${outage.ms} ms`).join(', ') || 'none'}`);
    // A refusal is a 503 a client retries (REDIS_UNAVAILABLE, or NOT_REPLICATED while no replica has the job), never a 500 or no answer.
    expect(Object.keys(refusals).filter((answer) => !/^503 (REDIS_UNAVAILABLE|NOT_REPLICATED)$/.test(answer))).toEqual([]);
    expect(outages[0]?.ms ?? 0).toBeLessThan(OUTAGE_LIMIT_MS);
  }, 150_000);
});
