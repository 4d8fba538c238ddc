import { historyBacklog, outboxBacklog, outboxSetAsideKey, queueStats, type AddedJob } from '@sluice/core';
import type { FastifyInstance } from 'fastify';
import { collectProcessMetrics } from '@sluice/core';
import { Counter, Gauge, Registry } from 'prom-client';
import type { AppDeps } from '../app.js';

/** The API's Prometheus metrics: what it enqueued, and the queues' state read from Redis at scrape time. */
export class ApiMetrics {
  readonly registry = new Registry();
  private readonly enqueued: Counter<'queue' | 'type'>;
  private readonly gauges: Record<'depth' | 'delayed' | 'processing' | 'dlq' | 'latency' | 'paused' | 'historyBacklog' | 'historyLag' | 'historySetAside', Gauge<'queue'>>;
  private readonly waitingWithoutWorker: Gauge<'queue' | 'type'>;
  private readonly partitionDepth: Gauge<'queue' | 'partition'>;
  private readonly scrapeSuccess: Gauge;
  private readonly outboxRows: Gauge;
  private readonly outboxOldest: Gauge;
  private readonly outboxSetAside: Gauge;

  constructor(private readonly deps: AppDeps) {
    collectProcessMetrics(this.registry, 'api');
    this.enqueued = new Counter({ name: 'sluice_jobs_enqueued_total', help: 'Jobs added through this API process.', labelNames: ['queue', 'type'], registers: [this.registry] });
    this.gauges = {
      depth: new Gauge({ name: 'sluice_queue_depth', help: 'Jobs waiting to run now (pending).', labelNames: ['queue'], registers: [this.registry] }),
      delayed: new Gauge({ name: 'sluice_queue_delayed', help: 'Jobs waiting for their run time or a retry (scheduled and retrying).', labelNames: ['queue'], registers: [this.registry] }),
      processing: new Gauge({ name: 'sluice_queue_processing', help: 'Jobs being run by a worker.', labelNames: ['queue'], registers: [this.registry] }),
      latency: new Gauge({
        name: 'sluice_queue_latency_seconds',
        help: 'Age of the oldest job waiting for a worker (from when it was due), over the queue\'s partitions; 0 when none waits.',
        labelNames: ['queue'],
        registers: [this.registry],
      }),
      // A paused queue's latency grows by the operator's will: the latency alert leaves such queues out by this.
      paused: new Gauge({ name: 'sluice_queue_paused', help: 'Whether the queue is paused (1): workers take no new jobs from it.', labelNames: ['queue'], registers: [this.registry] }),
      dlq: new Gauge({ name: 'sluice_queue_dlq_size', help: 'Entries in the dead-letter stream.', labelNames: ['queue'], registers: [this.registry] }),
      historyBacklog: new Gauge({
        name: 'sluice_history_backlog_entries', help: 'Events-stream entries waiting to be recorded in PostgreSQL.', labelNames: ['queue'], registers: [this.registry],
      }),
      historyLag: new Gauge({
        name: 'sluice_history_lag_seconds', help: 'Age of the oldest event not yet recorded in PostgreSQL.', labelNames: ['queue'], registers: [this.registry],
      }),
      historySetAside: new Gauge({
        name: 'sluice_history_set_aside_entries',
        help: 'Events PostgreSQL refused for their content, set aside in the queue\'s history-set-aside stream.',
        labelNames: ['queue'],
        registers: [this.registry],
      }),
    };
    this.partitionDepth = new Gauge({
      name: 'sluice_queue_partition_depth',
      help: 'Jobs waiting to run now (pending), per partition of the queue (see QUEUE_PARTITIONS); partition is "index/count".',
      labelNames: ['queue', 'partition'],
      registers: [this.registry],
    });
    this.waitingWithoutWorker = new Gauge({
      name: 'sluice_jobs_waiting_without_worker',
      help: 'Jobs waiting because no live worker serves their type (dead-lettered as no-handler after NO_HANDLER_TIMEOUT_MS).',
      labelNames: ['queue', 'type'],
      registers: [this.registry],
    });
    this.outboxRows = new Gauge({
      name: 'sluice_outbox_rows', help: 'Jobs enqueued in committed transactions that the outbox relay has not added to Redis yet.', registers: [this.registry],
    });
    this.outboxOldest = new Gauge({
      name: 'sluice_outbox_oldest_seconds', help: 'Age of the oldest row in the outbox; 0 when it is empty.', registers: [this.registry],
    });
    this.outboxSetAside = new Gauge({
      name: 'sluice_outbox_set_aside_entries',
      help: 'Outbox rows the relay could not read, set aside in the outbox set-aside stream.',
      registers: [this.registry],
    });
    this.scrapeSuccess = new Gauge({ name: 'sluice_queue_scrape_success', help: 'Whether the queue gauges were read from Redis at this scrape (1) or not (0).', registers: [this.registry] });
  }

