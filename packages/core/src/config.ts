import { accessSync, constants } from 'node:fs';
import { hostname } from 'node:os';
import { InvalidConfigError } from './errors.js';
import { DEFAULT_PAYLOAD_MAX_DEPTH, QUEUE_NAME_PATTERN } from './limits.js';
import { MAX_PARTITIONS } from './partitions.js';
import { DEFAULT_PRIORITY_WEIGHTS, PRIORITY_BANDS, type PriorityPolicy } from './priority.js';

/** Where Redis is and how Sluice names its keys there. */
export interface RedisConfig {
  /**
   * Connection URL. Default `redis://127.0.0.1:6379`. With a cluster or Sentinel, only its credentials,
   * database number and scheme (`rediss:` for TLS) count: the seed nodes or the sentinels say where
   * the nodes are. Env `REDIS_URL`.
   */
  url: string;
  /** PEM file of the certificate authorities a `rediss:` connection trusts, for a private CA. Env `REDIS_TLS_CA_FILE`. */
  tlsCaFile: string | undefined;
  /**
   * Seed nodes (`host:port`) of a Redis Cluster; connections learn the rest of the cluster from them
   * and follow its slots as they move. Empty (the default): not a cluster. Env `REDIS_CLUSTER_NODES`.
   */
  clusterNodes: { host: string; port: number }[];
  /**
   * Addresses the cluster announces, mapped to the ones this process reaches them at (`host:port=host:port`,
   * comma-separated), for nodes behind NAT or in containers. Env `REDIS_CLUSTER_NAT_MAP`.
   */
  clusterNatMap: Record<string, { host: string; port: number }>;
  /** Prefix of every key, so several deployments (or test runs) share one Redis. Default `sluice`. Env `REDIS_PREFIX`. */
  prefix: string;
  /**
   * Sentinels (`host:port`) that say which node is the master, which connections follow through a
   * failover. Empty (the default): REDIS_URL's node. Env `REDIS_SENTINELS` (comma-separated).
   */
  sentinels: { host: string; port: number }[];
  /** Name of the master the sentinels watch; required with `sentinels`. Env `REDIS_SENTINEL_MASTER`. */
  sentinelMaster: string | undefined;
  /** Password of the sentinels themselves, if they require one. Env `REDIS_SENTINEL_PASSWORD`. */
  sentinelPassword: string | undefined;
  /**
   * Replicas that must have a submission's jobs before it is answered (Redis WAIT); 0, the default,
   * answers once the master has them. Env `REDIS_WAIT_REPLICAS`.
   */
  waitReplicas: number;
  /** How long a submission waits for those replicas before it is answered 503 NOT_REPLICATED. Default 1000. Env `REDIS_WAIT_TIMEOUT_MS`. */
  waitTimeoutMs: number;
}

/** Where PostgreSQL is. */
export interface PostgresConfig {
  /** Connection URL. Default `postgres://postgres@127.0.0.1:5432/sluice`. Env `DATABASE_URL`. */
  url: string;
  /** Schema holding Sluice's tables. Default `public`. Env `DATABASE_SCHEMA`. */
  schema: string;
  /**
   * A read replica's URL, for the API's job lists and reads of finished jobs (the dashboard's too);
   * unset, the primary serves them. A job the replica has not caught up with is read from the
   * primary. Env `DATABASE_READ_URL`.
   */
  readUrl: string | undefined;
  /** Connections in the pool of one process. Default 5. Env `DATABASE_POOL_SIZE`. */
  poolSize: number;
  /**
   * Days a day's job history is kept once all of it is that old; it is then dropped whole, unless a
   * job created that day is unfinished (then for up to 366 days more). Default 30. Env `HISTORY_RETENTION_DAYS`.
   */
  historyRetentionDays: number;
  /**
   * Whether `jobs` keeps the GIN index that serves GET /jobs?payload= (built and dropped by the
   * history maintenance to match). It costs the recorder about 17% more PostgreSQL CPU per job (bench/RESULTS.md);
   * without it a payload search scans the history. Default true. Env `HISTORY_PAYLOAD_INDEX`.
   */
  payloadIndex: boolean;
  /** Days the per-minute and per-hour metrics rollups (GET /stats/history) are kept. Default 90. Env `METRICS_RETENTION_DAYS`. */
  metricsRetentionDays: number;
}

