import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createPool, type SluiceConfig } from '@sluice/core';
import { DASHBOARD_BUILD_DIR } from '../apps/api/src/plugins/dashboard';
import { dropRedisKeys, envFor, isolatedConfig, waitFor } from './support/context';
import { ServiceProcess } from './support/processes';
import { freePort } from './support/redis-server';

describe('api and worker refuse to start against a schema that is not migrated', () => {
  it.each([
    ['api', 'apps/api/src/server.ts'],
    ['worker', 'apps/worker/src/main.ts'],
  ])('%s exits 1 and says to run the migrations', async (name, file) => {
    // A schema no migration has touched: nothing to create or drop.
    const config = isolatedConfig(`startup-${name}`);
    const service = ServiceProcess.start(name, file, { ...envFor(config), PORT: String(await freePort()) });
    const code = await new Promise<number | null>((resolve) => service.child.once('exit', resolve));
    expect(code).toBe(1);
    expect(service.output.join('\n')).toContain('Run `sluice migrate` first (`npm run migrate` in a checkout of Sluice)');
  });

  it('refuses a bad configuration with every problem listed, its job types\' settings included', async () => {
    const service = ServiceProcess.start('worker', 'apps/worker/src/main.ts', { CONCURRENCY: 'lots', REDIS_URL: 'http://x', WEBHOOK_TIMEOUT_MS: 'soon' });
    const code = await new Promise<number | null>((resolve) => service.child.once('exit', resolve));
    expect(code).toBe(1);
    const output = service.output.join('\n');
    expect(output).toContain('CONCURRENCY must be an integer');
    expect(output).toContain('REDIS_URL must be a URL starting with redis:// or rediss://');
    expect(output).toContain('WEBHOOK_TIMEOUT_MS must be an integer from 100 to 3600000 (got "soon")');
  });
});

/** `npm start` as a child process, on a Redis prefix, schema and port of its own. */
interface NpmStart {
  service: ServiceProcess;
  config: SluiceConfig;
  baseUrl: string;
}

const runs: NpmStart[] = [];

/** Runs `npm start`'s script (what `npm start` runs, without npm) with two workers and fast restarts, and waits until all is up. */
async function startNpmStart(env: Record<string, string> = {}): Promise<NpmStart> {
  const config = isolatedConfig('npm-start');
  const port = await freePort();
  const service = ServiceProcess.start('npm start', 'scripts/start.ts', {
    ...envFor(config),
    PORT: String(port),
    WORKERS: '2',
    RESTART_BACKOFF_MS: '200',
    // Rebuilding would empty apps/dashboard/dist under the APIs of tests running beside this one.
    SKIP_DASHBOARD_BUILD: '1',
    ...env,
  });
  const run = { service, config, baseUrl: `http://127.0.0.1:${port}` };
  runs.push(run);
  await service.waitForOutput('dashboard: http://127.0.0.1', 60_000);
  await waitFor('both workers to read their queues', () => workerStartedLines(service, 'worker-1') + workerStartedLines(service, 'worker-2') === 2, 30_000);
  return run;
}

/** PIDs of the processes `npm start` started under `name`, oldest first, from its "<name> started (pid N)" lines. */
function startedPids(service: ServiceProcess, name: string): number[] {
  const pattern = new RegExp(`^start +\\| ${name} started \\(pid (\\d+)\\)$`);
  return service.output.flatMap((line) => {
    const match = pattern.exec(line);
    return match ? [Number(match[1])] : [];
  });
}

/** How many times the worker processes named `name` have said they read their queues. */
function workerStartedLines(service: ServiceProcess, name: string): number {
  return service.output.filter((line) => line.startsWith(`${name} `) && line.includes('"msg":"worker started"')).length;
}

/**
 * Whether `pid` is a live process of `config`'s test, from Linux's /proc. PIDs are reused once a
 * process has been reaped, so a PID counts only while its process carries this test's Redis prefix.
 */
function isRunningFor(pid: number, config: SluiceConfig): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(`REDIS_PREFIX=${config.redis.prefix}`);
  } catch {
    return false;
  }
}

/** The last process started under each name: the only ones that can still be running. */
function latestPids(service: ServiceProcess): number[] {
  return ['api', 'worker-1', 'worker-2'].flatMap((name) => startedPids(service, name).slice(-1));
}

