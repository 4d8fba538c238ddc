import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  closeRedis, createRedis, partitionTag, placesOfJob, queuePartitions, slotOfTag, type Partition, type ScriptedRedis, type SluiceConfig,
} from '@sluice/core';
import { createTestDatabase, envFor, isolatedConfig, waitFor, type TestDatabase } from '../support/context';
import { submitOverHttp, Traffic, type Outage } from '../support/http-traffic';
import { ServiceProcess } from '../support/processes';
import { RedisCluster } from '../support/redis-cluster';
import { freePort } from '../support/redis-server';

const QUEUE = 'default';
const PARTITIONS = 6;
const JOBS = 2000;
const NOOP = { type: 'noop', payload: {} };
/**
 * Longest a partition may refuse submissions across a master's death. Measured here: about 2.5–3 s
 * without WAIT (node timeout 1 s, then the replicas' vote); with WAIT until the killed node is back
 * as the new master's synced replica, about 7–8.5 s after the kill (a master waits 5 s before a
 * diskless sync). The bound leaves room for a machine other tests share, and still fails an API
 * that never finds the new master or the moved slots.
 */
const OUTAGE_LIMIT_MS = 15_000;
/** Answers each lane must get after a fault is over, to show every partition takes jobs again. */
const ACCEPTED_AFTER = 5;

let cluster: RedisCluster;
let config: SluiceConfig;
let database: TestDatabase;
let redis: ScriptedRedis;
let workers: ServiceProcess[] = [];
/** An API that answers 2xx once a replica has each job (REDIS_WAIT_REPLICAS=1), and one that answers once the master has it. */
let replicatedApi: ServiceProcess;
let plainApi: ServiceProcess;
let replicatedUrl: string;
let plainUrl: string;

beforeAll(async () => {
  cluster = await RedisCluster.start();
  config = isolatedConfig('cluster-failover', { REDIS_CLUSTER_NODES: cluster.seedNodes, QUEUES: `${QUEUE}:${PARTITIONS}` });
  database = await createTestDatabase(config);
  redis = createRedis(config.redis);
  redis.on('error', () => undefined);
  // A worker's read whose reply dies with a master leaves its entries pending on that worker; a short
  // visibility timeout lets the reclaimer hand them on within the test's time.
  const env = { ...envFor(config), VISIBILITY_TIMEOUT_MS: '3000' };
  workers = [1, 2].map((n) => ServiceProcess.start(`worker-${n}`, 'apps/worker/src/main.ts', { ...env, WORKER_NAME: `cluster-worker-${n}` }));
  await Promise.all(workers.map((worker) => worker.waitForOutput('worker started')));
  const [replicatedPort, plainPort] = [await freePort(), await freePort()];
  replicatedUrl = `http://127.0.0.1:${replicatedPort}`;
  plainUrl = `http://127.0.0.1:${plainPort}`;
  replicatedApi = ServiceProcess.start('api-wait', 'apps/api/src/server.ts', { ...env, PORT: String(replicatedPort), REDIS_WAIT_REPLICAS: '1' });
  plainApi = ServiceProcess.start('api', 'apps/api/src/server.ts', { ...env, PORT: String(plainPort) });
  await Promise.all([replicatedApi, plainApi].map((api) => api.waitForOutput('Server listening')));
}, 90_000);

afterAll(async () => {
  await Promise.all([replicatedApi, plainApi, ...workers].filter(Boolean).map((service) => service.stop('SIGTERM')));
  if (redis) await closeRedis(redis);
  await database?.drop();
  await cluster?.stop();
});

/** The accepted jobs PostgreSQL has as completed. */
async function completedInHistory(ids: readonly string[]): Promise<Set<string>> {
  const { rows } = await database.pool.query<{ id: string }>(`SELECT id FROM jobs WHERE status = 'completed' AND id = ANY($1::uuid[])`, [ids]);
  return new Set(rows.map((row) => row.id));
}

/** Of `ids`, those whose hash Redis no longer has in any place the job can be. */
async function goneFromRedis(ids: readonly string[]): Promise<string[]> {
  const exists = await Promise.all(ids.map(async (id) => {
    const found = await Promise.all(placesOfJob(config.redis.prefix, [QUEUE], id).map(({ keys }) => redis.exists(keys.job(id))));
    return found.some((count) => count > 0);
  }));
  return ids.filter((_, index) => !exists[index]);
}

/** Every service process still runs: none died and none was restarted. */
function expectServicesRunning(): void {
  for (const service of [replicatedApi, plainApi, ...workers]) expect({ [service.name]: service.child.exitCode ?? service.child.signalCode }).toEqual({ [service.name]: null });
}

