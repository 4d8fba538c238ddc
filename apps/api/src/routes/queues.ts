import { JOB_STATES, queueStats, QueueNotFoundError, type QueueStats } from '@sluice/core';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { AppDeps } from '../app';
import { ErrorBody } from '../schemas/jobs';

const Counts = Type.Object(Object.fromEntries(JOB_STATES.map((state) => [state, Type.Integer({ minimum: 0 })])));
const QueueSummary = Type.Object({
  name: Type.String(),
  paused: Type.Boolean(),
  depth: Type.Integer({ description: 'Jobs waiting to run now (pending).' }),
  counts: Counts,
});
const QueueStatsView = Type.Object({
  ...Counts.properties,
  paused: Type.Boolean(),
  consumers: Type.Array(Type.Object({ name: Type.String(), pending: Type.Integer(), idleMs: Type.Integer() })),
  throughput: Type.Object({
    completedLastMinute: Type.Integer(),
    failedLastMinute: Type.Integer(),
    completedPerSecond: Type.Number({ description: 'Average over the last minute.' }),
  }),
});
const QueueParams = Type.Object({ name: Type.String({ maxLength: 64, description: 'The queue name.' }) });
const PauseState = Type.Object({ name: Type.String(), paused: Type.Boolean() });
const errors = { 404: ErrorBody, 503: ErrorBody };

function view(stats: QueueStats) {
  return {
    ...stats.counts,
    paused: stats.paused,
    consumers: stats.consumers,
    throughput: {
      completedLastMinute: stats.lastMinute.completed,
      failedLastMinute: stats.lastMinute.failed,
      completedPerSecond: Math.round((stats.lastMinute.completed / 60) * 100) / 100,
    },
  };
}

/** GET /queues, POST /queues/:name/pause|resume, GET /stats. */
export const queueRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const queues = () => deps.queue.queues;

  app.get('/queues', { schema: { summary: 'Queues with their depth', response: { 200: Type.Object({ queues: Type.Array(QueueSummary) }), 503: ErrorBody } } }, async () => {
    const stats = await queueStats(deps.redis, deps.redisConfig, queues());
    return { queues: queues().map((name) => ({ name, paused: stats[name]?.paused ?? false, depth: stats[name]?.counts.pending ?? 0, counts: stats[name]?.counts ?? {} })) };
  });

  for (const action of ['pause', 'resume'] as const) {
    app.post(
      `/queues/:name/${action}`,
      { schema: { summary: action === 'pause' ? 'Stop workers taking new jobs from a queue' : 'Let workers take jobs from a queue again', params: QueueParams, response: { 200: PauseState, ...errors } } },
      async (request) => {
        await deps.queueAdmin[action](request.params.name);
        return { name: request.params.name, paused: action === 'pause' };
      },
    );
  }

  app.get(
    '/stats',
    { schema: { summary: 'Per queue: jobs per state, consumers, throughput', response: { 200: Type.Object({ queues: Type.Record(Type.String(), QueueStatsView) }), 503: ErrorBody } } },
    async () => {
      const stats = await queueStats(deps.redis, deps.redisConfig, queues());
      return { queues: Object.fromEntries(Object.entries(stats).map(([name, queueStat]) => [name, view(queueStat)])) };
    },
  );

  app.get(
    '/queues/:name',
    { schema: { summary: 'One queue\'s statistics', params: QueueParams, response: { 200: QueueStatsView, ...errors } } },
    async (request) => {
      const name = request.params.name;
      if (!queues().includes(name)) throw new QueueNotFoundError(name, queues());
      const stats = await queueStats(deps.redis, deps.redisConfig, [name]);
      return view(stats[name] as QueueStats);
    },
  );
};