/** Behaviour shared by producers and workers. */
export interface QueueConfig {
  /**
   * Queues this process serves; submissions to other queues are refused. Default `["default"]`. Env
   * `QUEUES` (comma-separated; `name:N` gives a queue N partitions, so a queue name cannot end in `:`
   * and digits).
   */
  queues: string[];
  /**
   * Partitions of each queue: its jobs spread over that many streams, each under a hash tag of its
   * own, which a Redis Cluster places on its masters. Default 1. Env `QUEUE_PARTITIONS` (every queue
   * QUEUES does not give a number), 1 to 64.
   */
  partitions: Record<string, number>;
  /** How long an idempotency key maps to its first job. Default 24 h. Env `IDEMPOTENCY_TTL_MS`. */
  idempotencyTtlMs: number;
  /** How long a finished job stays readable from Redis before only PostgreSQL has it. Default 1 h. Env `JOB_RETENTION_MS`. */
  retentionMs: number;
  /**
   * How long a dead job stays in Redis, in the dead-letter stream and retryable, before only
   * PostgreSQL has it. Default 7 days. Env `DEAD_JOB_RETENTION_MS`.
   */
  deadRetentionMs: number;
  /** Most dead jobs kept in Redis per queue; the oldest go first. Default 10,000. Env `DEAD_JOBS_MAX`. */
  deadMaxJobs: number;
  /** Deepest nesting of objects and arrays a payload (or a handler's result) may have. Default 256. Env `PAYLOAD_MAX_DEPTH`. */
  payloadMaxDepth: number;
}

/** How a worker process consumes. */
export interface WorkerConfig {
  /** Jobs one worker process runs at once. Default 10. Env `CONCURRENCY`. */
  concurrency: number;
  /** Consumer name in the group; unique per process. Default `<hostname>-<pid>`. Env `WORKER_NAME`. */
  consumerName: string;
  /** How long a read blocks waiting for jobs. Default 1000 ms. Env `WORKER_BLOCK_MS`. */
  blockMs: number;
  /**
   * How long a job's worker may stay silent before another worker takes the job over. A live worker
   * heartbeats its running jobs well within it. Default 30 s. Env `VISIBILITY_TIMEOUT_MS`.
   */
  visibilityTimeoutMs: number;
  /** Deliveries of one job that ended with its worker gone before it is dead-lettered as poison. Default 5. Env `MAX_DELIVERIES`. */
  maxDeliveries: number;
  /** On SIGTERM, how long in-flight jobs get to finish. Default 30 s. Env `SHUTDOWN_TIMEOUT_MS`. */
  shutdownTimeoutMs: number;
  /**
   * A job whose type no live worker serves waits (without spending attempts) this long for one, then
   * is dead-lettered with reason `no-handler`. Default 10 minutes. Env `NO_HANDLER_TIMEOUT_MS`.
   */
  noHandlerTimeoutMs: number;
  /**
   * Handlers still running after their attempt ended (timed out, or taken over) keep their slot until
   * they return. Once this many are, the worker asks to be recycled (the stock worker process exits
   * after a graceful stop, for its supervisor to start a fresh one); 0 never. Default: CONCURRENCY.
   * Env `RECYCLE_AFTER_ABANDONED`.
   */
  recycleAfterAbandoned: number;
  /**
   * How each read orders the priority bands: `strict` (the default) reads the highest band with jobs
   * first, always; `weighted` draws the order per read, by the weights of PRIORITY_WEIGHTS, so lower
   * bands still move under a flood of higher ones (see PriorityPolicy). Env `PRIORITY_POLICY`, and
   * `PRIORITY_WEIGHTS`: one positive integer per band, highest first, default `16,8,4,2,1`.
   */
  priority: PriorityPolicy;
  /** Port of the worker's own Prometheus endpoint (`GET /metrics`); 0 (the default) serves none. Env `METRICS_PORT`. */
  metricsPort: number;
  /**
   * Interface the metrics endpoint binds. Default `127.0.0.1`: a scraper elsewhere needs it widened
   * (`0.0.0.0` in a container). Env `METRICS_HOST`.
   */
  metricsHost: string;
  /**
   * Key the metrics endpoint then requires as `Authorization: Bearer <key>`, at least 16 characters.
   * Unset (the default) serves metrics to whoever reaches `METRICS_HOST`. Env `METRICS_KEY`.
   */
  metricsKey: string | undefined;
}

