import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { buildPackages } from '../scripts/build-packages';
import { workspaceDirs, workspaces } from '../scripts/workspaces';
import { composeRedisDurabilityArgs } from './support/compose-file';
import { copyOperands, readDockerfile, type DockerInstruction, type DockerStage } from './support/dockerfile';
import { productionPackages, workspaceFolder } from './support/production-dependencies';

const ROOT = resolve(import.meta.dirname, '..');

interface Service {
  build?: string | { context?: string; dockerfile?: string };
  command?: string | string[];
  environment?: Record<string, string | number | null>;
  ports?: string[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string | string[]; disable?: boolean };
  deploy?: { replicas?: number };
  restart?: string;
  stop_grace_period?: string;
}

// Compose reads `<<` merge keys; YAML 1.2, the parser's default, does not.
const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
};
const services = compose.services;
const stages = readDockerfile();
/** The stage the image runs: the Dockerfile's last. */
const runtime = stages.at(-1) as DockerStage;
/** Programs development needs and a running service never does. */
const DEVELOPMENT_TOOLS = ['typescript', 'tsx', 'vitest', 'eslint', 'playwright-core', 'vite', 'drizzle-kit'];

function service(name: string): Service {
  const found = services[name];
  if (!found) throw new Error(`docker-compose.yml has no service "${name}"`);
  return found;
}

function dependencies(svc: Service): Record<string, string | undefined> {
  const deps = svc.depends_on ?? {};
  if (Array.isArray(deps)) return Object.fromEntries(deps.map((name) => [name, 'service_started']));
  return Object.fromEntries(Object.entries(deps).map(([name, dep]) => [name, dep.condition ?? 'service_started']));
}

function commandWords(svc: Service): string[] {
  const command = svc.command ?? [];
  return Array.isArray(command) ? command : command.split(/\s+/);
}