  /** The metrics text, with the queue gauges read from Redis first (in one round trip, all partitions at once). */
  async render(): Promise<string> {
    try {
      const queues = this.deps.queue.queues;
      const { redis, layouts } = this.deps;
      const [stats, dlqSizes, history, outboxSetAside] = await Promise.all([
        queueStats(redis, layouts, queues),
        Promise.all(queues.map(async (queue) => (await Promise.all(layouts.all(queue).map(({ keys }) => redis.xlen(keys.dlq)))).reduce((sum, size) => sum + size, 0))),
        historyBacklog(redis, layouts, queues),
        redis.xlen(outboxSetAsideKey(this.deps.redisConfig.prefix)),
      ]);
      this.outboxSetAside.set(outboxSetAside);
      // Types and partitions come and go: only those there now are reported.
      this.waitingWithoutWorker.reset();
      this.partitionDepth.reset();
      queues.forEach((queue, index) => {
        for (const [type, count] of Object.entries(stats[queue]?.unservedTypes ?? {})) this.waitingWithoutWorker.set({ queue, type }, count);
        for (const partition of stats[queue]?.partitions ?? []) this.partitionDepth.set({ queue, partition: `${partition.index}/${partition.of}` }, partition.counts.pending);
        const counts = stats[queue]?.counts;
        this.gauges.depth.set({ queue }, counts?.pending ?? 0);
        this.gauges.delayed.set({ queue }, (counts?.scheduled ?? 0) + (counts?.retrying ?? 0));
        this.gauges.processing.set({ queue }, counts?.processing ?? 0);
        this.gauges.latency.set({ queue }, (stats[queue]?.latencyMs ?? 0) / 1000);
        this.gauges.paused.set({ queue }, stats[queue]?.paused ? 1 : 0);
        this.gauges.dlq.set({ queue }, dlqSizes[index] ?? 0);
        this.gauges.historyBacklog.set({ queue }, history[queue]?.entries ?? 0);
        this.gauges.historyLag.set({ queue }, (history[queue]?.lagMs ?? 0) / 1000);
        this.gauges.historySetAside.set({ queue }, history[queue]?.setAside ?? 0);
      });
      this.scrapeSuccess.set(1);
    } catch {
      // A scrape while Redis is down still answers: process metrics, and success at 0.
      this.scrapeSuccess.set(0);
    }
    await this.readOutbox();
    return this.registry.metrics();
  }

  /** The outbox gauges, from PostgreSQL; left as they were when it cannot be read. */
  private async readOutbox(): Promise<void> {
    try {
      const { rows, oldestSeconds } = await outboxBacklog(this.deps.pool);
      this.outboxRows.set(rows);
      this.outboxOldest.set(oldestSeconds);
    } catch {
      // PostgreSQL down: the scrape still answers, with Redis's gauges.
    }
  }

  /** Counts jobs a submission added (duplicates add nothing). */
  countEnqueued(jobs: readonly AddedJob[]): void {
    for (const job of jobs) if (!job.duplicate) this.enqueued.inc({ queue: job.queue, type: job.type });
  }
}

/** GET /metrics in the Prometheus text format. */
export function registerMetricsRoute(app: FastifyInstance, metrics: ApiMetrics): void {
  app.get('/metrics', { schema: { summary: 'Prometheus metrics', produces: ['text/plain'] } }, async (_request, reply) => {
    return reply.type(metrics.registry.contentType).send(await metrics.render());
  });
}
