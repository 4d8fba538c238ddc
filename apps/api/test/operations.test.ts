import { catalogKeys, closeRedis, createRedis, Worker, type ScriptedRedis, type WorkerProcess } from '@sluice/core';
import { createJobRegistry } from '@sluice/jobs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropRedisKeys, isolatedConfig, singleNodeConfig, waitFor } from '../../../test/support/context';
import { askRedis, RedisServer } from '../../../test/support/redis-server';
import { startInProcess, type InProcess } from '../../../test/support/in-process';
import { startApp, type AppFixture } from './fixture';

const config = isolatedConfig('api-operations', { CONCURRENCY: '3' });
let fixture: AppFixture;
let workers: InProcess;
let redis: ScriptedRedis;
let release: () => void = () => undefined;
const released = new Promise<void>((resolve) => {
  release = resolve;
});

beforeAll(async () => {
  fixture = await startApp(config);
  // `sleep` jobs hold on until the test lets them go, so they are seen running.
  workers = await startInProcess(config, createJobRegistry(), { sleep: () => released });
  redis = createRedis(config.redis);
});
afterAll(async () => {
  release();
  if (redis) await closeRedis(redis);
  await workers?.close();
  await fixture?.close();
});

async function listed(): Promise<WorkerProcess[]> {
  const response = await fixture.app.inject({ method: 'GET', url: '/workers' });
  expect(response.statusCode, response.body).toBe(200);
  return (response.json() as { workers: WorkerProcess[] }).workers;
}

/** The live worker's report as it wrote it to Redis. */
async function storedReport(): Promise<string> {
  const report = await redis.hget(catalogKeys(config.redis.prefix).processes, config.worker.consumerName);
  expect(report).not.toBeNull();
  return report ?? '';
}

describe('GET /workers', () => {
  it('lists each live worker with its host, pid, memory, version, queues, concurrency and the jobs it runs now', async () => {
    const ids = await Promise.all([fixture.submit({ type: 'sleep', payload: { ms: 1 } }), fixture.submit({ type: 'sleep', payload: { ms: 1 } })]);
    // A worker reports every PUBLISH_INTERVAL_MS (5 s).
    const [worker] = await waitFor('the worker to report both jobs running', async () => {
      const found = await listed();
      return found[0]?.runningCount === 2 ? found : undefined;
    }, 12_000, 200);
    expect(worker).toMatchObject({
      name: config.worker.consumerName,
      pid: process.pid,
      queues: config.queue.queues,
      concurrency: 3,
      draining: false,
      version: expect.stringMatching(/^\d+\.\d+\.\d+/),
    });
    expect(worker?.hostname).not.toBe('');
    expect(worker?.rssBytes).toBeGreaterThan(1024 * 1024);
    expect(worker?.startedAt).toBeLessThanOrEqual(worker?.seenAt ?? 0);
    expect(worker?.running.map((job) => job.id).sort()).toEqual([...ids].sort());
    expect(worker?.running.every((job) => job.type === 'sleep' && job.queue === 'default' && job.attempt === 1 && job.startedAt > 0)).toBe(true);
  });

  it('leaves out a worker that has not reported within the live window, and deletes its report with its publication', async () => {
    const keys = catalogKeys(config.redis.prefix);
    const report = await storedReport();
    await redis.hset(keys.processes, 'gone-worker', report);
    await redis.zadd(keys.seen, Date.now(), 'gone-worker');
    expect((await listed()).map((worker) => worker.name)).toContain('gone-worker');
    await redis.zadd(keys.seen, Date.now() - 60_000, 'gone-worker');
    expect((await listed()).map((worker) => worker.name)).not.toContain('gone-worker');
    // Silent past PUBLICATION_KEPT_MS (10 minutes): the live worker's next publication deletes its report.
    await redis.zadd(keys.seen, Date.now() - 11 * 60_000, 'gone-worker');
    await waitFor('the stale report to be deleted', async () => (await redis.hexists(keys.processes, 'gone-worker')) === 0, 12_000, 200);
  });

  it('leaves out reports that are not well formed or over their bounds, and still answers with the others', async () => {
    const keys = catalogKeys(config.redis.prefix);
    const good = JSON.parse(await storedReport()) as WorkerProcess;
    const job = good.running[0] ?? { id: 'a', type: 'sleep', queue: 'default', attempt: 1, startedAt: 1 };
    const bad: Record<string, unknown> = {
      'odd-pid': { ...good, pid: 'not a number' },
      'odd-job': { ...good, running: [{ id: 42 }] },
      'huge-host': { ...good, hostname: 'h'.repeat(1024 * 1024) },
      'many-jobs': { ...good, runningCount: 5000, running: Array.from({ length: 5000 }, () => job) },
      'no-object': 'nonsense',
    };
    await redis.hset(keys.processes, Object.fromEntries(Object.entries(bad).map(([name, report]) => [name, JSON.stringify(report)])));
    await redis.zadd(keys.seen, ...Object.keys(bad).flatMap((name) => [Date.now(), name]));
    try {
      const shown = (await listed()).map((worker) => worker.name);
      expect(shown).toContain(config.worker.consumerName);
      expect(shown.filter((name) => name in bad)).toEqual([]);
    } finally {
      await redis.hdel(keys.processes, ...Object.keys(bad));
      await redis.zrem(keys.seen, ...Object.keys(bad));
    }
  });

  it('lists at most 500 workers, those that reported last first', async () => {
    const keys = catalogKeys(config.redis.prefix);
    const report = await storedReport();
    const now = Date.now();
    const names = Array.from({ length: 510 }, (_, index) => `crowd-${String(index).padStart(3, '0')}`);
    await redis.hset(keys.processes, Object.fromEntries(names.map((name) => [name, report])));
    await redis.zadd(keys.seen, ...names.flatMap((name, index) => [now - 1000 - index, name]));
    try {
      const shown = (await listed()).map((worker) => worker.name);
      expect(shown).toHaveLength(500);
      // The real worker reported within the last 5 s, and perhaps after the crowd.
      expect(shown.filter((name) => name.startsWith('crowd-'))).toEqual(names.slice(0, shown.filter((name) => name.startsWith('crowd-')).length));
      expect(shown).not.toContain('crowd-509');
    } finally {
      await redis.hdel(keys.processes, ...names);
      await redis.zrem(keys.seen, ...names);
    }
  });
});