/**
 * Runs submissions against each API in `urls` while `fault` happens, until every lane of each has
 * been answered 2xx again after it; `fault` returns when the cluster has recovered.
 */
async function trafficThrough(urls: readonly string[], fault: () => Promise<void>): Promise<Traffic[]> {
  const traffics = urls.map((url) => new Traffic({ url, partitions: PARTITIONS, bulkLanes: 1, bulkSize: 20, pauseMs: 20 * urls.length, job: NOOP }));
  try {
    await waitFor('submissions to flow before the fault', () => traffics.every((traffic) => traffic.accepted().length >= 300 / urls.length), 20_000, 50);
    await fault();
    const recoveredAt = Date.now();
    await Promise.all(traffics.map((traffic) => traffic.acceptingSince(recoveredAt, ACCEPTED_AFTER, 30_000)));
    return traffics;
  } finally {
    await Promise.all(traffics.map((traffic) => traffic.stop()));
  }
}

/** Waits until PostgreSQL has every one of `ids` as completed. */
async function expectCompletedInHistory(ids: readonly string[]): Promise<void> {
  await waitFor('every accepted job completed in PostgreSQL', async () => {
    const completed = await completedInHistory(ids);
    if (completed.size === ids.length) return true;
    throw new Error(`${ids.length - completed.size} of ${ids.length} accepted jobs are not completed in PostgreSQL`);
  }, 45_000, 250);
}

/** One line on what the clients of an API saw: accepted jobs, refusals by answer, the longest runs of refusals. */
function describeTraffic(traffic: Traffic): string {
  const refusals = Object.entries(traffic.refusals()).map(([answer, count]) => `${count}× ${answer}`).join(', ') || 'none';
  const longest = traffic.outages().slice(0, 3).map((outage: Outage) => `${outage.partition === null ? 'bulk' : `p${outage.partition}`} ${outage.ms} ms`).join(', ') || 'none';
  return `${traffic.accepted().length} jobs accepted in ${traffic.attempts.length} submissions; refused: ${refusals}; longest refusals: ${longest}`;
}

/**
 * A refusal is a 503 (REDIS_UNAVAILABLE, or NOT_REPLICATED under WAIT) that a client retries, never
 * a 500 or no answer; and no partition refuses for longer than OUTAGE_LIMIT_MS.
 */
function expectBriefRefusals(traffic: Traffic): void {
  expect(Object.keys(traffic.refusals()).filter((answer) => !/^503 (REDIS_UNAVAILABLE|NOT_REPLICATED)$/.test(answer))).toEqual([]);
  expect(traffic.outages()[0]?.ms ?? 0).toBeLessThan(OUTAGE_LIMIT_MS);
}

