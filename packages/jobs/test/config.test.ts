import { describe, expect, it } from 'vitest';
import { InvalidConfigError } from '@sluice/core';
import { BUILTIN_JOBS_DEFAULTS, loadBuiltinJobsConfig } from '@sluice/jobs';

describe('loadBuiltinJobsConfig', () => {
  it('falls back to the defaults when nothing is set', () => {
    expect(loadBuiltinJobsConfig({})).toEqual({
      smtpUrl: undefined,
      smtpFrom: BUILTIN_JOBS_DEFAULTS.smtpFrom,
      webhookAllowedHosts: [],
      webhookTimeoutMs: 10_000,
      webhookMaxInFlight: 16,
      webhookMethods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
    });
  });

  it('reads every variable it documents', () => {
    const config = loadBuiltinJobsConfig({
      SMTP_URL: 'smtp://mail:25', SMTP_FROM: 'ops@acme.test', WEBHOOK_ALLOWED_HOSTS: 'hooks.acme.test,10.0.0.0/8', WEBHOOK_TIMEOUT_MS: '5000',
      WEBHOOK_MAX_IN_FLIGHT: '4', WEBHOOK_METHODS: 'POST,PUT',
    });
    expect(config).toEqual({
      smtpUrl: 'smtp://mail:25', smtpFrom: 'ops@acme.test', webhookAllowedHosts: ['hooks.acme.test', '10.0.0.0/8'], webhookTimeoutMs: 5000,
      webhookMaxInFlight: 4, webhookMethods: ['POST', 'PUT'],
    });
  });

  it('lists every bad value in one error, and never echoes a password', () => {
    let error: unknown;
    try {
      loadBuiltinJobsConfig({
        SMTP_URL: 'http://user:hunter2@mail', WEBHOOK_ALLOWED_HOSTS: 'hooks.acme.test/path', WEBHOOK_TIMEOUT_MS: '10', WEBHOOK_MAX_IN_FLIGHT: 'many',
        WEBHOOK_METHODS: 'POST,TRACE',
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(InvalidConfigError);
    expect((error as InvalidConfigError).problems).toEqual([
      'SMTP_URL must be a URL starting with smtp:// or smtps:// (got "http://user:***@mail")',
      'WEBHOOK_ALLOWED_HOSTS must be a comma-separated list of names matching ^[A-Za-z0-9.:-]+(\\/\\d{1,3})?$ (got "hooks.acme.test/path")',
      'WEBHOOK_TIMEOUT_MS must be an integer from 100 to 3600000 (got "10")',
      'WEBHOOK_MAX_IN_FLIGHT must be an integer from 1 to 10000 (got "many")',
      'WEBHOOK_METHODS must be a comma-separated list of names matching ^(GET|POST|PUT|PATCH|DELETE)$ (got "POST,TRACE")',
    ]);
    expect((error as Error).message).not.toContain('hunter2');
  });
});
