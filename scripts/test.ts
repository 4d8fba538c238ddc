import { execFile, spawn } from 'node:child_process';
import { constants } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import { buildDashboard } from './build-dashboard';
import { buildPackages } from './build-packages';
import { ensureTestTools } from './test-tools';

/**
 * `npm test`: makes sure Redis and PostgreSQL answer (starting them with Docker Compose when they
 * do not and Docker is there) and that the programs the browser and metrics tests drive are
 * installed (installing Debian's packages when it may), builds the packages and the dashboard (so
 * the tests that run built code find it current, and no two of them build at once), then runs
 * vitest with any extra arguments, writing .vitest-report.json beside the usual output, and exits
 * with vitest's exit code.
 */

const ROOT = resolve(import.meta.dirname, '..');
const CHECK_TIMEOUT_MS = 2000;

/** False when `check` has not settled in time, as with a server that accepts but never replies. */
function inTime(check: Promise<boolean>): Promise<boolean> {
  return Promise.race([check, new Promise<boolean>((done) => setTimeout(done, CHECK_TIMEOUT_MS, false).unref())]);
}

async function redisAnswers(url: string): Promise<boolean> {
  const redis = new Redis(url, { lazyConnect: true, connectTimeout: CHECK_TIMEOUT_MS, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => undefined); // the outcome is the return value
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

async function postgresAnswers(url: string): Promise<boolean> {
  // The tests create their database when it is missing, so only the server has to be there.
  const serverUrl = new URL(url);
  serverUrl.pathname = '/postgres';
  const client = new pg.Client({ connectionString: serverUrl.href, connectionTimeoutMillis: CHECK_TIMEOUT_MS });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}

function dockerAvailable(): Promise<boolean> {
  return new Promise((done) => execFile('docker', ['info'], { timeout: 15_000 }, (error) => done(error === null)));
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const child = spawn(command, args, { cwd: ROOT, env, stdio: 'inherit' });
  // The terminal's Ctrl-C reaches the child as well: let it wind down and report its own exit code.
  const ignore = () => undefined;
  const forward = () => child.kill('SIGTERM');
  process.on('SIGINT', ignore).on('SIGTERM', forward);
  return new Promise((done) => {
    child.on('error', (error) => {
      console.error(`test: cannot run ${command}: ${error.message}`);
      done(1);
    });
    child.on('exit', (code, signal) => {
      process.off('SIGINT', ignore).off('SIGTERM', forward);
      done(code ?? 128 + (signal ? constants.signals[signal] : 0));
    });
  });
}

/** How to check each server, and where docker-compose.yml publishes it on this machine. */
const SERVERS = {
  redis: { label: 'Redis', answers: redisAnswers, composeUrl: 'redis://127.0.0.1:6379', hint: '`redis-server --daemonize yes`' },
  postgres: {
    label: 'PostgreSQL',
    answers: postgresAnswers,
    composeUrl: 'postgres://sluice:sluice@127.0.0.1:5432/sluice',
    hint: '`sudo service postgresql start`',
  },
};
type Server = keyof typeof SERVERS;

const urls: Record<Server, string> = {
  redis: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  postgres: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/sluice',
};
const servers = Object.keys(SERVERS) as Server[];
const up = await Promise.all(servers.map((server) => inTime(SERVERS[server].answers(urls[server]))));
const missing = servers.filter((_, i) => !up[i]);

if (missing.length > 0) {
  const what = missing.map((server) => `${SERVERS[server].label} at ${redact(urls[server])}`).join(' and ');
  if (!(await dockerAvailable())) {
    const them = missing.length > 1 ? 'them' : 'it';
    console.error(
      `test: ${what} did not answer within ${CHECK_TIMEOUT_MS} ms, and there is no Docker engine to start ${them}.\n` +
        `  Start ${them} (e.g. ${missing.map((server) => SERVERS[server].hint).join(' and ')}), start Docker,\n` +
        '  or point REDIS_URL / DATABASE_URL at servers that run; then run `npm test` again.',
    );
    process.exit(1);
  }
  console.error(`test: ${what} did not answer; starting ${missing.join(' and ')} with Docker Compose`);
  const code = await run('docker', ['compose', 'up', '-d', '--wait', ...missing]);
  if (code !== 0) {
    console.error(`test: \`docker compose up -d --wait ${missing.join(' ')}\` failed with exit code ${code}`);
    process.exit(code);
  }
  for (const server of missing) urls[server] = SERVERS[server].composeUrl;
}

try {
  ensureTestTools((line) => console.error(`test: ${line}`));
} catch (error) {
  console.error(`test: ${messageOf(error)}`);
  process.exit(1);
}

try {
  await buildPackages();
} catch (error) {
  console.error(`test: the packages do not build: ${messageOf(error)}`);
  process.exit(1);
}

try {
  await buildDashboard();
} catch (error) {
  console.error(`test: the dashboard does not build: ${messageOf(error)}`);
  process.exit(1);
}

const vitest = join(dirname(fileURLToPath(import.meta.resolve('vitest/package.json'))), 'vitest.mjs');
const reporters = ['--reporter=default', '--reporter=json', '--outputFile.json=.vitest-report.json'];
const code = await run(process.execPath, [vitest, 'run', ...reporters, ...process.argv.slice(2)], {
  ...process.env,
  REDIS_URL: urls.redis,
  DATABASE_URL: urls.postgres,
});
// Exit now rather than when idle: a check that timed out may still hold a socket open.
process.exit(code);
