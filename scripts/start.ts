import { spawn, type ChildProcess } from 'node:child_process';
import { hostname } from 'node:os';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { buildDashboard } from './build-dashboard';

/**
 * `npm start`: builds the dashboard and applies the migrations, then runs the API and WORKERS worker
 * processes (default 2) with their output prefixed by name, and prints the dashboard's address once
 * the API listens. Ctrl-C stops them all gracefully; a second Ctrl-C kills them.
 */

interface Exit {
  name: string;
  code: number | null;
  signal: NodeJS.Signals | null;
}

const workerCount = parseWorkers(process.env.WORKERS);
const workerNames = Array.from({ length: workerCount }, (_, i) => `worker-${i + 1}`);
const width = Math.max(...['start', 'migrate', 'api', ...workerNames].map((name) => name.length));
// The children write to pipes, so they cannot tell for themselves that a person is watching.
const childEnv = { ...process.env, LOG_PRETTY: process.env.LOG_PRETTY ?? (process.stdout.isTTY ? '1' : '0') };
const running = new Set<ChildProcess>();
let stopping = false;
let failed = false;
let stoppedAt = 0;

function parseWorkers(raw: string | undefined): number {
  const value = raw?.trim() || '2';
  const count = Number(value);
  if (!/^\d+$/.test(value) || count < 1 || count > 64) {
    console.error(`start: WORKERS must be an integer from 1 to 64 (got "${raw}")`);
    process.exit(2);
  }
  return count;
}

function log(message: string): void {
  console.error(`${'start'.padEnd(width)} | ${message}`);
}

function prefixLines(from: Readable, to: Writable, name: string): void {
  const prefix = `${name.padEnd(width)} | `;
  createInterface({ input: from, crlfDelay: Infinity }).on('line', (line) => {
    to.write(`${prefix}${line}\n`);
    if (name === 'api' && line.includes('Server listening')) log(`dashboard: ${dashboardUrl()}`);
  });
}

/** Where the API serves the dashboard, as the API reads HOST and PORT. */
function dashboardUrl(): string {
  const host = process.env.HOST?.trim() || '127.0.0.1';
  const shown = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return `http://${shown}:${process.env.PORT?.trim() || '3000'}/dashboard/`;
}

function run(name: string, file: string, env: NodeJS.ProcessEnv = {}): Promise<Exit> {
  const child = spawn(process.execPath, ['--import', 'tsx', file], {
    env: { ...childEnv, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Out of the terminal's process group: Ctrl-C reaches only this script, which sends each child a
    // single SIGTERM. A worker takes a second signal as "exit now, abandon in-flight jobs".
    detached: true,
  });
  running.add(child);
  prefixLines(child.stdout, process.stdout, name);
  prefixLines(child.stderr, process.stderr, name);
  child.on('error', (error) => log(`${name}: ${error.message}`));
  // 'close' rather than 'exit': the child's last lines have been printed by then.
  return new Promise((resolve) =>
    child.on('close', (code, signal) => {
      running.delete(child);
      resolve({ name, code, signal });
    }),
  );
}

function summary({ name, code, signal }: Exit): string {
  return signal ? `${name} was killed by ${signal}` : `${name} exited with code ${code}`;
}

function stop(reason: string): void {
  stopping = true;
  stoppedAt = Date.now();
  log(`${reason}: stopping ${running.size} process(es)`);
  for (const child of running) child.kill('SIGTERM');
}

function onSignal(signal: NodeJS.Signals): void {
  if (!stopping) return stop(signal);
  // One Ctrl-C under `npm start` can arrive several times (from the terminal, npm and tsx).
  if (Date.now() - stoppedAt < 500) return;
  log(`${signal} again: killing ${running.size} process(es)`);
  for (const child of running) child.kill('SIGKILL');
}

// SIGHUP too: a closed terminal reaches only this script, and the detached children would be orphaned.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, onSignal);

try {
  log('building the dashboard');
  await buildDashboard();
} catch (error) {
  log(`the dashboard does not build: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}

const migrated = await run('migrate', 'scripts/migrate.ts');
if (migrated.code !== 0) {
  log(`${summary(migrated)}; not starting the API or workers`);
  process.exit(migrated.code || 1);
}

if (!stopping) {
  const exits = [
    run('api', 'apps/api/src/server.ts'),
    ...workerNames.map((name) =>
      // Consumer names must be unique per process; WORKER_NAME, when set, replaces the hostname.
      run(name, 'apps/worker/src/main.ts', { WORKER_NAME: `${process.env.WORKER_NAME || hostname()}-${name}` }),
    ),
  ].map(async (exited) => {
    const exit = await exited;
    if (!stopping) {
      failed = true;
      log(`${summary(exit)} unexpectedly`);
      stop('a process died');
    } else if (exit.code !== 0) {
      log(summary(exit));
    }
    return exit;
  });
  const results = await Promise.all(exits);
  process.exitCode = failed || results.some((exit) => exit.code !== 0) ? 1 : 0;
}