/** How the HTTP producer listens. */
export interface ApiConfig {
  /** TCP port. Default 3000. Env `PORT`. */
  port: number;
  /**
   * Interface to bind. Default `127.0.0.1`; containers set `0.0.0.0`. Beyond loopback the API needs
   * `apiKeys` or `allowOpenApi` to start. Env `HOST`.
   */
  host: string;
  /** Largest request body in bytes. Default 1 MiB. Env `BODY_LIMIT`. */
  bodyLimit: number;
  /**
   * Keys that may call the API (`Authorization: Bearer <key>`), each at least 16 characters. Empty
   * (the default) leaves the API open. Env `API_KEYS` (comma-separated).
   */
  apiKeys: string[];
  /** Requests one key (or, when open, one client address) may make per minute; 0 means no limit. Default 0. Env `RATE_LIMIT_PER_MINUTE`. */
  rateLimitPerMinute: number;
  /**
   * Wrong API keys one client address may offer in a minute; past that, its requests with a key get
   * 429 until the minute is over, whatever `rateLimitPerMinute` says. Default 20. Env `AUTH_FAILURES_PER_MINUTE`.
   */
  authFailuresPerMinute: number;
  /**
   * Lets an API bound beyond loopback start without `apiKeys`, for a network boundary of the
   * operator's own to guard. Default off. Env `ALLOW_OPEN_API=1`.
   */
  allowOpenApi: boolean;
  /**
   * Origins (`scheme://host[:port]`) besides the API's own whose pages may call its state-changing
   * routes, and read its answers (CORS): a dashboard served elsewhere. Empty (the default) refuses
   * every other site. Env `ALLOWED_ORIGINS` (comma-separated).
   */
  allowedOrigins: string[];
  /**
   * Host names, each with an optional `:port`, the API answers to besides loopback names (and, when
   * bound beyond loopback, IP addresses); other `Host` headers are refused, which defeats DNS
   * rebinding. Empty by default. Env `ALLOWED_HOSTS` (comma-separated).
   */
  allowedHosts: string[];
  /**
   * Longest a client may take to send a whole request (headers and body); a connection silent both
   * ways for this long past keep-alive's 72 s is closed too. Default 30 s. Env `REQUEST_TIMEOUT_MS`.
   */
  requestTimeoutMs: number;
  /**
   * `GET /health/ready` answers 503 (degraded) once the oldest event not yet recorded in PostgreSQL
   * is older than this; 0 never. Default 60 s. Env `HISTORY_LAG_READY_MS`.
   */
  historyLagReadyMs: number;
  /**
   * Job types the API accepts even before a worker serving them has published them: a `.json` file
   * (an array of `{ name, payloadSchema, description?, retry?, timeoutMs? }`) or a JavaScript module
   * exporting `types`. Unset (the default): only types live workers publish. Env `JOB_TYPES_FILE`.
   */
  jobTypesFile: string | undefined;
  /**
   * Folder of a built dashboard (its index.html and assets), served at /dashboard/. Unset (the
   * default): the API serves the repository's apps/dashboard/dist when it runs from a checkout of
   * Sluice, and no dashboard when it was installed from the registry. Env `DASHBOARD_DIR`.
   */
  dashboardDir: string | undefined;
}

