import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { Cluster } from 'ioredis';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '@sluice/core';
import { buildPackages } from '../scripts/build-packages';
import { workspaceDirs, workspaces } from '../scripts/workspaces';
import {
  commandWords,
  composeRedisDurabilityArgs,
  configFileAt,
  interpolateUnset,
  readComposeFile,
  redisSetting,
  redisSettings,
  type ComposeService as Service,
} from './support/compose-file';
import { copyOperands, readDockerfile, type DockerInstruction, type DockerStage } from './support/dockerfile';
import { productionPackages, workspaceFolder } from './support/production-dependencies';
import { askRedis, freePort } from './support/redis-server';
import { waitFor } from './support/wait-for';

const ROOT = resolve(import.meta.dirname, '..');

const compose = readComposeFile();
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

/** The profiles that run the stack on Redis set up otherwise than the default single node. */
const PROFILES = ['cluster', 'sentinel'] as const;
type Profile = (typeof PROFILES)[number];
/** The profile that adds Prometheus and Grafana to the default stack. */
const MONITORING = 'monitoring';
/** What the default stack builds and runs; each profile has its own of each, named `<role>-<profile>`. */
const APPLICATION_ROLES = ['migrate', 'api', 'worker'] as const;
/** Settings a profile's application services may hold otherwise than the default ones. */
const REDIS_SETTINGS = ['REDIS_URL', 'REDIS_CLUSTER_NODES', 'REDIS_SENTINELS', 'REDIS_SENTINEL_MASTER', 'REDIS_WAIT_REPLICAS', 'QUEUE_PARTITIONS'];

function servicesOf(profile: string): [string, Service][] {
  return Object.entries(services).filter(([, svc]) => svc.profiles?.includes(profile));
}

function applicationServicesOf(profile: Profile): [string, Service][] {
  return servicesOf(profile).filter(([, svc]) => svc.build !== undefined);
}

/** The cluster profile's Redis Cluster nodes: its services whose redis-server runs with cluster-enabled. */
function clusterNodes(): [string, Service][] {
  return servicesOf('cluster').filter(([, svc]) => redisSetting(redisSettings(compose, svc), 'cluster-enabled') === 'yes');
}

function sentinels(): [string, Service][] {
  return servicesOf('sentinel').filter(([, svc]) => commandWords(svc).includes('--sentinel'));
}

/** The sentinel profile's Redis nodes (not sentinels), the master first. */
function sentinelDataNodes(): [string, Service][] {
  const nodes = servicesOf('sentinel').filter(([, svc]) => svc.image?.startsWith('redis:') && !commandWords(svc).includes('--sentinel'));
  return nodes.sort(([, a], [, b]) => Number(redisSettings(compose, a).has('replicaof')) - Number(redisSettings(compose, b).has('replicaof')));
}

/** `name:port` of a Redis service, as clients on the compose network reach it. */
function addressOf([name, svc]: [string, Service]): string {
  return `${name}:${redisSetting(redisSettings(compose, svc), 'port') ?? '6379'}`;
}

/** A service's settings, `${…}` resolved as with nothing set in the environment. */
function environmentOf(svc: Service): Record<string, string> {
  return Object.fromEntries(Object.entries(svc.environment ?? {}).map(([name, value]) => [name, interpolateUnset(String(value ?? ''))]));
}

/** The services `docker compose up <names…>` starts: the named ones and, transitively, what they depend on. */
function startedBy(names: string[]): Set<string> {
  const started = new Set<string>();
  const pending = [...names];
  for (let name = pending.pop(); name !== undefined; name = pending.pop()) {
    if (started.has(name)) continue;
    started.add(name);
    pending.push(...Object.keys(dependencies(service(name))));
  }
  return started;
}

/** The `docker compose --profile <profile> up --build <services…>` commands the file's header gives. */
function documentedCommands(): { profile: string; names: string[] }[] {
  const header = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8').split('\n').filter((line) => line.startsWith('#'));
  return header.flatMap((line) => {
    const match = /docker compose --profile (\S+) up --build ((?:[\w-]+ ?)+)$/.exec(line);
    return match ? [{ profile: match[1] as string, names: (match[2] as string).trim().split(' ') }] : [];
  });
}

