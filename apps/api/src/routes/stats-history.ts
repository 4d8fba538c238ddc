import { jobMetricsByType, jobMetricsHistory, METRICS_HISTORY_MAX_POINTS, metricsHistoryStart, toPostgresError } from '@sluice/core';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AppDeps } from '../app.js';
import { invalidInput, queryDate } from '../client-input.js';
import { ErrorBody, UnknownQueueBody } from '../schemas/jobs.js';
import { HISTORY_STEPS, StatsHistoryBody, StatsHistoryQuery, TYPE_BREAKDOWN_MAX_MS, TypeBreakdownBody, TypeBreakdownQuery } from '../schemas/stats-history.js';

const HOUR_MS = 3_600_000;

/** A query's queue, which must be one this API serves, and range: `to` (default now) and `from` (default an hour before), from before to. */
function checkedRange(deps: AppDeps, query: { queue?: string; from?: string; to?: string }): { from: Date; to: Date } {
  if (query.queue !== undefined) deps.queue.assertServed(query.queue);
  const to = query.to === undefined ? new Date() : queryDate('to', query.to);
  const from = query.from === undefined ? new Date(to.getTime() - HOUR_MS) : queryDate('from', query.from);
  if (from >= to) throw invalidInput('from must be before to');
  return { from, to };
}

/** The schema of a read of the rollups: its summary, query and answer, and the errors every such read may give. */
function rollupsSchema<Query, Body>(summary: string, querystring: Query, body: Body) {
  return { schema: { summary, querystring, response: { 200: body, 400: ErrorBody, 404: UnknownQueueBody, 503: ErrorBody } } };
}

/** GET /stats/history: the per-minute (or, for steps of whole hours, per-hour) rollups PostgreSQL keeps, merged into steps. */
export const statsHistoryRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  app.get(
    '/stats/history',
    rollupsSchema('Throughput, failures, run and wait time percentiles and depth over time, per queue and type, from PostgreSQL', StatsHistoryQuery, StatsHistoryBody),
    async (request) => {
      const query = request.query;
      const { from, to } = checkedRange(deps, query);
      const step = query.step ?? '1m';
      const stepMs = HISTORY_STEPS[step];
      const points = Math.ceil((to.getTime() - metricsHistoryStart(from, stepMs)) / stepMs);
      if (points > METRICS_HISTORY_MAX_POINTS) {
        throw invalidInput(`from, to and step=${step} ask for ${points} points; at most ${METRICS_HISTORY_MAX_POINTS}: take a wider step or a shorter range`);
      }
      try {
        const history = await jobMetricsHistory(deps.readDb ?? deps.db, { queue: query.queue, type: query.type, from, to, stepMs });
        return { from: history[0]?.at ?? from.toISOString(), to: to.toISOString(), step, points: history };
      } catch (error) {
        throw toPostgresError(error);
      }
    },
  );

  app.get(
    '/stats/history/types',
    rollupsSchema('Per job type, throughput, failures and run and wait time percentiles over a range, from PostgreSQL', TypeBreakdownQuery, TypeBreakdownBody),
    async (request) => {
      const query = request.query;
      const { from, to } = checkedRange(deps, query);
      if (to.getTime() - from.getTime() > TYPE_BREAKDOWN_MAX_MS) throw invalidInput('from and to may be at most 31 days apart');
      try {
        return { from: from.toISOString(), to: to.toISOString(), types: await jobMetricsByType(deps.readDb ?? deps.db, { queue: query.queue, from, to }) };
      } catch (error) {
        throw toPostgresError(error);
      }
    },
  );
};