/** Logging. */
export interface LogConfig {
  /** pino level. Default `info`. Env `LOG_LEVEL`. */
  level: string;
  /** Human-readable lines instead of JSON. Default off. Env `LOG_PRETTY=1`. */
  pretty: boolean;
}

/** The whole configuration, built once at the edge and passed down. */
export interface SluiceConfig {
  redis: RedisConfig;
  postgres: PostgresConfig;
  queue: QueueConfig;
  worker: WorkerConfig;
  api: ApiConfig;
  log: LogConfig;
}

const HOUR_MS = 3_600_000;
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
/** A host name or IP address (IPv6 in brackets), with an optional port. */
const HOST_WITH_PORT = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/;

/** Defaults for this machine's local services. */
export const DEFAULTS = {
  redisUrl: 'redis://127.0.0.1:6379',
  redisPrefix: 'sluice',
  redisWaitTimeoutMs: 1000,
  databaseUrl: 'postgres://postgres@127.0.0.1:5432/sluice',
  databaseSchema: 'public',
  databasePoolSize: 5,
  historyRetentionDays: 30,
  metricsRetentionDays: 90,
  queues: ['default'],
  idempotencyTtlMs: 24 * HOUR_MS,
  retentionMs: HOUR_MS,
  deadRetentionMs: 7 * 24 * HOUR_MS,
  deadMaxJobs: 10_000,
  concurrency: 10,
  blockMs: 1000,
  visibilityTimeoutMs: 30_000,
  maxDeliveries: 5,
  shutdownTimeoutMs: 30_000,
  noHandlerTimeoutMs: 10 * 60_000,
  port: 3000,
  host: '127.0.0.1',
  bodyLimit: 1_048_576,
  authFailuresPerMinute: 20,
  requestTimeoutMs: 30_000,
  logLevel: 'info',
} as const;

/** Environment variables by name, as `process.env` holds them. */
export type Env = Record<string, string | undefined>;

/**
 * Builds the configuration from environment variables, checking every value. Throws one
 * `InvalidConfigError` listing every problem, so a person fixes them all in one go.
 */
