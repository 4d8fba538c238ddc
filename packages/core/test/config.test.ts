import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DEFAULTS, InvalidConfigError, loadConfig } from '@sluice/core';

/** A file every checkout has, standing in for a CA bundle. */
const READABLE_FILE = fileURLToPath(new URL('../../../package.json', import.meta.url));

/** Every problem loadConfig lists for `env`, one per line; empty when it takes it. */
function problemsOf(env: Record<string, string>): string {
  try {
    loadConfig(env);
    return '';
  } catch (error) {
    return (error as InvalidConfigError).problems.join('\n');
  }
}

describe('loadConfig', () => {
  it('falls back to the defaults for this machine when nothing is set', () => {
    const config = loadConfig({});
    expect(config.redis).toEqual({
      url: DEFAULTS.redisUrl, prefix: 'sluice', tlsCaFile: undefined, clusterNodes: [], clusterNatMap: {}, sentinels: [], sentinelMaster: undefined, sentinelPassword: undefined,
      waitReplicas: 0, waitTimeoutMs: 1000,
    });
    expect(config.postgres).toEqual({ url: DEFAULTS.databaseUrl, schema: 'public', readUrl: undefined, poolSize: 5, historyRetentionDays: 30, payloadIndex: true, metricsRetentionDays: 90 });
    expect(config.queue).toEqual({
      queues: ['default'], partitions: { default: 1 }, idempotencyTtlMs: 86_400_000, retentionMs: 3_600_000, deadRetentionMs: 604_800_000, deadMaxJobs: 10_000, payloadMaxDepth: 256,
    });
    expect(config.worker).toMatchObject({
      concurrency: 10, blockMs: 1000, visibilityTimeoutMs: 30_000, maxDeliveries: 5, shutdownTimeoutMs: 30_000, noHandlerTimeoutMs: 600_000, recycleAfterAbandoned: 10,
      priority: { kind: 'strict' }, metricsPort: 0, metricsHost: '127.0.0.1', metricsKey: undefined,
    });
    expect(config.api).toEqual({
      port: 3000, host: '127.0.0.1', bodyLimit: 1_048_576, apiKeys: [], rateLimitPerMinute: 0, authFailuresPerMinute: 20, allowOpenApi: false,
      allowedOrigins: [], allowedHosts: [], requestTimeoutMs: 30_000, historyLagReadyMs: 60_000, jobTypesFile: undefined, dashboardDir: undefined,
    });
  });

  it('reads every variable it documents', () => {
    const config = loadConfig({
      REDIS_URL: 'rediss://cache:6380/2', REDIS_PREFIX: 'acme', REDIS_TLS_CA_FILE: READABLE_FILE, REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT_MS: '250', REDIS_SENTINELS: 'sentinel-1:26379, [fd00::5]:26380', REDIS_SENTINEL_MASTER: 'jobs',
      REDIS_SENTINEL_PASSWORD: 's3ntinel', DATABASE_URL: 'postgresql://u:p@db/acme', DATABASE_SCHEMA: 'jobs_v1', DATABASE_READ_URL: 'postgres://u:p@db-replica/acme',
      DATABASE_POOL_SIZE: '9', HISTORY_RETENTION_DAYS: '90', HISTORY_PAYLOAD_INDEX: 'false', METRICS_RETENTION_DAYS: '400', QUEUES: 'emails:4, reports ,emails:4', QUEUE_PARTITIONS: '2', IDEMPOTENCY_TTL_MS: '60000', JOB_RETENTION_MS: '5000',
      DEAD_JOB_RETENTION_MS: '86400000', DEAD_JOBS_MAX: '500', PAYLOAD_MAX_DEPTH: '64', RECYCLE_AFTER_ABANDONED: '4',
      CONCURRENCY: '32', WORKER_NAME: 'w-1', WORKER_BLOCK_MS: '250', VISIBILITY_TIMEOUT_MS: '5000', MAX_DELIVERIES: '3', SHUTDOWN_TIMEOUT_MS: '0', NO_HANDLER_TIMEOUT_MS: '90000', PRIORITY_POLICY: 'weighted', PRIORITY_WEIGHTS: '5,4,3,2,1', METRICS_PORT: '9464', METRICS_HOST: '0.0.0.0', METRICS_KEY: 'm-0123456789abcdef',
      PORT: '8080', HOST: '0.0.0.0', BODY_LIMIT: '2048', API_KEYS: 'k-0123456789abcdef', RATE_LIMIT_PER_MINUTE: '600',
      AUTH_FAILURES_PER_MINUTE: '5', ALLOW_OPEN_API: '1', ALLOWED_ORIGINS: 'https://Ops.Example.com:443/, http://localhost:5173', ALLOWED_HOSTS: 'Sluice.internal,api.example.com:8443,[fd00::2]',
      REQUEST_TIMEOUT_MS: '5000', HISTORY_LAG_READY_MS: '0', JOB_TYPES_FILE: '/etc/sluice/types.json', DASHBOARD_DIR: '/srv/sluice-dashboard', LOG_LEVEL: 'debug', LOG_PRETTY: 'true',
    });
    expect(config).toEqual({
      redis: {
        url: 'rediss://cache:6380/2', prefix: 'acme', tlsCaFile: READABLE_FILE, clusterNodes: [], clusterNatMap: {}, sentinels: [{ host: 'sentinel-1', port: 26379 }, { host: 'fd00::5', port: 26380 }], sentinelMaster: 'jobs',
        sentinelPassword: 's3ntinel', waitReplicas: 1, waitTimeoutMs: 250,
      },
      postgres: { url: 'postgresql://u:p@db/acme', schema: 'jobs_v1', readUrl: 'postgres://u:p@db-replica/acme', poolSize: 9, historyRetentionDays: 90, payloadIndex: false, metricsRetentionDays: 400 },
      queue: { queues: ['emails', 'reports'], partitions: { emails: 4, reports: 2 }, idempotencyTtlMs: 60_000, retentionMs: 5000, deadRetentionMs: 86_400_000, deadMaxJobs: 500, payloadMaxDepth: 64 },
      worker: { concurrency: 32, consumerName: 'w-1', blockMs: 250, visibilityTimeoutMs: 5000, maxDeliveries: 3, shutdownTimeoutMs: 0, noHandlerTimeoutMs: 90_000, recycleAfterAbandoned: 4, priority: { kind: 'weighted', weights: [5, 4, 3, 2, 1] }, metricsPort: 9464, metricsHost: '0.0.0.0', metricsKey: 'm-0123456789abcdef' },
      api: {
        port: 8080, host: '0.0.0.0', bodyLimit: 2048, apiKeys: ['k-0123456789abcdef'], rateLimitPerMinute: 600, authFailuresPerMinute: 5, allowOpenApi: true,
        allowedOrigins: ['https://ops.example.com', 'http://localhost:5173'], allowedHosts: ['sluice.internal', 'api.example.com:8443', '[fd00::2]'],
        requestTimeoutMs: 5000, historyLagReadyMs: 0, jobTypesFile: '/etc/sluice/types.json', dashboardDir: '/srv/sluice-dashboard',
      },
      log: { level: 'debug', pretty: true },
    });
  });

  it('refuses a history kept for less time than dead jobs stay retryable', () => {
    expect(() => loadConfig({ HISTORY_RETENTION_DAYS: '3' })).toThrow(/HISTORY_RETENTION_DAYS \(3 days\) must cover DEAD_JOB_RETENTION_MS/);
    expect(loadConfig({ HISTORY_RETENTION_DAYS: '3', DEAD_JOB_RETENTION_MS: '86400000' }).postgres.historyRetentionDays).toBe(3);
  });

  it('lists every bad value in one error, and never echoes a password', () => {
    let error: unknown;
    try {
      loadConfig({ CONCURRENCY: '0', PORT: 'eighty', QUEUES: 'ok,not ok', DATABASE_URL: 'mysql://root:hunter2@db/x', LOG_LEVEL: 'loud', HISTORY_RETENTION_DAYS: '0' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(InvalidConfigError);
    const problems = (error as InvalidConfigError).problems;
    expect(problems).toHaveLength(6);
    expect(problems.join('\n')).toContain('CONCURRENCY must be an integer from 1 to 10000 (got "0")');
    expect(problems.join('\n')).toContain('PORT must be an integer');
    expect(problems.join('\n')).toContain('QUEUES must be a comma-separated list');
    expect(problems.join('\n')).toContain('LOG_LEVEL must be one of');
    expect(problems.join('\n')).toContain('HISTORY_RETENTION_DAYS must be an integer from 1 to 3650 (got "0")');
    expect((error as Error).message).toContain('DATABASE_URL must be a URL starting with postgres:// or postgresql://');
    expect((error as Error).message).not.toContain('hunter2');
  });

  it('takes REDIS_SENTINELS and REDIS_SENTINEL_MASTER together only, each sentinel with its port', () => {
    expect(problemsOf({ REDIS_SENTINELS: '127.0.0.1:26379' })).toContain('REDIS_SENTINELS and REDIS_SENTINEL_MASTER go together');
    expect(problemsOf({ REDIS_SENTINEL_MASTER: 'jobs' })).toContain('REDIS_SENTINELS and REDIS_SENTINEL_MASTER go together');
    expect(problemsOf({ REDIS_SENTINELS: 'sentinel-1', REDIS_SENTINEL_MASTER: 'jobs' })).toContain('REDIS_SENTINELS must give each sentinel a port');
    expect(problemsOf({ REDIS_SENTINELS: 'a:1,b:2', REDIS_SENTINEL_MASTER: 'jobs' })).toBe('');
  });

  it('reads a cluster\'s seed nodes and NAT map, and refuses them with sentinels, a database other than 0 or a node without a port', () => {
    const config = loadConfig({
      REDIS_URL: 'rediss://app:pw@ignored:6379', REDIS_CLUSTER_NODES: 'redis-1:7000, [fd00::7]:7001',
      REDIS_CLUSTER_NAT_MAP: '10.0.0.5:7000=127.0.0.1:17000,10.0.0.6:7001=redis-2.example:17001',
    });
    expect(config.redis.clusterNodes).toEqual([{ host: 'redis-1', port: 7000 }, { host: 'fd00::7', port: 7001 }]);
    expect(config.redis.clusterNatMap).toEqual({ '10.0.0.5:7000': { host: '127.0.0.1', port: 17000 }, '10.0.0.6:7001': { host: 'redis-2.example', port: 17001 } });
    expect(problemsOf({ REDIS_CLUSTER_NODES: 'a:1', REDIS_SENTINELS: 'b:2', REDIS_SENTINEL_MASTER: 'jobs' })).toContain('REDIS_CLUSTER_NODES and REDIS_SENTINELS exclude each other');
    expect(problemsOf({ REDIS_CLUSTER_NODES: 'a:1', REDIS_URL: 'redis://h:6379/3' })).toContain('database other than 0');
    expect(problemsOf({ REDIS_CLUSTER_NODES: 'a' })).toContain('REDIS_CLUSTER_NODES must give each node a port');
    expect(problemsOf({ REDIS_CLUSTER_NODES: 'a:1', REDIS_CLUSTER_NAT_MAP: '10.0.0.5:7000' })).toContain('REDIS_CLUSTER_NAT_MAP must be');
    expect(problemsOf({ REDIS_CLUSTER_NAT_MAP: '10.0.0.5:7000=127.0.0.1:1' })).toContain('REDIS_CLUSTER_NAT_MAP applies to a cluster only');
    expect(problemsOf({ REDIS_CLUSTER_NODES: '127.0.0.1:99999' })).toContain('REDIS_CLUSTER_NODES must give each node a port from 1 to 65535');
    expect(problemsOf({ REDIS_CLUSTER_NODES: 'a:1', REDIS_CLUSTER_NAT_MAP: 'a:99999=b:1' })).toContain('REDIS_CLUSTER_NAT_MAP must give ports from 1 to 65535');
    expect(problemsOf({ REDIS_SENTINELS: 's:0', REDIS_SENTINEL_MASTER: 'jobs' })).toContain('REDIS_SENTINELS must give each sentinel a port from 1 to 65535');
  });

  it('gives each queue its partitions, from QUEUES (name:N) or QUEUE_PARTITIONS, 1 to 64, and refuses a queue named twice', () => {
    expect(loadConfig({ QUEUES: 'default:8,emails,a:b:3' }).queue.partitions).toEqual({ default: 8, emails: 1, 'a:b': 3 });
    expect(loadConfig({ QUEUES: 'default:8,emails', QUEUE_PARTITIONS: '6' }).queue).toMatchObject({ queues: ['default', 'emails'], partitions: { default: 8, emails: 6 } });
    expect(problemsOf({ QUEUES: 'default:0' })).toContain('QUEUES gives queue "default" 0 partitions; a queue has 1 to 64');
    expect(problemsOf({ QUEUES: 'default:65' })).toContain('a queue has 1 to 64');
    expect(problemsOf({ QUEUES: 'default:2,default:3' })).toContain('QUEUES names queue "default" twice');
    expect(problemsOf({ QUEUE_PARTITIONS: '65' })).toContain('QUEUE_PARTITIONS must be an integer from 1 to 64');
  });

  it('takes HISTORY_PAYLOAD_INDEX true or false, and METRICS_RETENTION_DAYS from 1 to 3650', () => {
    expect(problemsOf({ HISTORY_PAYLOAD_INDEX: 'no' })).toContain('HISTORY_PAYLOAD_INDEX must be one of true, false (got "no")');
    expect(problemsOf({ METRICS_RETENTION_DAYS: '0' })).toContain('METRICS_RETENTION_DAYS must be an integer from 1 to 3650');
  });

  it('takes PRIORITY_POLICY strict or weighted, and PRIORITY_WEIGHTS as one positive integer per band with weighted only', () => {
    expect(loadConfig({ PRIORITY_POLICY: 'weighted' }).worker.priority).toEqual({ kind: 'weighted', weights: [16, 8, 4, 2, 1] });
    expect(problemsOf({ PRIORITY_POLICY: 'fair' })).toContain('PRIORITY_POLICY must be one of strict, weighted (got "fair")');
    expect(problemsOf({ PRIORITY_POLICY: 'weighted', PRIORITY_WEIGHTS: '3,2,1' })).toContain('PRIORITY_WEIGHTS must be 5 comma-separated integers from 1 to 1000000 (got "3,2,1")');
    expect(problemsOf({ PRIORITY_POLICY: 'weighted', PRIORITY_WEIGHTS: '3,2,1,0,1' })).toContain('PRIORITY_WEIGHTS must be 5 comma-separated integers');
    expect(problemsOf({ PRIORITY_POLICY: 'weighted', PRIORITY_WEIGHTS: '3,2,1,1.5,1' })).toContain('PRIORITY_WEIGHTS must be 5 comma-separated integers');
    expect(problemsOf({ PRIORITY_WEIGHTS: '5,4,3,2,1' })).toContain('PRIORITY_WEIGHTS applies to PRIORITY_POLICY=weighted only');
  });

  it('takes REDIS_TLS_CA_FILE only for a rediss:// URL, and only a file it can read', () => {
    expect(problemsOf({ REDIS_URL: 'redis://h:6379', REDIS_TLS_CA_FILE: READABLE_FILE })).toContain('REDIS_TLS_CA_FILE needs a rediss:// REDIS_URL');
    expect(problemsOf({ REDIS_URL: 'rediss://h:6379', REDIS_TLS_CA_FILE: '/nonexistent/ca.pem' })).toContain('REDIS_TLS_CA_FILE cannot be read (got "/nonexistent/ca.pem")');
    expect(problemsOf({ REDIS_URL: 'rediss://h:6379', REDIS_TLS_CA_FILE: READABLE_FILE })).toBe('');
  });

  it('refuses origins with a path, hosts that are not names, and short or zero security values, never echoing a key', () => {
    let error: unknown;
    try {
      loadConfig({
        ALLOWED_ORIGINS: 'https://ok.example, https://ops.example/dashboard, ftp://files.example, *', ALLOWED_HOSTS: 'api.example.com/path',
        METRICS_KEY: 'short-secret', AUTH_FAILURES_PER_MINUTE: '0', REQUEST_TIMEOUT_MS: '10',
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(InvalidConfigError);
    const problems = (error as InvalidConfigError).problems.join('\n');
    expect(problems).toContain('ALLOWED_ORIGINS must be a comma-separated list of origins such as https://ops.example.com:8443, with no path (got "https://ops.example/dashboard, ftp://files.example, *")');
    expect(problems).toContain('ALLOWED_HOSTS must be a comma-separated list');
    expect(problems).toContain('METRICS_KEY is shorter than 16 characters');
    expect(problems).toContain('AUTH_FAILURES_PER_MINUTE must be an integer from 1 to 10000 (got "0")');
    expect(problems).toContain('REQUEST_TIMEOUT_MS must be an integer from 1000 to 3600000 (got "10")');
    expect(problems).not.toContain('short-secret');
  });
});