describe('a queue of 6 partitions on a Redis Cluster of 3 masters with a replica each', () => {
  it(`runs ${JOBS} jobs submitted over HTTP, each with its history, on partitions spread over every master`, async () => {
    const startedAt = Date.now();
    const ids = await submitOverHttp(plainUrl, JOBS, NOOP);
    expect(new Set(ids).size).toBe(JOBS);
    await waitFor('every job completed in PostgreSQL', async () => (await completedInHistory(ids)).size === JOBS, 60_000, 250);

    for (const id of [ids[0], ids[JOBS / 2], ids.at(-1)]) {
      const response = await fetch(`${plainUrl}/jobs/${id}`, { signal: AbortSignal.timeout(5000) });
      expect(await response.json()).toMatchObject({ id, status: 'completed' });
    }
    const mastersOfPartitions = await Promise.all(queuePartitions(config.redis.prefix, QUEUE, PARTITIONS).map(({ keys }) => cluster.masterOf(keys.stream)));
    expect(new Set(mastersOfPartitions)).toEqual(new Set(await cluster.masters()));
    expect(new Set(mastersOfPartitions).size).toBe(3);
    console.log(`cluster: ${JOBS} jobs over HTTP completed with their history in ${((Date.now() - startedAt) / 1000).toFixed(1)} s; ` +
      `partitions' masters ${mastersOfPartitions.join(', ')}`);
  }, 90_000);

  it('with REDIS_WAIT_REPLICAS=1, loses no accepted job when a master is killed mid-run, and refuses its partitions only briefly', async () => {
    const { keys } = queuePartitions(config.redis.prefix, QUEUE, PARTITIONS)[0] as Partition;
    const victim = await cluster.masterOf(keys.stream);
    const timeline = { killedAt: 0, failedOverAt: 0, rejoinedAt: 0 };
    const [traffic] = (await trafficThrough([replicatedUrl], async () => {
      timeline.killedAt = Date.now();
      await cluster.killMaster(victim);
      await cluster.waitForFailover();
      timeline.failedOverAt = Date.now();
      // WAIT answers 2xx only once a replica has the job: the promoted replica has none until the
      // killed node comes back, as a supervisor restarts it, and rejoins as its replica.
      await cluster.restart(victim);
      timeline.rejoinedAt = Date.now();
    })) as [Traffic];

    await expectCompletedInHistory(traffic.accepted());
    expectServicesRunning();
    console.log(`cluster, WAIT=1: master ${victim} killed; failover ${timeline.failedOverAt - timeline.killedAt} ms, ` +
      `the killed node a replica again ${timeline.rejoinedAt - timeline.killedAt} ms after the kill; ${describeTraffic(traffic)}; 0 accepted jobs lost`);
    expectBriefRefusals(traffic);
  }, 120_000);

  it('without WAIT, carries on by itself when a master is killed mid-run; what is lost is counted', async () => {
    const { keys } = queuePartitions(config.redis.prefix, QUEUE, PARTITIONS)[2] as Partition;
    const victim = await cluster.masterOf(keys.stream);
    const timeline = { killedAt: 0, failedOverAt: 0 };
    const [traffic] = (await trafficThrough([plainUrl], async () => {
      timeline.killedAt = Date.now();
      await cluster.killMaster(victim);
      await cluster.waitForFailover();
      timeline.failedOverAt = Date.now();
    })) as [Traffic];
    // The killed node comes back as a replica, for the tests that follow to have the whole cluster.
    await cluster.restart(victim);

    const accepted = traffic.accepted();
    // A job the master acknowledged but did not pass on before it died is gone from Redis: what the
    // replica has completes, and only such jobs may be missing from the history.
    let lost: string[] = [];
    await waitFor('every accepted job completed in PostgreSQL or gone from Redis', async () => {
      const completed = await completedInHistory(accepted);
      const unfinished = accepted.filter((id) => !completed.has(id));
      lost = await goneFromRedis(unfinished);
      if (lost.length === unfinished.length) return true;
      throw new Error(`${unfinished.length - lost.length} accepted jobs still in Redis are not completed in PostgreSQL`);
    }, 45_000, 250);
    expectServicesRunning();
    for (const id of lost.slice(0, 3)) {
      const response = await fetch(`${plainUrl}/jobs/${id}`, { signal: AbortSignal.timeout(5000) });
      expect([404, 200]).toContain(response.status);
      if (response.status === 200) expect((await response.json()) as { status: string }).not.toMatchObject({ status: 'completed' });
    }

    console.log(`cluster, no WAIT: master ${victim} killed; failover ${timeline.failedOverAt - timeline.killedAt} ms; ` +
      `${describeTraffic(traffic)}; ${lost.length} of ${accepted.length} accepted jobs lost`);
    expect(lost.length).toBeLessThanOrEqual(accepted.length);
    expectBriefRefusals(traffic);
  }, 120_000);

  it('loses nothing while the slots of a partition move to another master', async () => {
    // The partition nearest the start of its master's range, which redis-cli moves first: the
    // fewest slots to move to take a partition, with its jobs, along.
    const candidates = await Promise.all(queuePartitions(config.redis.prefix, QUEUE, PARTITIONS).map(async ({ index, keys }) => {
      const slot = slotOfTag(partitionTag(QUEUE, PARTITIONS, index));
      const from = await cluster.masterOf(slot);
      const [first] = await cluster.slotsOf(from);
      return { index, stream: keys.stream, from, slots: slot - (first?.start ?? slot) + 1 };
    }));
    const moved = candidates.sort((a, b) => a.slots - b.slots)[0] as (typeof candidates)[number];
    const to = (await cluster.masters()).find((port) => port !== moved.from) as number;
    const timeline = { startedAt: 0, doneAt: 0 };
    // Both APIs: a submission under WAIT goes to Redis another way than one without.
    const traffics = await trafficThrough([plainUrl, replicatedUrl], async () => {
      timeline.startedAt = Date.now();
      await cluster.reshard(moved.from, to, moved.slots);
      timeline.doneAt = Date.now();
    });
    expect(await cluster.masterOf(moved.stream)).toBe(to);

    await expectCompletedInHistory(traffics.flatMap((traffic) => traffic.accepted()));
    expectServicesRunning();
    const [plain, replicated] = traffics as [Traffic, Traffic];
    console.log(`cluster, reshard: ${moved.slots} slots with partition ${moved.index} moved from ${moved.from} to ${to} in ` +
      `${timeline.doneAt - timeline.startedAt} ms; without WAIT ${describeTraffic(plain)}; with WAIT ${describeTraffic(replicated)}; all accepted jobs completed`);
    for (const traffic of traffics) expectBriefRefusals(traffic);
  }, 120_000);
});
