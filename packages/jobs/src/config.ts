import { EnvReader, InvalidConfigError, type Env } from '@sluice/core';

/** Settings of the built-in job types, for the worker processes that run them. */
export interface BuiltinJobsConfig {
  /** SMTP server for the `email` type; unset means emails are logged, not sent. Env `SMTP_URL`. */
  smtpUrl: string | undefined;
  /** Sender of `email` jobs. Default `Sluice <sluice@localhost>`. Env `SMTP_FROM`. */
  smtpFrom: string;
  /**
   * Where `webhook` jobs may send requests: host names and CIDR ranges. Empty (the default) allows
   * public addresses only; listed names and ranges are allowed besides (loopback, private networks…),
   * but never link-local ones. Env `WEBHOOK_ALLOWED_HOSTS` (comma-separated).
   */
  webhookAllowedHosts: string[];
  /** Longest a `webhook` request may take, connection to last byte. Default 10 s. Env `WEBHOOK_TIMEOUT_MS`. */
  webhookTimeoutMs: number;
  /** Most `webhook` requests one worker process has in flight at once. Default 16. Env `WEBHOOK_MAX_IN_FLIGHT`. */
  webhookMaxInFlight: number;
  /** Methods `webhook` jobs may use. Default GET, POST, PUT, PATCH, DELETE. Env `WEBHOOK_METHODS` (comma-separated). */
  webhookMethods: string[];
}

/** Defaults of the built-in job types' settings. */
export const BUILTIN_JOBS_DEFAULTS = {
  smtpFrom: 'Sluice <sluice@localhost>',
  webhookTimeoutMs: 10_000,
  webhookMaxInFlight: 16,
  /** Every method the `webhook` type knows. */
  webhookMethods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
} as const;

/**
 * Builds the built-in job types' settings from environment variables, checking every value. Throws
 * one `InvalidConfigError` listing every problem, as `loadConfig` does for Sluice's own.
 */
export function loadBuiltinJobsConfig(env: Env): BuiltinJobsConfig {
  const problems: string[] = [];
  const read = new EnvReader(env, problems);
  const config: BuiltinJobsConfig = {
    smtpUrl: read.optionalUrl('SMTP_URL', ['smtp:', 'smtps:']),
    smtpFrom: read.string('SMTP_FROM', BUILTIN_JOBS_DEFAULTS.smtpFrom),
    webhookAllowedHosts: read.list('WEBHOOK_ALLOWED_HOSTS', [], /^[A-Za-z0-9.:-]+(\/\d{1,3})?$/),
    webhookTimeoutMs: read.int('WEBHOOK_TIMEOUT_MS', BUILTIN_JOBS_DEFAULTS.webhookTimeoutMs, 100, 3_600_000),
    webhookMaxInFlight: read.int('WEBHOOK_MAX_IN_FLIGHT', BUILTIN_JOBS_DEFAULTS.webhookMaxInFlight, 1, 10_000),
    webhookMethods: read.list('WEBHOOK_METHODS', BUILTIN_JOBS_DEFAULTS.webhookMethods, /^(GET|POST|PUT|PATCH|DELETE)$/),
  };
  if (problems.length > 0) throw new InvalidConfigError(problems);
  return config;
}