/** Compose durations such as `40s` or `1m30s`, in milliseconds. */
function durationMs(duration: string): number {
  const units: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const parts = [...duration.matchAll(/(\d+(?:\.\d+)?)(us|ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((part) => part[0]).join('') !== duration) throw new Error(`Unreadable duration "${duration}"`);
  return parts.reduce((total, [, value, unit]) => total + Number(value) * (units[unit ?? ''] ?? NaN), 0);
}

/** The stage's `npm ci`, and the sources of its COPY instructions before it: the dependency layer's inputs. */
function installOf(stage: DockerStage): { install: DockerInstruction | undefined; copiedBefore: string[] } {
  const at = stage.instructions.findIndex((instruction) => instruction.keyword === 'RUN' && instruction.words.join(' ').includes('npm ci'));
  const copiedBefore = stage.instructions
    .slice(0, Math.max(at, 0))
    .filter((instruction) => instruction.keyword === 'COPY')
    .flatMap((instruction) => copyOperands(instruction).sources.map((source) => source.replace(/^\.\//, '')));
  return { install: stage.instructions[at], copiedBefore };
}

/** Where each COPY --from=<stage> of the runtime stage puts what it copies, relative to /app. */
function copiedFromBuild(): string[] {
  return runtime.instructions
    .filter((instruction) => instruction.keyword === 'COPY' && copyOperands(instruction).from !== undefined)
    .map((instruction) => copyOperands(instruction).destination.replace(/^\/app\//, '').replace(/\/$/, ''));
}

/** The workspaces the runtime stage installs (`npm ci --workspace …`). */
function runtimeWorkspaces(): string[] {
  const words = installOf(runtime).install?.words ?? [];
  return words.flatMap((word, i) => (word === '--workspace' ? [words[i + 1] ?? ''] : word.startsWith('--workspace=') ? [word.slice('--workspace='.length)] : []));
}

/** Every command a container runs: each service's, and the image's CMD. */
function containerCommands(): { name: string; words: string[] }[] {
  const cmd = runtime.instructions.filter((instruction) => instruction.keyword === 'CMD').at(-1);
  return [
    ...Object.entries(services).filter(([, svc]) => svc.build !== undefined).map(([name, svc]) => ({ name, words: commandWords(svc) })),
    { name: 'the image (CMD)', words: cmd?.words ?? [] },
  ];
}

describe('docker-compose.yml', () => {
  it('defines the five services', () => {
    expect(Object.keys(services)).toEqual(expect.arrayContaining(['redis', 'postgres', 'migrate', 'api', 'worker']));
  });

  it('builds from contexts in this repository that have a Dockerfile', () => {
    const built = Object.entries(services).filter(([, svc]) => svc.build !== undefined);
    expect(built.map(([name]) => name)).toEqual(expect.arrayContaining(['migrate', 'api', 'worker']));
    for (const [name, svc] of built) {
      const build = typeof svc.build === 'string' ? { context: svc.build } : (svc.build ?? {});
      const context = resolve(ROOT, build.context ?? '.');
      expect(context.startsWith(ROOT), `${name}: build context ${context} is outside the repository`).toBe(true);
      expect(existsSync(join(context, build.dockerfile ?? 'Dockerfile')), `${name}: no Dockerfile in ${context}`).toBe(true);
    }
  });

  it('runs every service on built JavaScript under plain node', () => {
    const built = Object.entries(services).filter(([, svc]) => svc.build !== undefined);
    for (const [name, svc] of built) {
      const [program, file] = commandWords(svc);
      expect(program, `${name} runs node`).toBe('node');
      expect(file, `${name} runs a built file`).toMatch(/^(packages|apps)\/[^/]+\/dist\/.+\.js$/);
    }
    expect(built.map(([, svc]) => commandWords(svc)[1])).toEqual(
      expect.arrayContaining(['packages/cli/dist/main.js', 'apps/api/dist/server.js', 'apps/worker/dist/main.js']),
    );
  });

  it('runs at least three workers, each given time to finish its jobs on stop', () => {
    const worker = service('worker');
    expect(worker.deploy?.replicas).toBeGreaterThanOrEqual(3);
    const shutdownTimeoutMs = Number(worker.environment?.SHUTDOWN_TIMEOUT_MS ?? 30_000);
    expect(durationMs(worker.stop_grace_period ?? '10s')).toBeGreaterThan(shutdownTimeoutMs);
  });

  it('keeps Redis data in an append-only file written to disk before each reply, as the outage tests run it', () => {
    const words = commandWords(service('redis'));
    expect(words[words.indexOf('--appendonly') + 1]).toBe('yes');
    expect(words[words.indexOf('--appendfsync') + 1]).toBe('always');
    expect(composeRedisDurabilityArgs()).toEqual(['--appendonly', 'yes', '--appendfsync', 'always']);
  });

  it('publishes the API on port 3000, listening on every interface of its container', () => {
    const api = service('api');
    expect(api.ports?.map(String)).toContainEqual(expect.stringMatching(/(?:^|:)3000:3000$/));
    expect(api.environment?.HOST).toBe('0.0.0.0');
  });

  it('starts with nothing set, open only on the host\'s loopback, or else requires API_KEYS', () => {
    const api = service('api');
    const openable = api.environment?.ALLOW_OPEN_API !== undefined;
    const keysRequired = /^\$\{API_KEYS:\?.+\}$/.test(String(api.environment?.API_KEYS ?? ''));
    // Without one or the other the API, bound to 0.0.0.0 in its container, would refuse to start.
    expect(openable || keysRequired).toBe(true);
    if (openable) expect((api.ports ?? []).map(String).filter((port) => !port.startsWith('127.0.0.1:'))).toEqual([]);
  });

  it('publishes no worker metrics on the host', () => {
    expect(service('worker').ports ?? []).toEqual([]);
  });

  it('starts the API and workers after the servers are healthy and the migration has succeeded', () => {
    for (const name of ['api', 'worker']) {
      expect(dependencies(service(name)), name).toMatchObject({
        migrate: 'service_completed_successfully',
        redis: 'service_healthy',
        postgres: 'service_healthy',
      });
    }
  });

  it('gives every long-running service a healthcheck, or makes it wait for a healthy one', () => {
    const healthy = (svc: Service) => svc.healthcheck !== undefined && svc.healthcheck.disable !== true;
    const longRunning = Object.entries(services).filter(([, svc]) => svc.restart !== 'no');
    expect(longRunning.map(([name]) => name)).toEqual(expect.arrayContaining(['redis', 'postgres', 'api', 'worker']));
    for (const [name, svc] of longRunning) {
      const waitsForHealthy = Object.entries(dependencies(svc)).some(
        ([dependency, condition]) => condition === 'service_healthy' && healthy(service(dependency)),
      );
      expect(healthy(svc) || waitsForHealthy, `${name} has no healthcheck and waits for no healthy service`).toBe(true);
    }
  });
});

describe('Dockerfile', () => {
  it('builds in one stage and runs from another', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(stages.slice(0, -1).some((stage) => stage.instructions.some((instruction) => instruction.keyword === 'RUN' && instruction.words.join(' ').includes('npm run build')))).toBe(true);
    expect(runtime.instructions.filter((instruction) => instruction.keyword === 'RUN' && /\b(build|tsc|tsx)\b/.test(instruction.words.join(' ')))).toEqual([]);
  });

  it('copies every workspace package.json and the lockfile before each npm ci', () => {
    const rootManifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { workspaces: string[] };
    const workspaceManifests = workspaceDirs(rootManifest.workspaces).map((dir) => `${dir}/package.json`);
    expect(workspaceManifests.length).toBeGreaterThan(0);
    const installing = stages.filter((stage) => installOf(stage).install !== undefined);
    expect(installing.length, 'the build and runtime stages each run npm ci').toBe(stages.length);
    for (const stage of installing) {
      const { copiedBefore } = installOf(stage);
      expect(copiedBefore, `stage ${stage.name}`).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', ...workspaceManifests]));
      // A workspace removed but still named here would break `docker build`.
      for (const source of copiedBefore) expect(existsSync(join(ROOT, source)), `the Dockerfile copies missing ${source}`).toBe(true);
    }
  });

  it('installs only production dependencies in the runtime stage', () => {
    const words = installOf(runtime).install?.words ?? [];
    expect(words).toContain('--omit=dev');
    expect(runtimeWorkspaces()).toEqual(expect.arrayContaining(['@sluice/api', '@sluice/worker', '@sluice/cli']));
  });

  it('installs no development tool with the packages the image runs', () => {
    const installed = productionPackages(runtimeWorkspaces(), { omitOptional: (installOf(runtime).install?.words ?? []).includes('--omit=optional') });
    expect(installed).toEqual(expect.arrayContaining(['fastify', 'ioredis', 'pg']));
    expect(installed.filter((name) => DEVELOPMENT_TOOLS.includes(name) || name.startsWith('@types/'))).toEqual([]);
  });

  it('copies in the built files of every workspace the image runs, and the migrations', () => {
    const needed = new Set(runtimeWorkspaces());
    const byName = new Map(workspaces().map((workspace) => [workspace.name, workspace]));
    for (const name of needed) {
      for (const dependency of Object.keys(byName.get(name)?.manifest.dependencies ?? {})) if (byName.has(dependency)) needed.add(dependency);
    }
    const copied = copiedFromBuild();
    expect(copied).toEqual(expect.arrayContaining([...[...needed].map((name) => `${workspaceFolder(name)}/dist`), 'packages/core/drizzle', 'apps/dashboard/dist']));
  });

  it('runs the API on built JavaScript under plain node, as the unprivileged node user', () => {
    const cmd = runtime.instructions.filter((instruction) => instruction.keyword === 'CMD').at(-1);
    expect(cmd?.words).toEqual(['node', 'apps/api/dist/server.js']);
    const users = runtime.instructions.filter((instruction) => instruction.keyword === 'USER');
    expect(users.at(-1)?.words[0]).toBe('node');
  });
});

describe('what the containers run', () => {
  beforeAll(async () => {
    await buildPackages();
  }, 180_000);

  it('never runs TypeScript or tsx, only files that exist once the packages are built, and that the image holds', () => {
    const copied = copiedFromBuild();
    for (const { name, words } of containerCommands()) {
      expect(words.filter((word) => /\btsx\b|\.ts$|^--(import|loader|conditions)/.test(word)), name).toEqual([]);
      const files = words.filter((word) => /\.(?:js|mjs|cjs)$/.test(word));
      expect(files.length, `${name} runs a file`).toBeGreaterThan(0);
      for (const file of files) {
        expect(existsSync(join(ROOT, file)), `${name} runs ${file}, which \`npm run build\` does not make`).toBe(true);
        expect(copied.some((folder) => file.startsWith(`${folder}/`)), `${name} runs ${file}, which the image does not copy in`).toBe(true);
      }
    }
  });
});
