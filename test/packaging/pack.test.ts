import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool } from '@sluice/core';
import { publishableWorkspaces } from '../../scripts/workspaces';
import { dropRedisKeys, envFor, isolatedConfig, waitFor } from '../support/context';
import { installPacked, outsideEnv, packWorkspaces, type Tarballs } from '../support/packed';
import { freePort } from '../support/redis-server';

/**
 * The packages as their users get them: packed, installed from the tarballs into an empty project,
 * and run there under plain node, where nothing of this repository can stand in for them.
 */

const ROOT = resolve(import.meta.dirname, '../..');
const config = isolatedConfig('packed');
let tarballs: Tarballs;
let projectDir: string;

beforeAll(async () => {
  tarballs = await packWorkspaces();
  projectDir = await mkdtemp(join(tmpdir(), 'sluice-installed-'));
  await installPacked(projectDir, tarballs);
}, 600_000);

afterAll(async () => {
  if (projectDir) await rm(projectDir, { recursive: true, force: true });
  await dropRedisKeys(config);
  const pool = createPool(config.postgres);
  await pool.query(`DROP SCHEMA IF EXISTS "${config.postgres.schema}" CASCADE`).finally(() => pool.end());
});

/** The files in a tarball, without npm's `package/` folder. */
function filesOf(tarball: string): string[] {
  const listing = spawnSync('tar', ['-tzf', tarball], { encoding: 'utf8' });
  if (listing.status !== 0) throw new Error(`tar cannot read ${tarball}: ${listing.stderr}`);
  return listing.stdout.split('\n').filter((line) => line !== '').map((line) => line.replace(/^package\//, ''));
}

/** Runs an ES module written into the installed project, under plain node; resolves with its output and exit code. */
async function runModule(name: string, source: string, env: Record<string, string> = {}): Promise<{ code: number | null; output: string }> {
  const file = join(projectDir, name);
  await writeFile(file, source);
  return runProgram(file, [], env);
}

function runProgram(file: string, args: readonly string[], env: Record<string, string> = {}): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [file, ...args], { cwd: projectDir, env: outsideEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((done) => child.once('close', (code) => done({ code, output })));
}

function bin(name: string): string {
  return join(projectDir, 'node_modules', '.bin', name);
}

describe('the packed packages', () => {
  it('hold their built files, declarations and README, and no sources, tests or build state', () => {
    expect(Object.keys(tarballs).sort()).toEqual(publishableWorkspaces().map((workspace) => workspace.name).sort());
    for (const [name, tarball] of Object.entries(tarballs)) {
      const files = filesOf(tarball);
      expect(files, name).toEqual(expect.arrayContaining(['package.json', 'README.md']));
      expect(files.filter((file) => file.startsWith('dist/') && file.endsWith('.js')).length, name).toBeGreaterThan(0);
      expect(files.filter((file) => file.startsWith('dist/') && file.endsWith('.d.ts')).length, name).toBeGreaterThan(0);
      expect(files.filter((file) => /^(src|test)\//.test(file) || file.endsWith('.tsbuildinfo') || file.endsWith('.ts') && !file.endsWith('.d.ts')), name).toEqual([]);
    }
    const core = filesOf(tarballs['@sluice/core'] ?? '');
    const scripts = readdirSync(join(ROOT, 'packages/core/src/redis/lua')).filter((file) => file.endsWith('.lua'));
    expect(core).toEqual(expect.arrayContaining(scripts.map((file) => `dist/redis/lua/${file}`)));
    const migrations = readdirSync(join(ROOT, 'packages/core/drizzle')).filter((file) => file.endsWith('.sql'));
    expect(migrations.length).toBeGreaterThan(0);
    expect(core).toEqual(expect.arrayContaining([...migrations.map((file) => `drizzle/${file}`), 'drizzle/meta/_journal.json']));
  });

  it('import under plain node from the installed project, with the exports their users need', async () => {
    const { code, output } = await runModule(
      'exports.mjs',
      `
      const wanted = {
        '@sluice/core': ['Queue', 'Worker', 'createWorker', 'createRedis', 'createPool', 'loadConfig', 'applyMigrations', 'defineJobType', 'EnvReader'],
        '@sluice/jobs': ['builtinJobTypes', 'createJobRegistry', 'loadBuiltinJobsConfig'],
        '@sluice/jobs/handlers': ['createHandlers'],
        '@sluice/api': ['buildApp', 'runApiServer'],
        '@sluice/worker': ['runWorkerProcess'],
      };
      const found = {};
      for (const [name, exports] of Object.entries(wanted)) {
        const module = await import(name);
        found[name] = { from: import.meta.resolve(name), exports: Object.fromEntries(exports.map((key) => [key, typeof module[key]])) };
      }
      console.log(JSON.stringify(found));
      `,
    );
    expect(code, output).toBe(0);
    // Each package's own @sluice dependencies are the tarballs too, not copies fetched from the registry.
    for (const name of Object.keys(tarballs)) expect(existsSync(join(projectDir, 'node_modules', name, 'node_modules', '@sluice')), name).toBe(false);
    const found = JSON.parse(output) as Record<string, { from: string; exports: Record<string, string> }>;
    for (const [name, { from, exports }] of Object.entries(found)) {
      expect(from, name).toContain(`${projectDir}/node_modules/${name.split('/').slice(0, 2).join('/')}/dist/`);
      expect(Object.values(exports).every((kind) => kind === 'function' || kind === 'object'), `${name}: ${JSON.stringify(exports)}`).toBe(true);
    }
  });

  it('load their Lua scripts: a job added through the installed Queue reads back from Redis', async () => {
    const { code, output } = await runModule(
      'queue.mjs',
      `
      import { closeRedis, createRedis, loadConfig, Queue, waitForRedis } from '@sluice/core';
      import { createJobRegistry } from '@sluice/jobs';
      const config = loadConfig(process.env);
      const redis = createRedis(config.redis);
      try {
        await waitForRedis(redis, 5000);
        const queue = new Queue({ redis, redisConfig: config.redis, queueConfig: config.queue, registry: createJobRegistry() });
        const added = await queue.add('sleep', { ms: 5 });
        const job = await queue.getJob(added.id);
        console.log(JSON.stringify({ added: added.id, read: job && { id: job.id, type: job.type, status: job.status, payload: job.payload } }));
      } finally {
        await closeRedis(redis);
      }
      `,
      envFor(config),
    );
    expect(code, output).toBe(0);
    const { added, read } = JSON.parse(output) as { added: string; read: unknown };
    expect(read).toEqual({ id: added, type: 'sleep', status: 'pending', payload: { ms: 5 } });
  });

  it('install the sluice command, which migrates with the migrations core ships and runs an API that serves no dashboard', async () => {
    const help = await runProgram(bin('sluice'), ['--help']);
    expect(help.code, help.output).toBe(0);
    expect(help.output).toContain('Usage: sluice');

    const migrate = await runProgram(bin('sluice'), ['migrate'], envFor(config));
    expect(migrate.code, migrate.output).toBe(0);

    const port = await freePort();
    const api = spawn(process.execPath, [bin('sluice'), 'api'], {
      cwd: projectDir,
      env: outsideEnv({ ...envFor(config), PORT: String(port), LOG_LEVEL: 'warn' }),
      stdio: 'ignore',
    });
    const exited = new Promise<number | null>((done) => api.once('exit', (code) => done(code)));
    try {
      const baseUrl = `http://127.0.0.1:${port}`;
      await waitFor('the installed API to answer', async () => (await fetch(`${baseUrl}/health`)).ok, 30_000, 100);
      const dashboard = await fetch(`${baseUrl}/dashboard/`);
      expect(dashboard.status).toBe(404);
      expect(await dashboard.json()).toMatchObject({ error: { code: 'NO_DASHBOARD', message: expect.stringContaining('DASHBOARD_DIR') } });
    } finally {
      api.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  }, 60_000);

  it('install the sluice-worker command, the stock worker under plain node', async () => {
    expect(existsSync(bin('sluice-worker'))).toBe(true);
    const { code, output } = await runProgram(bin('sluice-worker'), [], { CONCURRENCY: 'lots', WEBHOOK_TIMEOUT_MS: 'soon' });
    expect(code).toBe(1);
    expect(output).toContain('CONCURRENCY must be an integer');
    expect(output).toContain('WEBHOOK_TIMEOUT_MS must be an integer');
  });
});
