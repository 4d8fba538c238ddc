import { PermanentJobError, type JobHandler, type Logger, type PayloadOf } from '@sluice/core';
import { BUILTIN_JOBS_DEFAULTS } from '../config.js';
import type { fail, sleep } from '../definitions.js';
import { createMailTransport, emailHandler } from './email.js';
import { webhookHandler } from './webhook.js';

export { createMailTransport, emailHandler, type MailerOptions } from './email.js';
export { webhookHandler, type WebhookOptions } from './webhook.js';
export { OutboundPolicy, RefusedTargetError } from './outbound-policy.js';

/** What the built-in handlers need from their process: their settings (see `loadBuiltinJobsConfig`) and a logger. */
export interface HandlerServices {
  smtpUrl: string | undefined;
  smtpFrom: string;
  logger: Logger;
  /** Host names and CIDR ranges webhooks may call besides public addresses (see OutboundPolicy). Default none. */
  webhookAllowedHosts?: readonly string[];
  /** Default 10 s. */
  webhookTimeoutMs?: number;
  /** Most webhook requests in flight at once in the process. Default 16. */
  webhookMaxInFlight?: number;
  /** Methods webhook jobs may use. Default all five the type allows. */
  webhookMethods?: readonly string[];
}

/** Waits `ms`, ending early (and failing) if the attempt is aborted. */
export const sleepHandler: JobHandler<PayloadOf<typeof sleep>> = ({ payload, signal }) =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(() => resolve({ slept: payload.ms }), payload.ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });

/** Fails its first `times` attempts (all when omitted), permanently when asked to. */
export const failHandler: JobHandler<PayloadOf<typeof fail>> = ({ payload, attempt }) => {
  const message = payload.message ?? `failing on purpose (attempt ${attempt})`;
  if (payload.permanent) throw new PermanentJobError(message);
  if (payload.times === undefined || attempt <= payload.times) throw new Error(message);
  return { succeededOnAttempt: attempt };
};

/** A handler for every built-in type. Add your own types' handlers here. */
export function createHandlers(services: HandlerServices): Record<string, JobHandler<never>> {
  const mailer = { smtpUrl: services.smtpUrl, from: services.smtpFrom, logger: services.logger };
  return {
    email: emailHandler(createMailTransport(mailer), mailer),
    webhook: webhookHandler({
      allowedHosts: services.webhookAllowedHosts ?? [],
      timeoutMs: services.webhookTimeoutMs ?? BUILTIN_JOBS_DEFAULTS.webhookTimeoutMs,
      maxInFlight: services.webhookMaxInFlight,
      methods: services.webhookMethods,
    }),
    noop: () => undefined,
    sleep: sleepHandler,
    fail: failHandler,
  };
}
