import { queueStats, QueueNotFoundError, type QueueStats } from '@sluice/core';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { AppDeps } from '../app.js';
import { ErrorBody, UnknownQueueBody } from '../schemas/jobs.js';
import { QueueLimitsBody } from '../schemas/limits.js';
import { Counts, QueueStatsView, statsView } from '../schemas/stats.js';

const QueueSummary = Type.Object({
  name: Type.String(),
  paused: Type.Boolean(),
  depth: Type.Integer({ description: 'Jobs waiting to run now (pending).' }),
  counts: Counts,
  latencyMs: QueueStatsView.properties.latencyMs,
  limits: QueueLimitsBody,
});
const QueueParams = Type.Object({ name: Type.String({ maxLength: 64, description: 'The queue name.' }) });
const PauseState = Type.Object({ name: Type.String(), paused: Type.Boolean() });
const LimitsState = Type.Object({ name: Type.String(), limits: QueueLimitsBody });
const errors = { 404: UnknownQueueBody, 503: ErrorBody };

/** GET /queues, POST /queues/:name/pause|resume, GET /stats. */
export const queueRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const queues = () => deps.queue.queues;

  app.get('/queues', { schema: { summary: 'Queues with their depth', response: { 200: Type.Object({ queues: Type.Array(QueueSummary) }), 503: ErrorBody } } }, async () => {
    const stats = await queueStats(deps.redis, deps.layouts, queues());
    return {
      queues: queues().map((name) => ({
        name, paused: stats[name]?.paused ?? false, depth: stats[name]?.counts.pending ?? 0, counts: stats[name]?.counts ?? {}, latencyMs: stats[name]?.latencyMs ?? 0, limits: stats[name]?.limits ?? {},
      })),
    };
  });

  app.put(
    '/queues/:name/limits',
    {
      schema: {
        summary: 'Set a queue\'s rate limit, concurrency cap and fair groups\' cap, replacing those it had ({} lifts them); workers take them up within a second or so',
        params: QueueParams, body: QueueLimitsBody, response: { 200: LimitsState, 400: ErrorBody, ...errors },
      },
    },
    async (request) => ({ name: request.params.name, limits: await deps.queueAdmin.setLimits(request.params.name, request.body) }),
  );

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
      const stats = await queueStats(deps.redis, deps.layouts, queues());
      return { queues: Object.fromEntries(Object.entries(stats).map(([name, queueStat]) => [name, statsView(queueStat)])) };
    },
  );

  app.get(
    '/queues/:name',
    { schema: { summary: 'One queue\'s statistics', params: QueueParams, response: { 200: QueueStatsView, ...errors } } },
    async (request) => {
      const name = request.params.name;
      if (!queues().includes(name)) throw new QueueNotFoundError(name, queues());
      const stats = await queueStats(deps.redis, deps.layouts, [name]);
      return statsView(stats[name] as QueueStats);
    },
  );
};
