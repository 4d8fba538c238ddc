import { JOB_STATES, type QueueStats } from '@sluice/core';
import { Type, type Static } from 'typebox';
import { QueueLimitsBody } from './limits.js';

/** Jobs per state. */
export const Counts = Type.Object(Object.fromEntries(JOB_STATES.map((state) => [state, Type.Integer({ minimum: 0 })])));

const LatencyMs = Type.Integer({
  minimum: 0,
  description: 'Queue latency: how long (ms) the oldest job waiting for a worker has waited, from when it was due; 0 when none waits. Jobs held back by limits or waiting for a worker of their type are counted apart (heldByLimits, waitingWithoutWorker).',
});

/** One queue's statistics, as GET /stats and GET /queues/:name answer them. */
export const QueueStatsView = Type.Object({
  ...Counts.properties,
  paused: Type.Boolean(),
  consumers: Type.Array(Type.Object({ name: Type.String(), pending: Type.Integer(), idleMs: Type.Integer() })),
  throughput: Type.Object({
    completedLastMinute: Type.Integer(),
    failedLastMinute: Type.Integer(),
    completedPerSecond: Type.Number({ description: 'Average over the last minute.' }),
  }),
  waitingWithoutWorker: Type.Record(Type.String(), Type.Integer({ minimum: 0 }), {
    description:
      'Jobs per type that wait because no live worker serves their type; each is dead-lettered (reason no-handler) once none has for NO_HANDLER_TIMEOUT_MS.',
  }),
  processingByType: Type.Record(Type.String(), Type.Integer({ minimum: 0 }), { description: 'Jobs running now, per type.' }),
  heldByLimits: Type.Record(Type.String(), Type.Integer({ minimum: 0 }), {
    description: 'Jobs per type waiting, without spending attempts, for room under their type\'s rate limit or concurrency cap.',
  }),
  groups: Type.Object({
    waiting: Type.Integer({ minimum: 0, description: 'Grouped jobs waiting their group\'s turn, or its cap (see groupConcurrency).' }),
    running: Type.Integer({ minimum: 0, description: 'Fair groups with jobs running now.' }),
  }),
  latencyMs: LatencyMs,
  limits: QueueLimitsBody,
  partitions: Type.Array(
    Type.Object({
      index: Type.Integer({ minimum: 0 }),
      of: Type.Integer({ minimum: 1, description: 'The partition count this partition belongs to.' }),
      ...Counts.properties,
      paused: Type.Boolean(),
      consumers: Type.Integer({ minimum: 0, description: 'Workers reading this partition.' }),
      completedLastMinute: Type.Integer(),
      failedLastMinute: Type.Integer(),
      latencyMs: LatencyMs,
    }),
    {
      description:
        'The queue per partition (QUEUE_PARTITIONS): the current partitions first, then those of an earlier partition count still known to hold jobs. One item for a queue of one partition.',
    },
  ),
});
export type QueueStatsView = Static<typeof QueueStatsView>;

/** What GET /stats/stream sends about one queue: its statistics and its last minute second by second. */
export const QueueSnapshot = Type.Object({
  ...QueueStatsView.properties,
  perSecond: Type.Array(
    Type.Object({ second: Type.Integer({ description: 'Unix seconds.' }), completed: Type.Integer(), failed: Type.Integer() }),
    { description: 'Attempts completed and failed in each of the last 60 seconds, oldest first; the last second is still under way.' },
  ),
});

/** One event of GET /stats/stream. */
export const StatsSnapshot = Type.Object({
  at: Type.String({ format: 'date-time', description: 'When the snapshot was read.' }),
  queues: Type.Record(Type.String(), QueueSnapshot),
});
export type StatsSnapshot = Static<typeof StatsSnapshot>;

/** A queue's statistics in the API's shape. */
export function statsView(stats: QueueStats): QueueStatsView {
  return {
    ...stats.counts,
    paused: stats.paused,
    consumers: stats.consumers,
    throughput: {
      completedLastMinute: stats.lastMinute.completed,
      failedLastMinute: stats.lastMinute.failed,
      completedPerSecond: Math.round((stats.lastMinute.completed / 60) * 100) / 100,
    },
    waitingWithoutWorker: stats.unservedTypes,
    processingByType: stats.processingTypes,
    heldByLimits: stats.heldTypes,
    groups: stats.groups,
    latencyMs: stats.latencyMs,
    limits: stats.limits,
    partitions: stats.partitions.map((partition) => ({
      index: partition.index,
      of: partition.of,
      ...partition.counts,
      paused: partition.paused,
      consumers: partition.consumers.length,
      completedLastMinute: partition.lastMinute.completed,
      failedLastMinute: partition.lastMinute.failed,
      latencyMs: partition.latencyMs,
    })),
  };
}

/** Every queue's statistics with their per-second throughput, read at `at`. */
export function snapshotView(stats: Record<string, QueueStats>, at: Date): StatsSnapshot {
  return {
    at: at.toISOString(),
    queues: Object.fromEntries(Object.entries(stats).map(([name, queue]) => [name, { ...statsView(queue), perSecond: queue.perSecond }])),
  };
}
