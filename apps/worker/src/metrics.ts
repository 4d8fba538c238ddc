import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger, Worker } from '@sluice/core';
import { collectProcessMetrics, messageOf } from '@sluice/core';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/** A worker process's Prometheus metrics, fed by its worker's events. */
export function createWorkerMetrics(worker: Worker): Registry {
  const registry = new Registry();
  collectProcessMetrics(registry, 'worker');
  const labelNames = ['queue', 'type'] as const;
  const completed = new Counter({ name: 'sluice_jobs_completed_total', help: 'Attempts that completed their job.', labelNames, registers: [registry] });
  const failed = new Counter({ name: 'sluice_jobs_failed_total', help: 'Attempts that failed.', labelNames, registers: [registry] });
  const dead = new Counter({ name: 'sluice_jobs_dead_total', help: 'Jobs sent to the dead-letter stream by a failed attempt.', labelNames, registers: [registry] });
  const runTime = new Histogram({ name: 'sluice_job_run_seconds', help: 'Time one attempt took, from start to completion or failure.', labelNames, buckets: SECONDS, registers: [registry] });
  const waitTime = new Histogram({ name: 'sluice_job_wait_seconds', help: 'Time a job waited between being due and its attempt starting.', labelNames, buckets: SECONDS, registers: [registry] });

  const stale = new Counter({
    name: 'sluice_stale_transitions_total',
    help: 'Transitions refused because the attempt was no longer current: this worker stalled and another took the job over.',
    labelNames: ['queue', 'type', 'transition'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'sluice_abandoned_handlers',
    help: 'Handlers still running after their attempt timed out or was taken over; each holds a concurrency slot until it returns.',
    registers: [registry],
    collect() {
      this.set(worker.abandonedCount);
    },
  });

  worker.on('job:stale', ({ queue, type, transition }) => stale.inc({ queue, type, transition }));
  worker.on('job:started', ({ queue, type, waitMs }) => waitTime.observe({ queue, type }, waitMs / 1000));
  worker.on('job:completed', ({ queue, type, durationMs }) => {
    completed.inc({ queue, type });
    runTime.observe({ queue, type }, durationMs / 1000);
  });
  worker.on('job:failed', ({ queue, type, durationMs, next }) => {
    failed.inc({ queue, type });
    runTime.observe({ queue, type }, durationMs / 1000);
    if (next === 'dead') dead.inc({ queue, type });
  });
  return registry;
}

/** Where and to whom the metrics are served. */
export interface MetricsEndpoint {
  port: number;
  /** Interface to bind: loopback unless a scraper elsewhere needs more. */
  host: string;
  /** When set, every request must send `Authorization: Bearer <key>`. */
  key: string | undefined;
}

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

function sendJsonError(response: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify({ error: { code, message } }));
}

/** Whether `request` carries the key, compared as SHA-256 digests in constant time. */
function hasKey(request: IncomingMessage, keyDigest: Buffer): boolean {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
  return match !== null && timingSafeEqual(digest(match[1] as string), keyDigest);
}

/** Serves `registry` at GET /metrics on `endpoint`; a failure to collect is logged, never sent. */
export async function serveMetrics(registry: Registry, endpoint: MetricsEndpoint, logger: Logger): Promise<Server> {
  const keyDigest = endpoint.key === undefined ? undefined : digest(endpoint.key);
  const server = createServer((request, response) => {
    if (keyDigest && !hasKey(request, keyDigest)) {
      sendJsonError(response, 401, 'UNAUTHORIZED', 'Send METRICS_KEY in the header Authorization: Bearer <key>.', { 'www-authenticate': 'Bearer' });
      return;
    }
    if (request.method !== 'GET' || request.url !== '/metrics') {
      sendJsonError(response, 404, 'NOT_FOUND', 'Only GET /metrics is served here.');
      return;
    }
    registry.metrics().then(
      (text) => response.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (error: unknown) => {
        logger.error({ err: messageOf(error) }, 'worker metrics could not be collected');
        sendJsonError(response, 500, 'INTERNAL', 'The metrics could not be collected; the error has been logged.');
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(endpoint.port, endpoint.host, resolve);
  });
  logger.info({ host: endpoint.host, port: endpoint.port, keyed: keyDigest !== undefined }, 'worker metrics listening');
  return server;
}
