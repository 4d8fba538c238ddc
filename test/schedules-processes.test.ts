/**
 * Exactly one job per tick with every process that runs a scheduler at once: the API and three stock
 * worker processes on a queue of four partitions, one of them killed (SIGKILL) mid-run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, dropRedisKeys, envFor, isolatedConfig, waitFor, type TestDatabase } from './support/context';
import { ServiceProcess } from './support/processes';
import { freePort } from './support/redis-server';

const config = isolatedConfig('schedule-processes', { QUEUES: 'default:4' });
let database: TestDatabase;
let api: ServiceProcess;
let workers: ServiceProcess[] = [];
let baseUrl: string;

const call = async (method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> => {
  const response = await fetch(`${baseUrl}${path}`, {
    method, ...(body !== undefined && { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
};

beforeAll(async () => {
  database = await createTestDatabase(config);
  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  const env = envFor(config);
  api = ServiceProcess.start('api', 'apps/api/src/server.ts', { ...env, PORT: String(port) });
  workers = [1, 2, 3].map((n) => ServiceProcess.start(`worker-${n}`, 'apps/worker/src/main.ts', { ...env, WORKER_NAME: `schedule-worker-${n}` }));
  await Promise.all([api.waitForOutput('Server listening'), ...workers.map((worker) => worker.waitForOutput('worker started'))]);
}, 60_000);

afterAll(async () => {
  await Promise.all([api, ...workers].filter(Boolean).map((service) => service.stop('SIGTERM')));
  await dropRedisKeys(config);
  await database?.drop();
});

describe('a schedule run by an API and three worker processes', () => {
  it('adds one job per tick, none twice and none missed, through a worker killed mid-run', async () => {
    const created = await call('POST', '/schedules', { name: 'every-second', everyMs: 1000, job: { type: 'noop', payload: {} } });
    expect(created.status).toBe(201);
    await waitFor('five ticks', async () => ((await call('GET', '/schedules/every-second')).json.lastRuns as unknown[]).length >= 5, 15_000, 100);
    workers[0]?.child.kill('SIGKILL');
    await waitFor('ten ticks', async () => ((await call('GET', '/schedules/every-second')).json.lastRuns as unknown[]).length >= 10, 15_000, 100);
    expect((await call('POST', '/schedules/every-second/pause')).status).toBe(200);
    // A claim the killed worker held is driven again once its lease (30 s) ends.
    await waitFor('no run in flight', async () => (await call('GET', '/schedules/every-second')).json.inFlight === 0, 45_000, 200);
    const { lastRuns } = (await call('GET', '/schedules/every-second')).json as { lastRuns: { tick: string; status: string; jobId: string }[] };
    expect(lastRuns.every((run) => run.status === 'created')).toBe(true);

    const { rows } = await waitFor('every run\'s job completed in PostgreSQL', async () => {
      const result = await database.pool.query<{ tick: Date; jobs: string; completed: string }>(
        `SELECT schedule_tick AS tick, count(*) AS jobs, count(*) FILTER (WHERE status = 'completed') AS completed
         FROM jobs WHERE schedule = 'every-second' GROUP BY schedule_tick ORDER BY schedule_tick`);
      return result.rows.length > 0 && result.rows.every((row) => row.completed === row.jobs) && lastRuns.every((run) => result.rows.some((row) => row.tick.toISOString() === run.tick))
        ? result
        : null;
    }, 30_000, 200);
    expect(rows.every((row) => row.jobs === '1')).toBe(true);
    const ticks = rows.map((row) => row.tick.getTime());
    expect(ticks.slice(1).map((tick, i) => tick - (ticks[i] as number))).toEqual(ticks.slice(1).map(() => 1000));
    expect(ticks.length).toBeGreaterThanOrEqual(10);
  }, 120_000);
});
