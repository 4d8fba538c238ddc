import { messageOf } from '@sluice/core';
import { builtinJobTypes } from '@sluice/jobs';
import { createHandlers } from '@sluice/jobs/handlers';
import { runWorkerProcess } from './worker-process.js';

/** The worker process of this deployment: the job types of @sluice/jobs. */
runWorkerProcess({
  name: 'worker',
  types: builtinJobTypes,
  handlers: (config, logger) =>
    createHandlers({
      smtpUrl: config.worker.smtpUrl,
      smtpFrom: config.worker.smtpFrom,
      logger,
      webhookAllowedHosts: config.worker.webhookAllowedHosts,
      webhookTimeoutMs: config.worker.webhookTimeoutMs,
      webhookMaxInFlight: config.worker.webhookMaxInFlight,
      webhookMethods: config.worker.webhookMethods,
    }),
}).catch((error: unknown) => {
  console.error(`worker: cannot start: ${messageOf(error)}`);
  process.exit(1);
});