export function loadConfig(env: Env): SluiceConfig {
  const problems: string[] = [];
  const read = new EnvReader(env, problems);
  const config: SluiceConfig = {
    redis: {
      url: read.url('REDIS_URL', DEFAULTS.redisUrl, ['redis:', 'rediss:']),
      prefix: read.matching('REDIS_PREFIX', DEFAULTS.redisPrefix, /^[A-Za-z0-9_.:-]{1,64}$/, 'letters, digits and _.:- (1-64)'),
      tlsCaFile: read.optionalString('REDIS_TLS_CA_FILE'),
      clusterNodes: read.list('REDIS_CLUSTER_NODES', [], HOST_WITH_PORT).map(hostAndPort),
      clusterNatMap: natMap(read.list('REDIS_CLUSTER_NAT_MAP', [], NAT_MAPPING), problems),
      sentinels: read.list('REDIS_SENTINELS', [], HOST_WITH_PORT).map(hostAndPort),
      sentinelMaster: read.optionalString('REDIS_SENTINEL_MASTER'),
      sentinelPassword: read.optionalString('REDIS_SENTINEL_PASSWORD'),
      waitReplicas: read.int('REDIS_WAIT_REPLICAS', 0, 0, 16),
      waitTimeoutMs: read.int('REDIS_WAIT_TIMEOUT_MS', DEFAULTS.redisWaitTimeoutMs, 10, 60_000),
    },
    postgres: {
      url: read.url('DATABASE_URL', DEFAULTS.databaseUrl, ['postgres:', 'postgresql:']),
      schema: read.matching('DATABASE_SCHEMA', DEFAULTS.databaseSchema, SCHEMA_NAME, 'a lowercase SQL identifier'),
      readUrl: read.optionalUrl('DATABASE_READ_URL', ['postgres:', 'postgresql:']),
      poolSize: read.int('DATABASE_POOL_SIZE', DEFAULTS.databasePoolSize, 1, 100),
      historyRetentionDays: read.int('HISTORY_RETENTION_DAYS', DEFAULTS.historyRetentionDays, 1, 3650),
      payloadIndex: read.oneOf('HISTORY_PAYLOAD_INDEX', 'true', ['true', 'false']) === 'true',
      metricsRetentionDays: read.int('METRICS_RETENTION_DAYS', DEFAULTS.metricsRetentionDays, 1, 3650),
    },
    queue: {
      ...queuesAndPartitions(read.list('QUEUES', DEFAULTS.queues, QUEUE_NAME_PATTERN), read.int('QUEUE_PARTITIONS', 1, 1, MAX_PARTITIONS), problems),
      idempotencyTtlMs: read.int('IDEMPOTENCY_TTL_MS', DEFAULTS.idempotencyTtlMs, 1000, 365 * 24 * HOUR_MS),
      retentionMs: read.int('JOB_RETENTION_MS', DEFAULTS.retentionMs, 1000, 365 * 24 * HOUR_MS),
      deadRetentionMs: read.int('DEAD_JOB_RETENTION_MS', DEFAULTS.deadRetentionMs, 1000, 365 * 24 * HOUR_MS),
      deadMaxJobs: read.int('DEAD_JOBS_MAX', DEFAULTS.deadMaxJobs, 1, 10_000_000),
      payloadMaxDepth: read.int('PAYLOAD_MAX_DEPTH', DEFAULT_PAYLOAD_MAX_DEPTH, 1, 10_000),
    },
    worker: {
      concurrency: read.int('CONCURRENCY', DEFAULTS.concurrency, 1, 10_000),
      consumerName: read.matching('WORKER_NAME', `${hostname()}-${process.pid}`, /^[A-Za-z0-9_.:-]{1,128}$/, 'letters, digits and _.:-'),
      blockMs: read.int('WORKER_BLOCK_MS', DEFAULTS.blockMs, 10, 60_000),
      visibilityTimeoutMs: read.int('VISIBILITY_TIMEOUT_MS', DEFAULTS.visibilityTimeoutMs, 1000, 24 * HOUR_MS),
      maxDeliveries: read.int('MAX_DELIVERIES', DEFAULTS.maxDeliveries, 1, 1000),
      shutdownTimeoutMs: read.int('SHUTDOWN_TIMEOUT_MS', DEFAULTS.shutdownTimeoutMs, 0, 24 * HOUR_MS),
      noHandlerTimeoutMs: read.int('NO_HANDLER_TIMEOUT_MS', DEFAULTS.noHandlerTimeoutMs, 1000, 30 * 24 * HOUR_MS),
      recycleAfterAbandoned: 0,
      priority: read.oneOf('PRIORITY_POLICY', 'strict', ['strict', 'weighted']) === 'weighted'
        ? { kind: 'weighted', weights: read.positiveInts('PRIORITY_WEIGHTS', DEFAULT_PRIORITY_WEIGHTS, PRIORITY_BANDS.length, 1_000_000) }
        : { kind: 'strict' },
      metricsPort: read.int('METRICS_PORT', 0, 0, 65_535),
      metricsHost: read.string('METRICS_HOST', DEFAULTS.host),
      metricsKey: read.secret('METRICS_KEY', 16),
    },
    api: {
      port: read.int('PORT', DEFAULTS.port, 0, 65_535),
      host: read.string('HOST', DEFAULTS.host),
      bodyLimit: read.int('BODY_LIMIT', DEFAULTS.bodyLimit, 1024, 100 * 1_048_576),
      apiKeys: read.secretList('API_KEYS', 16),
      rateLimitPerMinute: read.int('RATE_LIMIT_PER_MINUTE', 0, 0, 10_000_000),
      authFailuresPerMinute: read.int('AUTH_FAILURES_PER_MINUTE', DEFAULTS.authFailuresPerMinute, 1, 10_000),
      allowOpenApi: read.flag('ALLOW_OPEN_API'),
      allowedOrigins: read.origins('ALLOWED_ORIGINS'),
      allowedHosts: read.list('ALLOWED_HOSTS', [], HOST_WITH_PORT).map((host) => host.toLowerCase()),
      requestTimeoutMs: read.int('REQUEST_TIMEOUT_MS', DEFAULTS.requestTimeoutMs, 1000, 3_600_000),
      historyLagReadyMs: read.int('HISTORY_LAG_READY_MS', 60_000, 0, 7 * 24 * HOUR_MS),
      jobTypesFile: read.optionalString('JOB_TYPES_FILE'),
      dashboardDir: read.optionalString('DASHBOARD_DIR'),
    },
    log: {
      level: read.oneOf('LOG_LEVEL', DEFAULTS.logLevel, LOG_LEVELS),
      pretty: read.flag('LOG_PRETTY'),
    },
  };
  if ((config.redis.sentinels.length > 0) !== (config.redis.sentinelMaster !== undefined)) {
    problems.push('REDIS_SENTINELS and REDIS_SENTINEL_MASTER go together: the sentinels (host:port, comma-separated) and the name of the master they watch');
  }
  const portless = (addresses: { port: number }[]): boolean => addresses.some(({ port }) => port < 1 || port > 65_535);
  if (portless(config.redis.sentinels)) problems.push('REDIS_SENTINELS must give each sentinel a port from 1 to 65535 (host:port)');
  if (portless(config.redis.clusterNodes)) problems.push('REDIS_CLUSTER_NODES must give each node a port from 1 to 65535 (host:port)');
  if (portless(Object.values(config.redis.clusterNatMap)) || Object.keys(config.redis.clusterNatMap).some((announced) => portless([hostAndPort(announced)]))) {
    problems.push('REDIS_CLUSTER_NAT_MAP must give ports from 1 to 65535 (host:port=host:port)');
  }
  if (config.redis.tlsCaFile !== undefined) {
    if (new URL(config.redis.url).protocol !== 'rediss:') problems.push('REDIS_TLS_CA_FILE needs a rediss:// REDIS_URL: only a TLS connection uses it');
    else if (!readable(config.redis.tlsCaFile)) problems.push(`REDIS_TLS_CA_FILE cannot be read (got "${config.redis.tlsCaFile}")`);
  }
  if (config.redis.clusterNodes.length > 0 && config.redis.sentinels.length > 0) {
    problems.push('REDIS_CLUSTER_NODES and REDIS_SENTINELS exclude each other: a cluster fails over by itself, without sentinels');
  }
  if (config.redis.clusterNodes.length === 0 && Object.keys(config.redis.clusterNatMap).length > 0) {
    problems.push('REDIS_CLUSTER_NAT_MAP applies to a cluster only: set REDIS_CLUSTER_NODES too');
  }
  if (config.redis.clusterNodes.length > 0 && /^\/[1-9]/.test(new URL(config.redis.url).pathname)) {
    problems.push('REDIS_URL may not name a database other than 0 with REDIS_CLUSTER_NODES: a Redis Cluster has database 0 only');
  }
  if (config.worker.priority.kind === 'strict' && env.PRIORITY_WEIGHTS !== undefined) {
    problems.push('PRIORITY_WEIGHTS applies to PRIORITY_POLICY=weighted only: set both, or neither');
  }
  config.worker.recycleAfterAbandoned = read.int('RECYCLE_AFTER_ABANDONED', config.worker.concurrency, 0, 10_000);
  // A dead job retried from Redis after PostgreSQL dropped its day would have no history row to return to.
  if (config.postgres.historyRetentionDays * 24 * HOUR_MS < config.queue.deadRetentionMs) {
    problems.push(
      `HISTORY_RETENTION_DAYS (${config.postgres.historyRetentionDays} days) must cover DEAD_JOB_RETENTION_MS ` +
        `(${config.queue.deadRetentionMs} ms): a dead job can be retried from Redis for that long`,
    );
  }
  if (problems.length > 0) throw new InvalidConfigError(problems);
  return config;
}