describe('docker-compose.yml profiles', () => {
  it('starts exactly the default stack when no profile is given, and puts every other service in one profile', () => {
    const always = Object.entries(services).filter(([, svc]) => svc.profiles === undefined).map(([name]) => name);
    expect(always.sort()).toEqual(['api', 'migrate', 'postgres', 'redis', 'worker']);
    for (const [name, svc] of Object.entries(services).filter(([, found]) => found.profiles !== undefined)) {
      expect(svc.profiles, name).toHaveLength(1);
      expect([...PROFILES, MONITORING], name).toContain(svc.profiles?.[0]);
    }
  });

  it('documents for each profile a command that starts its whole stack, and of the default one only PostgreSQL', () => {
    const commands = documentedCommands();
    expect(commands.map((command) => command.profile).sort()).toEqual([...PROFILES, MONITORING].sort());
    for (const { profile, names } of commands.filter((command) => command.profile !== MONITORING)) {
      expect(names.sort(), profile).toEqual([`api-${profile}`, `worker-${profile}`]);
      const own = servicesOf(profile).map(([name]) => name);
      expect([...startedBy(names)].sort(), profile).toEqual([...own, 'postgres'].sort());
    }
  });

  it('publishes only on the host\'s loopback, each port once, so that the profiles run beside the default stack', () => {
    const published = Object.values(services).flatMap((svc) => (svc.ports ?? []).map(String));
    expect(published.filter((port) => !port.startsWith('127.0.0.1:'))).toEqual([]);
    const hostPorts = published.map((port) => port.split(':')[1]);
    expect(new Set(hostPorts).size).toBe(hostPorts.length);
    for (const profile of PROFILES) expect(service(`api-${profile}`).ports?.map(String)).toContainEqual(expect.stringMatching(/:3000$/));
  });

  it('runs each profile\'s migrate, api and worker as the default ones: same image, command, healthcheck and settings', () => {
    for (const profile of PROFILES) {
      expect(applicationServicesOf(profile).map(([name]) => name).sort()).toEqual(APPLICATION_ROLES.map((role) => `${role}-${profile}`).sort());
      for (const role of APPLICATION_ROLES) {
        // Its own dependencies and published port are checked below.
        const { environment, depends_on: _, ports, profiles, ...rest } = service(`${role}-${profile}`);
        const { environment: defaultEnvironment, depends_on: __, ports: ___, ...defaultRest } = service(role);
        expect({ ...rest, profiles, hasPorts: ports !== undefined }, `${role}-${profile}`).toEqual({ ...defaultRest, profiles: [profile], hasPorts: role === 'api' });
        // The stack's own Redis, history schema and, for the API, its own name on the network.
        const own = [...REDIS_SETTINGS, 'DATABASE_SCHEMA', 'ALLOWED_HOSTS'];
        const keep = (env: Record<string, unknown> = {}) => Object.fromEntries(Object.entries(env).filter(([name]) => !own.includes(name)));
        expect(keep(environment), `${role}-${profile}`).toEqual(keep(defaultEnvironment));
        if (role === 'api') expect(environmentOf(service(`api-${profile}`)).ALLOWED_HOSTS).toBe(`api-${profile}`);
      }
    }
  });

  it('gives each stack a history schema of its own, so that two migrations never run on one schema at once', () => {
    const schemas = ['', ...PROFILES.map((profile) => `-${profile}`)].map((suffix) => environmentOf(service(`migrate${suffix}`)).DATABASE_SCHEMA ?? 'public');
    expect(new Set(schemas).size).toBe(schemas.length);
    for (const profile of PROFILES) {
      for (const [name, svc] of applicationServicesOf(profile)) expect(environmentOf(svc).DATABASE_SCHEMA, name).toBe(environmentOf(service(`migrate-${profile}`)).DATABASE_SCHEMA);
    }
  });

  it('gives every application service settings that Sluice accepts, naming no Redis of another stack', () => {
    for (const [name, svc] of Object.entries(services).filter(([, found]) => found.build !== undefined)) {
      const config = loadConfig(environmentOf(svc));
      const profile = svc.profiles?.[0];
      expect(config.redis.clusterNodes.length > 0, name).toBe(profile === 'cluster');
      expect(config.redis.sentinels.length > 0, name).toBe(profile === 'sentinel');
      const redisHost = new URL(config.redis.url).hostname;
      expect(profile === undefined ? redisHost === 'redis' : servicesOf(profile).some(([own]) => own === redisHost), `${name}: REDIS_URL names ${redisHost}`).toBe(true);
    }
  });

  it('mounts every file under deploy/ into the services, from files that exist', async () => {
    const mounted = Object.values(compose.configs ?? {}).map((config) => resolve(ROOT, config.file ?? ''));
    for (const file of mounted) expect(existsSync(file), file).toBe(true);
    const shipped = (await readdir(join(ROOT, 'deploy'), { recursive: true, withFileTypes: true })).filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
    expect(shipped.map((file) => relative(ROOT, file)).sort()).toEqual(mounted.map((file) => relative(ROOT, file)).sort());
    for (const [name, svc] of Object.entries(services)) {
      for (const config of svc.configs ?? []) expect(compose.configs?.[config.source], `${name} mounts ${config.source}`).toBeDefined();
      // Every file a command names in the container is one the service is given.
      for (const word of commandWords(svc).filter((found) => found.startsWith('/usr/local/'))) expect(configFileAt(compose, svc, word), `${name} runs ${word}`).toBeDefined();
    }
  });
});

