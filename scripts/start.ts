import { spawn, type ChildProcess } from 'node:child_process';
import { hostname } from 'node:os';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { loadConfig, messageOf, openApiRefusal, type SluiceConfig } from '@sluice/core';
import { buildDashboard } from './build-dashboard';
import { buildPackages } from './build-packages';
import { duration, Supervisor, type Service } from './supervisor';

/**
 * `npm start`: builds the packages (incrementally) and the dashboard, applies the migrations, then
 * runs the built API and WORKERS worker processes (default 2) under plain node, with their output
 * prefixed by name, and prints the addresses of the API, the dashboard and the API docs once the API
 * listens. A process that exits is started again, after a wait that starts at
 * RESTART_BACKOFF_MS (default 1 s) and doubles up to 30 s. Ctrl-C or SIGTERM stops them all
 * gracefully; a second Ctrl-C kills them.
 */

/** A process that ran this long before exiting was healthy: its next restart waits RESTART_BACKOFF_MS again. */
const HEALTHY_RUN_MS = 60_000;
const MAX_RESTART_WAIT_MS = 30_000;
/**
 * Under `npm start` one Ctrl-C reaches this process twice within milliseconds: from the terminal, and
 * from npm, which forwards it to the script it runs. A signal this soon after the last one is the same Ctrl-C.
 */
const REPEATED_SIGNAL_MS = 500;
/** The built programs it runs, relative to the repository root (where npm runs scripts). */
const PROGRAMS = {
  cli: 'packages/cli/dist/main.js',
  api: 'apps/api/dist/server.js',
  worker: 'apps/worker/dist/main.js',
} as const;

const workerCount = readInteger('WORKERS', 2, 1, 64);
const restartBackoffMs = readInteger('RESTART_BACKOFF_MS', 1000, 1, MAX_RESTART_WAIT_MS);
const workerNames = Array.from({ length: workerCount }, (_, i) => `worker-${i + 1}`);
const width = Math.max(...['start', 'migrate', 'api', ...workerNames].map((name) => name.length));
// Checked here once: a bad value would otherwise make every process exit at start, and be restarted forever.
const config = readConfig();
// The children write to pipes, so they cannot tell for themselves that a person is watching.
const childEnv = { ...process.env, LOG_PRETTY: process.env.LOG_PRETTY ?? (process.stdout.isTTY ? '1' : '0') };
let migration: ChildProcess | undefined;
let supervisor: Supervisor | undefined;
let stopRequested = false;
let lastSignalAt = 0;

function readInteger(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name]?.trim() || String(fallback);
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < min || value > max) {
    console.error(`start: ${name} must be an integer from ${min} to ${max} (got "${process.env[name]}")`);
    process.exit(2);
  }
  return value;
}

function readConfig(): SluiceConfig {
  let loaded: SluiceConfig;
  try {
    loaded = loadConfig(process.env);
  } catch (error) {
    log(messageOf(error));
    process.exit(2);
  }
  // The API would refuse it at every restart: say so once, before starting anything.
  const refusal = openApiRefusal(loaded.api);
  if (refusal) {
    log(`the API cannot start: ${refusal}`);
    process.exit(2);
  }
  return loaded;
}

function log(message: string): void {
  console.error(`${'start'.padEnd(width)} | ${message}`);
}

function prefixLines(from: Readable, to: Writable, name: string): void {
  const prefix = `${name.padEnd(width)} | `;
  createInterface({ input: from, crlfDelay: Infinity }).on('line', (line) => {
    to.write(`${prefix}${line}\n`);
    if (name === 'api' && line.includes('Server listening')) logAddresses();
  });
}

/** Where to find the API, and the dashboard and API docs it serves. */
function logAddresses(): void {
  const { host, port } = config.api;
  const shown = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  const base = `http://${shown}:${port}`;
  log(`API: ${base}/`);
  log(`dashboard: ${base}/dashboard/`);
  log(`API docs: ${base}/docs`);
}

