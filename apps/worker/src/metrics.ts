import { createServer, type Server } from 'node:http';
import type { Logger, Worker } from '@sluice/core';
import { collectProcessMetrics } from '@sluice/core';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/** A worker process's Prometheus metrics, fed by its worker's events. */
export function createWorkerMetrics(worker: Worker): Registry {
  const registry = new Registry();
  collectProcessMetrics(registry);
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

/** Serves `registry` at GET /metrics on `port` (all interfaces, for the scraper). */
export async function serveMetrics(registry: Registry, port: number, logger: Logger): Promise<Server> {
  const server = createServer((request, response) => {
    if (request.method !== 'GET' || request.url !== '/metrics') {
      response.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'NOT_FOUND', message: 'Only GET /metrics is served here.' } }));
      return;
    }
    registry.metrics().then(
      (text) => response.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (error: unknown) => response.writeHead(500, { 'content-type': 'text/plain' }).end(String(error)),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, resolve);
  });
  logger.info({ port }, 'worker metrics listening');
  return server;
}