describe('docker-compose.yml profile monitoring', () => {
  const prometheus = service('prometheus');
  const grafana = service('grafana');
  /** A YAML file of this repository that `svc` sees at `target`. */
  const mounted = <T>(svc: Service, target: string): { file: string; content: T } => {
    const file = configFileAt(compose, svc, target);
    if (file === undefined) throw new Error(`nothing is mounted at ${target}`);
    return { file, content: parse(readFileSync(file, 'utf8')) as T };
  };
  const configPath = commandWords(prometheus).find((word) => word.startsWith('--config.file='))?.slice('--config.file='.length) ?? '';
  const prometheusConfig = mounted<{ rule_files: string[]; scrape_configs: { job_name: string; static_configs?: { targets: string[] }[]; dns_sd_configs?: { names: string[]; type: string; port: number }[] }[] }>(prometheus, configPath).content;

  it('documents a command that starts Prometheus and Grafana with the whole default stack', () => {
    const names = documentedCommands().find((command) => command.profile === MONITORING)?.names ?? [];
    expect(names.sort()).toEqual(servicesOf(MONITORING).map(([name]) => name).sort());
    expect([...startedBy(names)].sort()).toEqual([...names, 'api', 'migrate', 'postgres', 'redis', 'worker'].sort());
  });

  it('has Prometheus load the shipped alert rules, with their unit tests beside them', () => {
    const inContainer = (path: string): string => resolve(dirname(configPath), path);
    expect(prometheusConfig.rule_files.map((path) => configFileAt(compose, prometheus, inContainer(path)))).toEqual([join(ROOT, 'deploy/prometheus/sluice-alerts.yml')]);
    const unitTests = mounted<{ rule_files: string[] }>(prometheus, inContainer('sluice-alerts.test.yml'));
    expect(unitTests.content.rule_files.map((path) => configFileAt(compose, prometheus, inContainer(path)))).toEqual([join(ROOT, 'deploy/prometheus/sluice-alerts.yml')]);
  });

  it('has Prometheus scrape the API and every worker replica where they serve their metrics', () => {
    const job = (name: string) => prometheusConfig.scrape_configs.find((scrape) => scrape.job_name === name);
    expect(job('sluice-api')?.static_configs?.flatMap((config) => config.targets)).toEqual([`api:${environmentOf(service('api')).PORT}`]);
    // By DNS, which answers with every replica's address; a worker serves on every interface of its container.
    expect(job('sluice-worker')?.dns_sd_configs).toEqual([expect.objectContaining({ names: ['worker'], type: 'A', port: Number(environmentOf(service('worker')).METRICS_PORT) })]);
    expect(environmentOf(service('worker')).METRICS_HOST).toBe('0.0.0.0');
    expect(dependencies(prometheus)).toEqual({ api: 'service_healthy', worker: 'service_started' });
  });

  it('provisions Grafana with that Prometheus as the default data source, and the dashboard', () => {
    const { datasources } = mounted<{ datasources: { type: string; url: string; isDefault: boolean }[] }>(grafana, '/etc/grafana/provisioning/datasources/sluice.yml').content;
    const port = prometheus.ports?.map((published) => String(published).split(':').at(-1)).at(0);
    expect(datasources).toEqual([expect.objectContaining({ type: 'prometheus', url: `http://prometheus:${port}`, isDefault: true })]);
    const { providers } = mounted<{ providers: { type: string; options: { path: string } }[] }>(grafana, '/etc/grafana/provisioning/dashboards/sluice.yml').content;
    expect(providers).toHaveLength(1);
    const dashboards = (grafana.configs ?? []).filter((config) => dirname(config.target) === providers[0]?.options.path).map((config) => configFileAt(compose, grafana, config.target));
    expect(dashboards).toEqual([join(ROOT, 'deploy/grafana/sluice-dashboard.json')]);
    expect(dependencies(grafana)).toEqual({ prometheus: 'service_healthy' });
  });
});