describe('GET /workers with a worker whose clock is off', () => {
  it('gives its jobs\' start times on Redis\'s clock, as its own start and last report are', async () => {
    const skewed = isolatedConfig('api-operations-skewed', { CONCURRENCY: '1' });
    const app = await startApp(skewed);
    let letGo: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      letGo = resolve;
    });
    // An hour behind: the clock of a host whose time is not kept.
    const worker = new Worker({ redis: skewed.redis, queue: skewed.queue, worker: skewed.worker, registry: createJobRegistry(), handlers: { sleep: () => held }, now: () => Date.now() - 3_600_000 });
    try {
      await worker.start();
      await app.submit({ type: 'sleep', payload: { ms: 1 } });
      const [shown] = await waitFor('the skewed worker to report its job', async () => {
        const response = await app.app.inject({ method: 'GET', url: '/workers' });
        const found = (response.json() as { workers: WorkerProcess[] }).workers;
        return found[0]?.runningCount === 1 ? found : undefined;
      }, 12_000, 200);
      const startedAt = shown?.running[0]?.startedAt ?? 0;
      // Reported within a publication's interval (5 s) of starting.
      expect(startedAt).toBeGreaterThan((shown?.seenAt ?? 0) - 10_000);
      expect(startedAt).toBeLessThanOrEqual((shown?.seenAt ?? 0) + 1000);
      expect(startedAt).toBeGreaterThanOrEqual((shown?.startedAt ?? 0) - 1000);
    } finally {
      letGo();
      await worker.close(1000);
      await app.close();
      await dropRedisKeys(skewed);
    }
  });
});

describe('GET /system', () => {
  it('answers Redis\'s memory, ops/s, clients, version and role per node, and the history backlog, with no address or configuration', async () => {
    const response = await fixture.app.inject({ method: 'GET', url: '/system' });
    expect(response.statusCode, response.body).toBe(200);
    const body = response.json() as { redis: { nodes: Record<string, unknown>[] }; history: { backlog: number; lagMs: number; setAside: number; queues: Record<string, unknown> } };
    expect(body.redis.nodes.length).toBeGreaterThanOrEqual(1);
    for (const node of body.redis.nodes) {
      expect(node).toMatchObject({ role: 'master', version: expect.stringMatching(/^\d+\.\d+/), maxMemoryPolicy: expect.any(String) });
      expect(node.usedMemoryBytes).toBeGreaterThan(0);
      expect(node.connectedClients).toBeGreaterThan(0);
      expect(typeof node.opsPerSecond).toBe('number');
    }
    const names = body.redis.nodes.map((node) => node.name);
    expect(names).toEqual(names.length === 1 ? ['node'] : names.map((_, index) => `master ${index + 1} of ${names.length}`));
    expect(Object.keys(body.history.queues)).toEqual(config.queue.queues);
    expect(body.history.backlog).toBeGreaterThanOrEqual(0);
    expect(response.body).not.toMatch(/127\.0\.0\.1|localhost|requirepass|:\d{4,5}"/);
  });
});

describe('GET /system on a Redis whose ACL refuses INFO', () => {
  it('answers 503 saying what to grant, rather than 500, and the rest of the API still serves', async () => {
    const server = await RedisServer.start();
    // A least-privilege user as an operator might write it: everything but the @dangerous commands, INFO among them.
    await askRedis(server.port, ['ACL', 'SETUSER', 'sluice', 'on', '>sluice-acl-password', '~*', '&*', '+@all', '-@dangerous']);
    const app = await startApp(singleNodeConfig('api-operations-acl', { REDIS_URL: `redis://sluice:sluice-acl-password@127.0.0.1:${server.port}` }));
    try {
      const response = await app.app.inject({ method: 'GET', url: '/system' });
      expect(response.statusCode, response.body).toBe(503);
      expect(response.json()).toMatchObject({ error: { code: 'REDIS_INFO_REFUSED', message: expect.stringContaining('+info') } });
      expect(response.body).not.toContain('sluice-acl-password');
      expect((await app.app.inject({ method: 'GET', url: '/workers' })).statusCode).toBe(200);
    } finally {
      await app.close();
      await server.stop();
    }
  });
});

describe('behind the API key', () => {
  it('refuses GET /workers and GET /system without a key', async () => {
    const guarded = await startApp(isolatedConfig('api-operations-keyed', { API_KEYS: 'operations-test-key' }));
    try {
      for (const url of ['/workers', '/system']) {
        expect((await guarded.app.inject({ method: 'GET', url })).statusCode).toBe(401);
        expect((await guarded.app.inject({ method: 'GET', url, headers: { authorization: 'Bearer operations-test-key' } })).statusCode).toBe(200);
      }
    } finally {
      await guarded.close();
    }
  });
});
