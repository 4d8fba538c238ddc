import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Worker } from '@sluice/core';
import { createJobRegistry } from '@sluice/jobs';
import { createHandlers } from '@sluice/jobs/handlers';
import { createWorkerMetrics } from '../../worker/src/metrics';
import { isolatedConfig, waitFor } from '../../../test/support/context';
import { promtoolProblems } from '../../../test/support/promtool';
import { startApp, type AppFixture } from './fixture';

const config = isolatedConfig('api-metrics');
const silent = { debug() {}, info() {}, warn() {}, error() {} };
let fixture: AppFixture;
let worker: Worker;

beforeAll(async () => {
  fixture = await startApp(config);
  worker = new Worker({
    redis: config.redis, queue: config.queue, worker: config.worker, registry: createJobRegistry(),
    handlers: createHandlers({ smtpUrl: undefined, smtpFrom: 'x@y.z', logger: silent }),
  });
});
afterAll(async () => {
  await worker?.close(1000);
  await fixture?.close();
});

const value = (text: string, series: string): number => {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? Number.NaN : Number(line.slice(series.length + 1));
};

describe('Prometheus metrics', () => {
  it('the API counts what it enqueued and reports queue gauges, process metrics and its role, in a format promtool accepts', async () => {
    for (let i = 0; i < 3; i += 1) await fixture.app.inject({ method: 'POST', url: '/jobs', payload: { type: 'noop', payload: {} } });
    await fixture.app.inject({ method: 'POST', url: '/jobs', payload: { type: 'sleep', payload: { ms: 1 }, delay: 60_000 } });
    const response = await fixture.app.inject({ method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toContain('text/plain');
    const text = response.body;
    expect(value(text, 'sluice_jobs_enqueued_total{queue="default",type="noop"}')).toBe(3);
    expect(value(text, 'sluice_queue_depth{queue="default"}')).toBe(3);
    expect(value(text, 'sluice_queue_delayed{queue="default"}')).toBe(1);
    expect(value(text, 'sluice_queue_processing{queue="default"}')).toBe(0);
    expect(value(text, 'sluice_queue_dlq_size{queue="default"}')).toBe(0);
    expect(value(text, 'sluice_queue_scrape_success')).toBe(1);
    expect(text).toContain('process_cpu_seconds_total');
    expect(value(text, 'sluice_process_info{role="api"}')).toBe(1);
    expect(value(text, 'process_start_time_seconds')).toBeGreaterThan(0);
    expect(promtoolProblems(text)).toEqual([]);
  });

  it('the API says which queues are paused, so that an alert on latency can leave them out', async () => {
    const paused = async () => value((await fixture.app.inject({ method: 'GET', url: '/metrics' })).body, 'sluice_queue_paused{queue="default"}');
    expect(await paused()).toBe(0);
    await fixture.app.inject({ method: 'POST', url: '/queues/default/pause' });
    try {
      expect(await paused()).toBe(1);
    } finally {
      await fixture.app.inject({ method: 'POST', url: '/queues/default/resume' });
    }
    expect(await paused()).toBe(0);
  });

  it('a worker counts completed, failed and dead jobs per queue and type, with run and wait time histograms, and reports its role', async () => {
    const registry = createWorkerMetrics(worker);
    await worker.start();
    await fixture.app.inject({ method: 'POST', url: '/jobs', payload: { type: 'fail', payload: { permanent: true } } });
    await waitFor('the jobs to be run', async () => {
      const text = await registry.metrics();
      return value(text, 'sluice_jobs_completed_total{queue="default",type="noop"}') === 3 && value(text, 'sluice_jobs_dead_total{queue="default",type="fail"}') === 1;
    });
    const text = await registry.metrics();
    expect(value(text, 'sluice_jobs_failed_total{queue="default",type="fail"}')).toBe(1);
    expect(value(text, 'sluice_job_run_seconds_count{queue="default",type="noop"}')).toBe(3);
    expect(value(text, 'sluice_job_wait_seconds_count{queue="default",type="noop"}')).toBe(3);
    expect(value(text, 'sluice_process_info{role="worker"}')).toBe(1);
    expect(promtoolProblems(text)).toEqual([]);

    const api = (await fixture.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(value(api, 'sluice_queue_dlq_size{queue="default"}')).toBe(1);
    expect(value(api, 'sluice_queue_depth{queue="default"}')).toBe(0);
  });
});
