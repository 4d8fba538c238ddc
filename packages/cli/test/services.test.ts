import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { envFor, isolatedConfig, dropRedisKeys, waitFor } from '../../../test/support/context';
import type { ServiceProcess } from '../../../test/support/processes';
import { expectOneLineError, freePort, jsonOf, sluice, startSluice } from './support';

const config = isolatedConfig('cli-services');
const env = envFor(config);
const running: ServiceProcess[] = [];

afterAll(async () => {
  for (const service of running) await service.stop();
  const client = new pg.Client({ connectionString: config.postgres.url });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS "${config.postgres.schema}" CASCADE`);
  await client.end();
  await dropRedisKeys(config);
});

describe('sluice migrate', () => {
  it('applies the migrations to DATABASE_SCHEMA, and again is a no-op', async () => {
    const first = await sluice(['migrate'], env);
    expect(first).toMatchObject({ code: 0, stdout: `Schema "${config.postgres.schema}" is up to date.\n` });
    const client = new pg.Client({ connectionString: config.postgres.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ name: string }>('SELECT table_name AS name FROM information_schema.tables WHERE table_schema = $1', [config.postgres.schema]);
      expect(rows.map((row) => row.name)).toEqual(expect.arrayContaining(['jobs', 'job_events']));
    } finally {
      await client.end();
    }
    expect(jsonOf(await sluice(['migrate', '--json'], env))).toEqual({ schema: config.postgres.schema, upToDate: true });
  });

  it('exits 1 with the configuration\'s complaint', async () => {
    const outcome = await sluice(['migrate'], { ...env, DATABASE_SCHEMA: 'Not A Schema' });
    expect(outcome.code).toBe(1);
    expect(outcome.stderr).toContain('sluice migrate: Invalid configuration');
    expect(outcome.stderr).toContain('DATABASE_SCHEMA');
    expect(outcome.stderr).not.toMatch(/^\s+at /m);
  });
});

describe('sluice api', () => {
  it('serves the API on PORT until SIGTERM, then exits 0', async () => {
    await sluice(['migrate'], env);
    const port = String(await freePort());
    const api = startSluice('sluice api', ['api'], { ...env, PORT: port });
    running.push(api);
    await waitFor('the API to answer', async () => (await fetch(`http://127.0.0.1:${port}/health`).catch(() => null))?.ok, 20_000);
    const stats = jsonOf<{ queues: Record<string, unknown> }>(await sluice(['stats', '--json'], { PORT: port }));
    expect(Object.keys(stats.queues)).toEqual(['default']);
    expect(await api.stop('SIGTERM')).toBe(0);
  });

  it('exits 1 with "cannot start" and the reason when it cannot', async () => {
    const outcome = await sluice(['api'], { ...env, PORT: 'eighty' });
    expect(outcome.code).toBe(1);
    expect(outcome.stderr).toMatch(/^sluice api: cannot start: Invalid configuration/);
    expect(outcome.stderr).toContain('PORT');
  });

  it('exits 1, with every connection it opened closed, when JOB_TYPES_FILE cannot be read or the port is taken', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-api-'));
    try {
      const missing = await sluice(['api'], { ...env, PORT: String(await freePort()), JOB_TYPES_FILE: join(dir, 'missing.json') });
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/^sluice api: cannot start: /);
      expect(missing.stderr).toMatch(/JOB_TYPES_FILE .*missing\.json cannot be read/);

      await sluice(['migrate'], env);
      const port = String(await freePort());
      const holder = startSluice('sluice api', ['api'], { ...env, PORT: port });
      running.push(holder);
      await waitFor('the first API to answer', async () => (await fetch(`http://127.0.0.1:${port}/health`).catch(() => null))?.ok, 20_000);
      const taken = await sluice(['api'], { ...env, PORT: port });
      expect(taken.code).toBe(1);
      expect(taken.stderr).toContain('EADDRINUSE');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('sluice worker', () => {
  it('runs the job types a module of the user\'s declares: a job of its type submitted through the API completes', async () => {
    await sluice(['migrate'], env);
    const port = String(await freePort());
    const api = startSluice('sluice api', ['api'], { ...env, PORT: port });
    running.push(api);
    const worker = startSluice('sluice worker', ['worker', 'packages/cli/test/fixtures/greeting-jobs.js'], env);
    running.push(worker);
    const base = `http://127.0.0.1:${port}`;
    await waitFor('the API to accept the worker\'s type', async () => {
      const response = await fetch(`${base}/job-types`).catch(() => null);
      return response?.ok && ((await response.json()) as { types: { name: string }[] }).types.some((type) => type.name === 'greet');
    }, 20_000);

    const { id } = jsonOf<{ id: string }>(await sluice(['jobs', 'add', 'greet', '--payload', '{"name":"Ada"}', '--json'], { PORT: port }));
    await waitFor('the job to complete', async () => ((await (await fetch(`${base}/jobs/${id}`)).json()) as { status: string }).status === 'completed', 20_000);
    expect(jsonOf(await sluice(['jobs', 'get', id, '--json'], { PORT: port }))).toMatchObject({ type: 'greet', status: 'completed', result: 'Hello, Ada' });

    expect(await worker.stop('SIGTERM')).toBe(0);
    expect(await api.stop('SIGTERM')).toBe(0);
  });

  it('exits 2 naming the problem for a module that exports neither types nor handlers', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'sluice-worker-'));
    try {
      const file = join(directory, 'jobs.mjs');
      writeFileSync(file, 'export const greeting = "hello";\n');
      const outcome = await sluice(['worker', file], env);
      expectOneLineError(outcome, 2, 'sluice worker:', 'exports neither `types` and `handlers` nor a default export');
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });
});
