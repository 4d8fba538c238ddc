import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool } from '@sluice/core';
import { dropRedisKeys, envFor, isolatedConfig, waitFor } from '../support/context';
import { installPacked, outsideEnv, packWorkspaces } from '../support/packed';
import { ServiceProcess } from '../support/processes';
import { freePort } from '../support/redis-server';

/**
 * Sluice as a user's own project gets it: the packed packages installed into an empty project, where
 * a worker for a new job type, written in plain JavaScript (the README's example, unchanged), runs
 * under plain node beside a stock `npm start` whose workers do not know the type. The API learns the
 * type from the worker, and the job it accepts completes with its history in PostgreSQL.
 */

const ROOT = resolve(import.meta.dirname, '../..');
const config = isolatedConfig('custom-worker');
let projectDir: string;
let stack: ServiceProcess | undefined;
let worker: ChildProcess | undefined;
let workerOutput = '';
let baseUrl: string;

beforeAll(async () => {
  const tarballs = await packWorkspaces();
  projectDir = await mkdtemp(join(tmpdir(), 'sluice-user-project-'));
  await installPacked(projectDir, tarballs);
  await copyFile(join(ROOT, 'examples/worker-js/worker.js'), join(projectDir, 'worker.js'));

  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  // `npm start`'s own script, with one stock worker; the dashboard is built already and is not the point here.
  stack = ServiceProcess.start('npm start', 'scripts/start.ts', { ...envFor(config), PORT: String(port), WORKERS: '1', SKIP_DASHBOARD_BUILD: '1' });
  await stack.waitForOutput('dashboard: http://127.0.0.1', 120_000);
  await stack.waitForOutput('worker started', 30_000);
}, 600_000);

afterAll(async () => {
  if (worker && worker.exitCode === null) worker.kill('SIGKILL');
  await stack?.stop('SIGTERM', 30_000);
  if (projectDir) await rm(projectDir, { recursive: true, force: true });
  await dropRedisKeys(config);
  const pool = createPool(config.postgres);
  await pool.query(`DROP SCHEMA IF EXISTS "${config.postgres.schema}" CASCADE`).finally(() => pool.end());
});

async function submitGreet(name: string): Promise<Response> {
  return fetch(`${baseUrl}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type: 'greet', payload: { name } }) });
}

describe('a worker of a new job type, installed from the packed packages', () => {
  it('is refused by the stock API until the worker runs, then runs there under plain node and completes with its history in PostgreSQL', async () => {
    const refused = await submitGreet('Ada');
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: { code: 'UNKNOWN_JOB_TYPE', message: expect.stringContaining('Unknown job type "greet"') } });

    worker = spawn(process.execPath, ['worker.js'], {
      cwd: projectDir,
      env: outsideEnv({ ...envFor(config), WORKER_NAME: 'user-greeter', LOG_LEVEL: 'info', LOG_PRETTY: '0' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    worker.stdout?.on('data', (chunk: Buffer) => (workerOutput += chunk.toString()));
    worker.stderr?.on('data', (chunk: Buffer) => (workerOutput += chunk.toString()));
    const exited = new Promise<number | null>((done) => worker?.once('exit', (code) => done(code)));

    const listed = await waitFor('the API to list greet', async () => {
      const types = ((await (await fetch(`${baseUrl}/job-types`)).json()) as { types: { name: string; workers: number; queues: string[] }[] }).types;
      return types.find((type) => type.name === 'greet');
    }, 30_000, 100).catch((error: unknown) => {
      throw new Error(`${String(error)}\nworker output:\n${workerOutput}`);
    });
    expect(listed).toMatchObject({ workers: 1, queues: ['default'] });

    const accepted = await submitGreet('Ada');
    expect(accepted.status).toBe(202);
    const { id } = (await accepted.json()) as { id: string };
    const job = await waitFor('the greet job to complete with its history', async () => {
      const body = (await (await fetch(`${baseUrl}/jobs/${id}`)).json()) as { status: string; result: unknown; history?: { status: string }[] };
      return body.status === 'completed' && body.history?.some((event) => event.status === 'completed') ? body : null;
    }, 30_000, 100);
    expect(job.result).toEqual({ greeting: 'Hello, Ada!' });

    const pool = createPool(config.postgres);
    try {
      // The recorder writes the history a moment after the job completes in Redis.
      const statuses = await waitFor('the history in PostgreSQL', async () => {
        const { rows } = await pool.query<{ status: string }>(`SELECT status FROM "${config.postgres.schema}".job_events WHERE job_id = $1 ORDER BY seq`, [id]);
        return rows.some((row) => row.status === 'completed') ? rows.map((row) => row.status) : null;
      }, 30_000, 100);
      expect(statuses).toEqual(['pending', 'processing', 'completed']);
    } finally {
      await pool.end();
    }

    worker.kill('SIGTERM');
    expect(await exited, workerOutput).toBe(0);
  }, 120_000);
});