/** QUEUES' names, and each queue's partitions (`name:N`, else `defaultCount`). */
function queuesAndPartitions(items: string[], defaultCount: number, problems: string[]): { queues: string[]; partitions: Record<string, number> } {
  const partitions: Record<string, number> = {};
  for (const item of items) {
    const match = /^(.+):(\d+)$/.exec(item);
    const name = match?.[1] ?? item;
    const count = match ? Number(match[2]) : defaultCount;
    if (count < 1 || count > MAX_PARTITIONS) problems.push(`QUEUES gives queue "${name}" ${count} partitions; a queue has 1 to ${MAX_PARTITIONS}`);
    if (name in partitions) problems.push(`QUEUES names queue "${name}" twice`);
    partitions[name] = count;
  }
  return { queues: Object.keys(partitions), partitions };
}

/** One REDIS_CLUSTER_NAT_MAP mapping: the address a node announces, `=`, the one to reach it at. */
const NAT_MAPPING = /^[^=,\s]+:\d{1,5}=[^=,\s]+:\d{1,5}$/;

/** REDIS_CLUSTER_NAT_MAP's mappings, as ioredis takes them. */
function natMap(mappings: string[], problems: string[]): Record<string, { host: string; port: number }> {
  const map: Record<string, { host: string; port: number }> = {};
  for (const mapping of mappings) {
    const [announced, reached] = mapping.split('=') as [string, string];
    if (announced in map) problems.push(`REDIS_CLUSTER_NAT_MAP maps ${announced} twice`);
    map[announced] = hostAndPort(reached);
  }
  return map;
}