describe('docker-compose.yml profile cluster', () => {
  it('runs six Redis Cluster nodes, each appending every write to disk before it replies, as the single node does', () => {
    const nodes = clusterNodes();
    expect(nodes).toHaveLength(6);
    const volumes = nodes.flatMap(([, svc]) => svc.volumes ?? []);
    for (const [name, svc] of nodes) {
      const settings = redisSettings(compose, svc);
      expect(svc.image, name).toBe('redis:7-alpine');
      expect(['--appendonly', redisSetting(settings, 'appendonly'), '--appendfsync', redisSetting(settings, 'appendfsync')], name).toEqual(composeRedisDurabilityArgs());
      // Its data and the file it records the cluster in, in the working directory (the image's /data), a volume of its own.
      expect(redisSetting(settings, 'dir'), name).toBeUndefined();
      expect(redisSetting(settings, 'cluster-config-file'), name).toBeDefined();
      expect(svc.volumes?.filter((volume) => volume.endsWith(':/data')), name).toHaveLength(1);
      // Clients are sent to it by its service name, which every container of the network resolves.
      expect(redisSetting(settings, 'cluster-announce-hostname'), name).toBe(name);
      expect(redisSetting(settings, 'cluster-preferred-endpoint-type'), name).toBe('hostname');
      expect(svc.healthcheck?.test, name).toBeDefined();
      expect(svc.restart, name).toBe('unless-stopped');
    }
    expect(new Set(volumes).size).toBe(volumes.length);
  });

  it('creates the cluster, three masters with a replica each, once every node is healthy', async () => {
    const init = service('redis-cluster-init');
    expect(init.restart).toBe('no');
    expect(dependencies(init)).toEqual(Object.fromEntries(clusterNodes().map(([name]) => [name, 'service_healthy'])));
    const nodes = environmentOf(init).REDIS_CLUSTER_NODES?.split(',') ?? [];
    expect(nodes.sort()).toEqual(clusterNodes().map(addressOf).sort());
    const script = configFileAt(compose, init, commandWords(init).find((word) => word.endsWith('.sh')) ?? '');
    const create = /redis-cli --cluster create (.+)$/m.exec(await readFile(script ?? '', 'utf8'))?.[1] ?? '';
    expect(create).toMatch(/--cluster-replicas 1(?: |$)/);
    expect(create).toContain('--cluster-yes');
    // Six nodes, one replica per master: three masters.
    expect(nodes.length / (1 + 1)).toBe(3);
  });

  it('points every cluster-mode service at exactly the six nodes', () => {
    for (const [name, svc] of applicationServicesOf('cluster')) {
      expect(environmentOf(svc).REDIS_CLUSTER_NODES?.split(',').sort(), name).toEqual(clusterNodes().map(addressOf).sort());
      expect(environmentOf(svc).REDIS_SENTINELS, name).toBeUndefined();
    }
  });

  it('starts the API and workers after every node is healthy, the cluster created and the schema migrated', () => {
    expect(dependencies(service('migrate-cluster'))).toEqual({ postgres: 'service_healthy' });
    for (const name of ['api-cluster', 'worker-cluster']) {
      expect(dependencies(service(name)), name).toEqual({
        ...Object.fromEntries(clusterNodes().map(([node]) => [node, 'service_healthy'])),
        'redis-cluster-init': 'service_completed_successfully',
        postgres: 'service_healthy',
        'migrate-cluster': 'service_completed_successfully',
      });
    }
  });
});

