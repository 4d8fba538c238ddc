import { collectDefaultMetrics, Gauge, type Registry } from 'prom-client';

/** What a Sluice process does, as `sluice_process_info` labels it. */
export type ProcessRole = 'api' | 'worker';

/**
 * prom-client's process and Node.js metrics, less the three gauges it names `…_total`: promtool's
 * lint rejects a non-counter with that suffix, and the handle and request counts add little.
 * `sluice_process_info{role}` (always 1) tells a Sluice process's series from any other Node.js
 * process's, and an API's from a worker's, whatever the scrape configuration names its jobs: alerts and
 * dashboards join on it (`process_start_time_seconds … and on (job, instance) sluice_process_info{role="worker"}`).
 */
export function collectProcessMetrics(registry: Registry, role: ProcessRole): void {
  collectDefaultMetrics({ register: registry });
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
    registry.removeSingleMetric(name);
  }
  new Gauge({ name: 'sluice_process_info', help: 'Always 1; role says whether this process is a Sluice API or a worker.', labelNames: ['role'], registers: [registry] }).set({ role }, 1);
}