/** Polls GET /health until stopped, counting the answers that were not 200. */
function watchHealth(baseUrl: string): { stop(): Promise<{ answered: number; failures: string[] }> } {
  let stopped = false;
  const failures: string[] = [];
  let answered = 0;
  const polling = (async () => {
    while (!stopped) {
      try {
        const response = await fetch(`${baseUrl}/health`, { signal: AbortSignal.timeout(2000) });
        if (response.ok) answered += 1;
        else failures.push(`status ${response.status}`);
      } catch (error) {
        failures.push(String(error));
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await polling;
      return { answered, failures };
    },
  };
}

async function submit(baseUrl: string, type: string, payload: object): Promise<string> {
  const response = await fetch(`${baseUrl}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type, payload }) });
  expect(response.status).toBe(202);
  return ((await response.json()) as { id: string }).id;
}

async function jobStatus(baseUrl: string, id: string): Promise<string> {
  return ((await (await fetch(`${baseUrl}/jobs/${id}`)).json()) as { status: string }).status;
}

describe('npm start supervises its processes', () => {
  afterEach(async () => {
    for (const { service, config } of runs.splice(0)) {
      await service.stop('SIGTERM', 20_000);
      // Only if npm start itself had to be killed can its processes outlive it.
      for (const pid of latestPids(service)) if (isRunningFor(pid, config)) process.kill(pid, 'SIGKILL');
      const pool = createPool(config.postgres);
      await pool.query(`DROP SCHEMA IF EXISTS "${config.postgres.schema}" CASCADE`).finally(() => pool.end());
      await dropRedisKeys(config);
    }
  }, 60_000);

  it('restarts a worker killed with SIGKILL, the API answers throughout, and a job submitted after the kill completes', async () => {
    const { service, config, baseUrl } = await startNpmStart();
    const [api] = startedPids(service, 'api');
    const [worker1] = startedPids(service, 'worker-1');
    const [killed] = startedPids(service, 'worker-2');
    if (api === undefined || worker1 === undefined || killed === undefined) throw new Error(`npm start did not name its processes:\n${service.output.join('\n')}`);
    const health = watchHealth(baseUrl);
    let healthChecks;
    try {
      process.kill(killed, 'SIGKILL');
      await service.waitForOutput('start    | worker-2 exited (SIGKILL); restarting in 200 ms (restart 1)');
      const restarted = await waitFor('worker-2 to be started again', () => startedPids(service, 'worker-2')[1], 20_000);
      expect(restarted).not.toBe(killed);
      expect(isRunningFor(killed, config)).toBe(false);
      expect(isRunningFor(restarted, config)).toBe(true);
      await waitFor('the new worker-2 to read its queue', () => workerStartedLines(service, 'worker-2') === 2, 30_000);

      const id = await submit(baseUrl, 'noop', {});
      await waitFor(`job ${id} to complete`, async () => (await jobStatus(baseUrl, id)) === 'completed', 15_000);
    } finally {
      healthChecks = await health.stop();
    }
    expect(healthChecks.failures).toEqual([]);
    expect(healthChecks.answered).toBeGreaterThan(0);
    // The others ran on untouched: the same processes, never restarted.
    expect(startedPids(service, 'api')).toEqual([api]);
    expect(startedPids(service, 'worker-1')).toEqual([worker1]);
    expect(isRunningFor(api, config) && isRunningFor(worker1, config)).toBe(true);
  }, 120_000);

  it('runs the built API and workers under plain node, and says where the API, the dashboard and the API docs are', async () => {
    const { service, config, baseUrl } = await startNpmStart();
    const output = service.output.join('\n');
    expect(output).toContain(`start    | API: ${baseUrl}/`);
    expect(output).toContain(`start    | dashboard: ${baseUrl}/dashboard/`);
    expect(output).toContain(`start    | API docs: ${baseUrl}/docs`);
    expect((await fetch(`${baseUrl}/docs/json`)).status).toBe(200);
    // The built API finds the checkout's dashboard build as the sources do: served, or said to be unbuilt.
    expect((await fetch(`${baseUrl}/dashboard/`)).status).toBe(existsSync(join(DASHBOARD_BUILD_DIR, 'index.html')) ? 200 : 503);
    const commandLines = latestPids(service).map((pid) => (isRunningFor(pid, config) ? readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(1, -1) : []));
    expect(commandLines).toEqual([['apps/api/dist/server.js'], ['apps/worker/dist/main.js'], ['apps/worker/dist/main.js']]);
  }, 120_000);

  it.each(['SIGINT', 'SIGTERM'] as const)('stops on %s: says what it waits for, every process exits, and it exits 0', async (signal) => {
    const { service, config } = await startNpmStart();
    const pids = latestPids(service);
    expect(pids).toHaveLength(3);

    expect(await service.stop(signal, 30_000)).toBe(0);
    const output = service.output.join('\n');
    expect(output).toContain(
      `${signal}: stopping; workers finish the jobs in flight, up to 30 s (SHUTDOWN_TIMEOUT_MS); press Ctrl-C again to exit at once`,
    );
    // Each worker was sent one SIGTERM by npm start, whatever npm start itself received.
    for (const name of ['worker-1', 'worker-2']) {
      expect(service.output.filter((line) => line.startsWith(`${name} `) && line.includes('"msg":"shutting down"'))).toEqual([
        expect.stringContaining('"signal":"SIGTERM"'),
      ]);
    }
    for (const name of ['api', 'worker-1', 'worker-2']) expect(output).toContain(`start    | ${name} stopped`);
    expect(output).toContain('start    | every process exited cleanly');
    expect(output).not.toContain('restarting in');
    expect(pids.filter((pid) => isRunningFor(pid, config))).toEqual([]);
  }, 120_000);

  it('a second SIGINT while a slow job runs kills every process and exits at once', async () => {
    const { service, config, baseUrl } = await startNpmStart({ SHUTDOWN_TIMEOUT_MS: '600000' });
    const pids = latestPids(service);
    const id = await submit(baseUrl, 'sleep', { ms: 20_000 });
    await waitFor(`job ${id} to start`, async () => (await jobStatus(baseUrl, id)) === 'processing', 15_000);

    service.child.kill('SIGINT');
    await service.waitForOutput('up to 600 s (SHUTDOWN_TIMEOUT_MS); press Ctrl-C again to exit at once');
    // npm start takes a signal within 500 ms of the last one it handled for the same Ctrl-C, delivered
    // twice; it printed that line after handling the first.
    const firstHandledBy = Date.now();
    await service.waitForOutput('"running":1,"deadlineMs":600000,"msg":"shutting down"');
    await waitFor('500 ms to pass since npm start handled the first SIGINT', () => Date.now() - firstHandledBy > 500);
    expect(service.child.exitCode).toBeNull();

    const secondAt = Date.now();
    const code = await service.stop('SIGINT', 10_000);
    expect(Date.now() - secondAt).toBeLessThan(3000);
    expect(code).toBe(1);
    expect(service.output.join('\n')).toContain('SIGINT again: killing every process');
    expect(pids.filter((pid) => isRunningFor(pid, config))).toEqual([]);
  }, 120_000);
});