describe('docker-compose.yml profile sentinel', () => {
  it('runs a master and its replica, each appending every write to disk before it replies, as the single node does', () => {
    const nodes = sentinelDataNodes();
    expect(nodes).toHaveLength(2);
    const [[primary], [replicaName, replica]] = nodes as [[string, Service], [string, Service]];
    expect(redisSettings(compose, replica).get('replicaof')).toEqual([[primary, '6379']]);
    expect(addressOf(nodes[0] as [string, Service])).toBe(`${primary}:6379`);
    expect(dependencies(replica)).toEqual({ [primary]: 'service_healthy' });
    for (const [name, svc] of nodes) {
      const settings = redisSettings(compose, svc);
      expect(svc.image, name).toBe('redis:7-alpine');
      expect(['--appendonly', redisSetting(settings, 'appendonly'), '--appendfsync', redisSetting(settings, 'appendfsync')], name).toEqual(composeRedisDurabilityArgs());
      // The sentinels learn it, and tell clients of it, by its service name.
      expect(redisSetting(settings, 'replica-announce-ip'), name).toBe(name);
      expect(svc.volumes?.filter((volume) => volume.endsWith(':/data')), name).toHaveLength(1);
    }
    expect(replicaName).not.toBe(primary);
  });

  it('runs three sentinels that watch the master by name with a quorum of two, and are healthy once they can fail it over', () => {
    const [primary] = sentinelDataNodes()[0] as [string, Service];
    expect(sentinels()).toHaveLength(3);
    for (const [name, svc] of sentinels()) {
      const directives = (redisSettings(compose, svc).get('sentinel') ?? []).map((args) => args.join(' '));
      const monitor = directives.findIndex((directive) => directive.startsWith('monitor '));
      expect(directives[monitor], name).toBe(`monitor ${environmentOf(service('api-sentinel')).REDIS_SENTINEL_MASTER} ${primary} 6379 2`);
      // Read in order: without it first, the master's name in `monitor` fails to resolve.
      expect(directives.indexOf('resolve-hostnames yes'), name).toBeGreaterThanOrEqual(0);
      expect(directives.indexOf('resolve-hostnames yes'), name).toBeLessThan(monitor);
      expect(directives, name).toContain('announce-hostnames yes');
      expect(String(svc.healthcheck?.test), name).toContain(`ckquorum ${environmentOf(service('api-sentinel')).REDIS_SENTINEL_MASTER}`);
      expect(dependencies(svc), name).toEqual(Object.fromEntries(sentinelDataNodes().map(([node]) => [node, 'service_healthy'])));
      expect(svc.volumes?.filter((volume) => volume.endsWith(':/data')), name).toHaveLength(1);
    }
  });

  it('points every sentinel-mode service at exactly the three sentinels and the master they watch', () => {
    const addresses = sentinels().map(([name, svc]) => `${name}:${redisSetting(redisSettings(compose, svc), 'port')}`).sort();
    for (const [name, svc] of applicationServicesOf('sentinel')) {
      const env = environmentOf(svc);
      expect(env.REDIS_SENTINELS?.split(',').sort(), name).toEqual(addresses);
      expect(env.REDIS_SENTINEL_MASTER, name).toBe('sluice');
      expect(env.REDIS_CLUSTER_NODES, name).toBeUndefined();
    }
  });

  it('starts the API and workers after the master, its replica and every sentinel are healthy and the schema migrated', () => {
    expect(dependencies(service('migrate-sentinel'))).toEqual({ postgres: 'service_healthy' });
    for (const name of ['api-sentinel', 'worker-sentinel']) {
      expect(dependencies(service(name)), name).toEqual({
        ...Object.fromEntries([...sentinelDataNodes(), ...sentinels()].map(([server]) => [server, 'service_healthy'])),
        postgres: 'service_healthy',
        'migrate-sentinel': 'service_completed_successfully',
      });
    }
  });

  it('starts each server on a copy of its template made on the first start only, so what the sentinels wrote survives a restart', async () => {
    const [name, svc] = sentinels()[0] as [string, Service];
    const [shell, script, template, ...args] = commandWords(svc).map((word) => configFileAt(compose, svc, word) ?? word);
    const dir = await mkdtemp(join(tmpdir(), 'sluice-sentinel-start-'));
    try {
      // The image's entrypoint, standing in here: it prints what it would run.
      await writeFile(join(dir, 'docker-entrypoint.sh'), '#!/bin/sh\necho "$@"\n');
      await chmod(join(dir, 'docker-entrypoint.sh'), 0o755);
      const start = () => runToEnd(shell ?? '', [script ?? '', template ?? '', ...args], { cwd: dir, env: { ...process.env, PATH: `${dir}:${process.env.PATH}` } });
      const copy = join(dir, 'sentinel.conf');
      expect((await start()).trim(), name).toBe(['redis-server', copy, ...args].join(' '));
      expect(await readFile(copy, 'utf8')).toBe(await readFile(template ?? '', 'utf8'));
      await writeFile(copy, 'sentinel monitor learned-by-the-sentinel\n');
      await start();
      expect(await readFile(copy, 'utf8')).toBe('sentinel monitor learned-by-the-sentinel\n');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** Runs a program to its end and returns what it printed; fails with that output unless it exits 0. */
function runToEnd(program: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  const child = spawn(program, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolvePromise, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => (code === 0 ? resolvePromise(output) : reject(new Error(`${program} ${args.join(' ')} ended with ${signal ?? `exit code ${code}`}:\n${output}`))));
  });
}

describe('docker-compose.yml profile cluster, run on loopback', () => {
  const started: ChildProcess[] = [];
  let dir = '';

  afterAll(async () => {
    await Promise.all(started.map((child) => {
      if (child.exitCode !== null || child.signalCode !== null) return undefined;
      const exited = new Promise((resolveExit) => child.once('exit', resolveExit));
      child.kill('SIGKILL');
      return exited;
    }));
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  it('makes the shipped node commands one cluster in state ok with the init service\'s script, run again without harm', async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-compose-cluster-'));
    const ports = new Set<number>();
    while (ports.size < clusterNodes().length * 2) ports.add(await freePort());
    const [...free] = ports;
    // Service names resolve only on the compose network. `localhost` is a name as well, so the nodes still
    // announce a name, redis-cli still resolves names to introduce them, and clients still follow names.
    const local = clusterNodes().map(([name, svc], i) => ({ name, svc, port: free[2 * i] as number, bus: free[2 * i + 1] as number }));
    for (const { name, svc, port, bus } of local) {
      await mkdir(join(dir, name));
      const [program = '', ...args] = commandWords(svc).map((word) => configFileAt(compose, svc, word) ?? (word === name ? 'localhost' : word));
      // A container has its own address for port 6379 and the bus port beside it; here each node needs ports and a folder of its own.
      const child = spawn(program, [...args, '--port', String(port), '--cluster-port', String(bus), '--bind', '127.0.0.1', '--dir', join(dir, name)], { stdio: 'ignore' });
      started.push(child);
    }
    const ask = (port: number, ...command: string[]): Promise<unknown> => askRedis(port, command);
    await waitFor('every node to answer', async () => (await Promise.all(local.map(({ port }) => ask(port, 'PING')))).every((reply) => reply === 'PONG'), 10_000, 50);

    const init = service('redis-cluster-init');
    const seeds = (environmentOf(init).REDIS_CLUSTER_NODES ?? '').split(',').map((address) => {
      const node = local.find(({ name }) => address === `${name}:6379`);
      if (!node) throw new Error(`REDIS_CLUSTER_NODES names ${address}, which is no node on port 6379`);
      return `localhost:${node.port}`;
    });
    const [program = '', ...args] = commandWords(init).map((word) => configFileAt(compose, init, word) ?? word);
    const env = { ...process.env, ...environmentOf(init), REDIS_CLUSTER_NODES: seeds.join(',') };
    // The first run creates the cluster, the second finds it and introduces its nodes to each other again.
    for (let run = 0; run < 2; run++) expect(await runToEnd(program, args, { env })).toContain('every node says the cluster is ok');

    for (const { name, port } of local) expect(String(await ask(port, 'CLUSTER', 'INFO')), name).toMatch(/^cluster_state:ok\r?$/m);
    const roles = String(await ask(local[0]?.port ?? 0, 'CLUSTER', 'NODES')).trim().split('\n').map((line) => line.split(' ')[2] ?? '');
    expect(roles.filter((flags) => flags.includes('master'))).toHaveLength(3);
    expect(roles.filter((flags) => flags.includes('slave'))).toHaveLength(3);
    const slots = (await ask(local[0]?.port ?? 0, 'CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
    expect(new Set(slots.map(([, , [host]]) => host))).toEqual(new Set(['localhost']));

    // A cluster client, as Sluice's, reaches every master by the names the nodes announce.
    const client = new Cluster(seeds.map((seed) => ({ host: 'localhost', port: Number(seed.split(':')[1]) })), { clusterRetryStrategy: () => null });
    client.on('error', () => undefined);
    try {
      const keys = Array.from({ length: 30 }, (_, i) => `compose-test-${i}`);
      await Promise.all(keys.map((key) => client.set(key, key)));
      expect(await Promise.all(keys.map((key) => client.get(key)))).toEqual(keys);
      expect(client.nodes('master')).toHaveLength(3);
    } finally {
      client.disconnect();
    }
  }, 45_000);
});
