import { describe, expect, it } from 'vitest';
import { DEFAULTS, InvalidConfigError, loadConfig } from '@sluice/core';

describe('loadConfig', () => {
  it('falls back to the defaults for this machine when nothing is set', () => {
    const config = loadConfig({});
    expect(config.redis).toEqual({ url: DEFAULTS.redisUrl, prefix: 'sluice' });
    expect(config.postgres).toEqual({ url: DEFAULTS.databaseUrl, schema: 'public', poolSize: 5, historyRetentionDays: 30 });
    expect(config.queue).toEqual({
      queues: ['default'], idempotencyTtlMs: 86_400_000, retentionMs: 3_600_000, deadRetentionMs: 604_800_000, deadMaxJobs: 10_000,
    });
    expect(config.worker).toMatchObject({
      concurrency: 10, blockMs: 1000, visibilityTimeoutMs: 30_000, maxDeliveries: 5, shutdownTimeoutMs: 30_000, recycleAfterAbandoned: 10, smtpUrl: undefined,
    });
    expect(config.api).toEqual({ port: 3000, host: '127.0.0.1', bodyLimit: 1_048_576, apiKeys: [], rateLimitPerMinute: 0, historyLagReadyMs: 60_000 });
  });

  it('reads every variable it documents', () => {
    const config = loadConfig({
      REDIS_URL: 'redis://cache:6380/2', REDIS_PREFIX: 'acme', DATABASE_URL: 'postgresql://u:p@db/acme', DATABASE_SCHEMA: 'jobs_v1',
      DATABASE_POOL_SIZE: '9', HISTORY_RETENTION_DAYS: '90', QUEUES: 'emails, reports ,emails', IDEMPOTENCY_TTL_MS: '60000', JOB_RETENTION_MS: '5000',
      DEAD_JOB_RETENTION_MS: '86400000', DEAD_JOBS_MAX: '500', RECYCLE_AFTER_ABANDONED: '4',
      CONCURRENCY: '32', WORKER_NAME: 'w-1', WORKER_BLOCK_MS: '250', VISIBILITY_TIMEOUT_MS: '5000', MAX_DELIVERIES: '3', SHUTDOWN_TIMEOUT_MS: '0', METRICS_PORT: '9464', SMTP_URL: 'smtp://mail:25',
      SMTP_FROM: 'ops@acme.test', WEBHOOK_ALLOWED_HOSTS: 'hooks.acme.test,10.0.0.0/8', WEBHOOK_TIMEOUT_MS: '5000', PORT: '8080', HOST: '0.0.0.0', BODY_LIMIT: '2048', API_KEYS: 'k-0123456789abcdef', RATE_LIMIT_PER_MINUTE: '600', HISTORY_LAG_READY_MS: '0', LOG_LEVEL: 'debug', LOG_PRETTY: 'true',
    });
    expect(config).toEqual({
      redis: { url: 'redis://cache:6380/2', prefix: 'acme' },
      postgres: { url: 'postgresql://u:p@db/acme', schema: 'jobs_v1', poolSize: 9, historyRetentionDays: 90 },
      queue: { queues: ['emails', 'reports'], idempotencyTtlMs: 60_000, retentionMs: 5000, deadRetentionMs: 86_400_000, deadMaxJobs: 500 },
      worker: { concurrency: 32, consumerName: 'w-1', blockMs: 250, visibilityTimeoutMs: 5000, maxDeliveries: 3, shutdownTimeoutMs: 0, recycleAfterAbandoned: 4, metricsPort: 9464, smtpUrl: 'smtp://mail:25', smtpFrom: 'ops@acme.test', webhookAllowedHosts: ['hooks.acme.test', '10.0.0.0/8'], webhookTimeoutMs: 5000 },
      api: { port: 8080, host: '0.0.0.0', bodyLimit: 2048, apiKeys: ['k-0123456789abcdef'], rateLimitPerMinute: 600, historyLagReadyMs: 0 },
      log: { level: 'debug', pretty: true },
    });
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
});
