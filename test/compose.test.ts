import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { composeRedisDurabilityArgs } from './support/compose-file';

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
const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');

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

/** Expands npm workspace patterns (`*` within a path segment) to the directories holding a package.json. */
function workspaceDirs(patterns: string[]): string[] {
  const expand = (base: string, segments: string[]): string[] => {
    const [segment, ...rest] = segments;
    if (segment === undefined) return existsSync(join(ROOT, base, 'package.json')) ? [base] : [];
    const names = segment.includes('*')
      ? readdirSync(join(ROOT, base || '.')).filter((name) => new RegExp(`^${segment.split('*').map(escapeRegExp).join('.*')}$`).test(name))
      : [segment];
    return names
      .map((name) => (base ? `${base}/${name}` : name))
      .filter((path) => existsSync(join(ROOT, path)) && statSync(join(ROOT, path)).isDirectory())
      .flatMap((path) => expand(path, rest));
  };
  return patterns.flatMap((pattern) => expand('', pattern.replace(/\/$/, '').split('/')));
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Sources of the Dockerfile's COPY instructions before its first `npm ci`, i.e. the dependency layer's inputs. */
function copiedBeforeInstall(): string[] {
  const lines = dockerfile.split('\n').map((line) => line.trim());
  const install = lines.findIndex((line) => /^RUN\b.*\bnpm ci\b/.test(line));
  expect(install, 'the Dockerfile runs npm ci').toBeGreaterThan(-1);
  return lines
    .slice(0, install)
    .filter((line) => /^COPY\s/i.test(line))
    .flatMap((line) => {
      const words = line.split(/\s+/).slice(1).filter((word) => !word.startsWith('--'));
      return words.slice(0, -1);
    });
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

  it('runs commands whose files exist', () => {
    const named = Object.entries(services).flatMap(([name, svc]) =>
      commandWords(svc)
        .filter((word) => /\.(?:ts|js|mjs|cjs)$/.test(word))
        .map((file) => ({ name, file })),
    );
    expect(named.map(({ file }) => file)).toEqual(
      expect.arrayContaining(['scripts/migrate.ts', 'apps/api/src/server.ts', 'apps/worker/src/main.ts']),
    );
    for (const { name, file } of named) {
      expect(existsSync(join(ROOT, file)), `${name} runs ${file}, which does not exist`).toBe(true);
    }
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
  it('copies every workspace package.json and the lockfile before npm ci', () => {
    const rootManifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { workspaces: string[] };
    const workspaces = workspaceDirs(rootManifest.workspaces);
    expect(workspaces.length).toBeGreaterThan(0);
    const copied = copiedBeforeInstall().map((source) => source.replace(/^\.\//, ''));
    const expected = ['package.json', 'package-lock.json', ...workspaces.map((dir) => `${dir}/package.json`)];
    expect(copied).toEqual(expect.arrayContaining(expected));
    // A workspace removed but still named here would break `docker build`.
    for (const source of copied) expect(existsSync(join(ROOT, source)), `the Dockerfile copies missing ${source}`).toBe(true);
  });

  it('runs as the unprivileged node user', () => {
    const users = dockerfile.split('\n').filter((line) => /^\s*USER\s/i.test(line));
    expect(users.at(-1)?.trim().split(/\s+/)[1]).toBe('node');
  });
});
