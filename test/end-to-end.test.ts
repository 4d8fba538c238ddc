import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, dropRedisKeys, envFor, isolatedConfig, waitFor, type TestDatabase } from './support/context';
import { ServiceProcess } from './support/processes';
import { freePort } from './support/redis-server';

const JOBS = 500;
const config = isolatedConfig('e2e', { CONCURRENCY: '8' });
let database: TestDatabase;
let api: ServiceProcess;
let workers: ServiceProcess[] = [];
let baseUrl: string;
let metricsPort: number;

beforeAll(async () => {
  database = await createTestDatabase(config);
  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  const env = { ...envFor(config), CONCURRENCY: '8' };
  api = ServiceProcess.start('api', 'apps/api/src/server.ts', { ...env, PORT: String(port) });
  metricsPort = await freePort();
  workers = [1, 2].map((n) =>
    ServiceProcess.start(`worker-${n}`, 'apps/worker/src/main.ts', { ...env, WORKER_NAME: `e2e-worker-${n}`, ...(n === 1 && { METRICS_PORT: String(metricsPort) }) }),
  );
  await Promise.all([api.waitForOutput('Server listening'), ...workers.map((worker) => worker.waitForOutput('worker started'))]);
}, 60_000);

afterAll(async () => {
  const codes = await Promise.all([api, ...workers].filter(Boolean).map((service) => service.stop('SIGTERM')));
  expect(codes.every((code) => code === 0)).toBe(true);
  await dropRedisKeys(config);
  await database?.drop();
});

describe('a job travels from HTTP through two worker processes into PostgreSQL', () => {
  it(`runs ${JOBS} jobs submitted over HTTP exactly once each, with pending → processing → completed recorded in order`, async () => {
    const ids: string[] = [];
    for (let batch = 0; batch < JOBS; batch += 50) {
      const responses = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          fetch(`${baseUrl}/jobs`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ type: 'noop', payload: { n: batch + i } }),
          }),
        ),
      );
      for (const response of responses) {
        expect(response.status).toBe(202);
        ids.push(((await response.json()) as { id: string }).id);
      }
    }
    expect(new Set(ids).size).toBe(JOBS);

    await waitFor('every job completed in PostgreSQL', async () => {
      const { rows } = await database.pool.query<{ n: string }>(`SELECT count(*) AS n FROM jobs WHERE status = 'completed' AND id = ANY($1::uuid[])`, [ids]);
      return Number(rows[0]?.n) === JOBS;
    }, 60_000, 200);

    const { rows: histories } = await database.pool.query<{ job_id: string; statuses: string[]; attempts: number[]; workers: string[] }>(
      `SELECT job_id, array_agg(status ORDER BY seq) AS statuses, array_agg(attempt ORDER BY seq) AS attempts,
              array_remove(array_agg(worker ORDER BY seq), NULL) AS workers
       FROM job_events WHERE job_id = ANY($1::uuid[]) GROUP BY job_id`,
      [ids],
    );
    expect(histories).toHaveLength(JOBS);
    for (const history of histories) {
      expect(history.statuses).toEqual(['pending', 'processing', 'completed']);
      expect(history.attempts).toEqual([0, 1, 1]);
    }
    const { rows: attempts } = await database.pool.query<{ attempts: number; n: string }>(
      'SELECT attempts, count(*) AS n FROM jobs WHERE id = ANY($1::uuid[]) GROUP BY attempts', [ids],
    );
    expect(attempts).toEqual([{ attempts: 1, n: String(JOBS) }]);

    const byWorker = new Map<string, number>();
    for (const history of histories) byWorker.set(history.workers[0] ?? '', (byWorker.get(history.workers[0] ?? '') ?? 0) + 1);
    expect([...byWorker.keys()].sort()).toEqual(['e2e-worker-1', 'e2e-worker-2']);

    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const completedByFirst = metrics.split('\n').find((line) => line.startsWith('sluice_jobs_completed_total{queue="default",type="noop"} '));
    expect(Number(completedByFirst?.split(' ')[1])).toBe(byWorker.get('e2e-worker-1'));

    const sample = await fetch(`${baseUrl}/jobs/${ids[0]}`);
    expect(sample.status).toBe(200);
    expect(await sample.json()).toMatchObject({ status: 'completed', attempts: 1, history: [{ status: 'pending' }, { status: 'processing' }, { status: 'completed' }] });
  }, 120_000);
});