/** Runs `program` (built JavaScript) under plain node, its output prefixed with `name`. */
function spawnPrefixed(name: string, program: string, args: readonly string[] = [], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const child = spawn(process.execPath, [program, ...args], {
    env: { ...childEnv, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Out of the terminal's process group: Ctrl-C reaches only this script, which sends each child a
    // single SIGTERM. A worker takes a second signal as "exit now, abandon in-flight jobs".
    detached: true,
  });
  prefixLines(child.stdout, process.stdout, name);
  prefixLines(child.stderr, process.stderr, name);
  return child;
}

const services: Service[] = [
  { name: 'api', spawn: () => spawnPrefixed('api', PROGRAMS.api) },
  ...workerNames.map((name, index) => ({
    name,
    // Consumer names must be unique per process; WORKER_NAME, when set, replaces the hostname. So must
    // metrics ports: worker N serves its metrics on METRICS_PORT + N - 1.
    spawn: () =>
      spawnPrefixed(name, PROGRAMS.worker, [], {
        WORKER_NAME: `${process.env.WORKER_NAME || hostname()}-${name}`,
        ...(config.worker.metricsPort > 0 && { METRICS_PORT: String(config.worker.metricsPort + index) }),
      }),
  })),
];

/** Applies the migrations in a process of their own; exits this one if they fail. */
async function migrate(): Promise<void> {
  const child = spawnPrefixed('migrate', PROGRAMS.cli, ['migrate']);
  migration = child;
  child.on('error', (error) => log(`migrate: ${error.message}`));
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('close', (...exit) => resolve(exit)));
  migration = undefined;
  if (code === 0) return;
  if (!stopRequested) log(`migrate ${signal ? `exited (${signal})` : `exited with code ${code}`}; not starting the API or workers`);
  process.exit(1);
}

function onSignal(signal: NodeJS.Signals): void {
  if (Date.now() - lastSignalAt < REPEATED_SIGNAL_MS) return;
  lastSignalAt = Date.now();
  if (!stopRequested) {
    stopRequested = true;
    if (!supervisor) {
      log(`${signal}: stopping before the API and workers start`);
      migration?.kill('SIGTERM');
      return;
    }
    log(
      `${signal}: stopping; workers finish the jobs in flight, up to ${duration(config.worker.shutdownTimeoutMs)} ` +
        '(SHUTDOWN_TIMEOUT_MS); press Ctrl-C again to exit at once',
    );
    void supervisor.stop().then((clean) => {
      log(clean ? 'every process exited cleanly' : 'not every process exited cleanly');
      process.exit(clean ? 0 : 1);
    });
    return;
  }
  log(`${signal} again: killing every process`);
  migration?.kill('SIGKILL');
  // The stop under way then ends, and this process with it.
  if (supervisor) void supervisor.kill();
  else process.exit(1);
}

// SIGHUP too: a closed terminal reaches only this script, and the detached children would be orphaned.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, onSignal);

try {
  log('building the packages');
  await buildPackages();
} catch (error) {
  log(`the packages do not build: ${messageOf(error)}`);
  process.exit(1);
}

if (/^(1|true|yes)$/i.test(process.env.SKIP_DASHBOARD_BUILD?.trim() ?? '')) {
  log('using the dashboard already built (SKIP_DASHBOARD_BUILD)');
} else {
  try {
    log('building the dashboard');
    await buildDashboard();
  } catch (error) {
    log(`the dashboard does not build: ${messageOf(error)}`);
    process.exit(1);
  }
}

if (!stopRequested) await migrate();

if (!stopRequested) {
  supervisor = new Supervisor(services, { initialMs: restartBackoffMs, maxMs: MAX_RESTART_WAIT_MS, resetAfterMs: HEALTHY_RUN_MS }, log);
  supervisor.start();
}