/** Whether this process can read the file at `path`. */
function readable(path: string): boolean {
  try {
    accessSync(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/** `host:port` (an IPv6 host in brackets) as its parts; a missing port is 0, for the caller to refuse. */
function hostAndPort(value: string): { host: string; port: number } {
  const match = /^\[?([^\]]+?)\]?(?::(\d{1,5}))?$/.exec(value);
  return { host: match?.[1] ?? value, port: Number(match?.[2] ?? 0) };
}

/**
 * Reads typed values out of the environment, collecting a sentence per bad value into `problems`,
 * for the caller to throw as one `InvalidConfigError`. Packages with settings of their own (the
 * built-in job types) read them with it, so every setting is checked and reported alike.
 */
export class EnvReader {
  constructor(
    private readonly env: Env,
    private readonly problems: string[],
  ) {}

  private raw(name: string): string | undefined {
    const value = this.env[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  }

  string(name: string, fallback: string): string {
    return this.raw(name) ?? fallback;
  }

  optionalString(name: string): string | undefined {
    return this.raw(name);
  }

  int(name: string, fallback: number, min: number, max: number): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const parsed = Number(value);
    if (!/^-?\d+$/.test(value) || !Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
      this.problems.push(`${name} must be an integer from ${min} to ${max} (got "${value}")`);
      return fallback;
    }
    return parsed;
  }

  flag(name: string): boolean {
    const value = this.raw(name)?.toLowerCase();
    return value === '1' || value === 'true' || value === 'yes';
  }

  matching(name: string, fallback: string, pattern: RegExp, what: string): string {
    const value = this.raw(name) ?? fallback;
    if (!pattern.test(value)) this.problems.push(`${name} must be ${what} (got "${value}")`);
    return value;
  }

  oneOf(name: string, fallback: string, allowed: readonly string[]): string {
    const value = this.raw(name) ?? fallback;
    if (!allowed.includes(value)) this.problems.push(`${name} must be one of ${allowed.join(', ')} (got "${value}")`);
    return value;
  }

  /** Exactly `count` comma-separated integers from 1 to `max`. */
  positiveInts(name: string, fallback: readonly number[], count: number, max: number): number[] {
    const value = this.raw(name);
    if (value === undefined) return [...fallback];
    const items = value.split(',').map((item) => item.trim());
    if (items.length !== count || items.some((item) => !/^\d+$/.test(item) || Number(item) < 1 || Number(item) > max)) {
      this.problems.push(`${name} must be ${count} comma-separated integers from 1 to ${max} (got "${value}")`);
      return [...fallback];
    }
    return items.map(Number);
  }

  list(name: string, fallback: readonly string[], itemPattern: RegExp): string[] {
    const value = this.raw(name);
    if (value === undefined) return [...fallback];
    const items = [...new Set(value.split(',').map((item) => item.trim()).filter((item) => item !== ''))];
    const bad = items.filter((item) => !itemPattern.test(item));
    if (items.length === 0 || bad.length > 0) {
      this.problems.push(`${name} must be a comma-separated list of names matching ${itemPattern.source} (got "${value}")`);
      return [...fallback];
    }
    return items;
  }

  /** A comma-separated list of secrets; a problem names the position of a short one, never its value. */
  secretList(name: string, minLength: number): string[] {
    const value = this.raw(name);
    if (value === undefined) return [];
    const items = value.split(',').map((item) => item.trim()).filter((item) => item !== '');
    items.forEach((item, index) => {
      if (item.length < minLength) this.problems.push(`${name}: key ${index + 1} is shorter than ${minLength} characters`);
    });
    return items;
  }

  /** One secret; a problem never shows its value. */
  secret(name: string, minLength: number): string | undefined {
    const value = this.raw(name);
    if (value !== undefined && value.length < minLength) this.problems.push(`${name} is shorter than ${minLength} characters`);
    return value;
  }

  /** Web origins (`http(s)://host[:port]`, nothing after), in the form browsers send them in `Origin`. */
  origins(name: string): string[] {
    const value = this.raw(name);
    if (value === undefined) return [];
    const items = value.split(',').map((item) => item.trim()).filter((item) => item !== '');
    const origins = items.map(parseOrigin);
    const bad = items.filter((_, index) => origins[index] === undefined);
    if (bad.length > 0) {
      this.problems.push(`${name} must be a comma-separated list of origins such as https://ops.example.com:8443, with no path (got "${bad.join(', ')}")`);
      return [];
    }
    return [...new Set(origins as string[])];
  }

  url(name: string, fallback: string, protocols: readonly string[]): string {
    return this.optionalUrl(name, protocols) ?? fallback;
  }

  optionalUrl(name: string, protocols: readonly string[]): string | undefined {
    const value = this.raw(name);
    if (value === undefined) return undefined;
    if (!URL.canParse(value) || !protocols.includes(new URL(value).protocol)) {
      this.problems.push(`${name} must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')} (got "${redact(value)}")`);
      return undefined;
    }
    return value;
  }
}

/** `scheme://host[:port]` as a browser's `Origin` header spells it, or undefined for anything else. */
function parseOrigin(text: string): string | undefined {
  if (!URL.canParse(text)) return undefined;
  const url = new URL(text);
  const bare = ['http:', 'https:'].includes(url.protocol) && url.username === '' && url.password === '' && url.pathname === '/' && url.search === '' && url.hash === '';
  return bare && !/[?#]/.test(text) ? url.origin : undefined;
}

/** Hides a password in a URL-looking string before it reaches an error message. */
function redact(value: string): string {
  return value.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}
