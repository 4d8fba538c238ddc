import { METRICS_HISTORY_MAX_POINTS, NAME_PATTERN_SOURCE } from '@sluice/core';
import { Type } from 'typebox';

/** The widths a point of GET /stats/history may have, in ms. */
export const HISTORY_STEPS = { '1m': 60_000, '5m': 300_000, '15m': 900_000, '1h': 3_600_000, '1d': 86_400_000 } as const;

export type HistoryStep = keyof typeof HISTORY_STEPS;

/** GET /stats/history's query. */
export const StatsHistoryQuery = Type.Object(
  {
    queue: Type.Optional(Type.String({ pattern: NAME_PATTERN_SOURCE, description: 'Only this queue; all of them when left out.' })),
    type: Type.Optional(Type.String({ pattern: NAME_PATTERN_SOURCE, description: 'Only jobs of this type; all of them when left out.' })),
    from: Type.Optional(Type.String({ format: 'date-time', description: 'Start of the range, rounded down to a whole step. Default: an hour before `to`.' })),
    to: Type.Optional(Type.String({ format: 'date-time', description: 'End of the range (excluded). Default: now.' })),
    step: Type.Optional(Type.Unsafe<HistoryStep>({
      type: 'string', enum: Object.keys(HISTORY_STEPS),
      description: `Width of a point: 1m, 5m, 15m, 1h or 1d. Default 1m. At most ${METRICS_HISTORY_MAX_POINTS} points per answer.`,
    })),
  },
  { additionalProperties: false },
);

const Percentiles = (what: string) => Type.Object(
  {
    p50: Type.Union([Type.Number(), Type.Null()]),
    p95: Type.Union([Type.Number(), Type.Null()]),
    p99: Type.Union([Type.Number(), Type.Null()]),
  },
  { description: `${what} in ms, from log buckets (within 4.5%); null where the step timed nothing.` },
);

const totals = {
  completed: Type.Integer({ minimum: 0, description: 'Attempts that completed.' }),
  failed: Type.Integer({ minimum: 0, description: 'Attempts that failed, retried or not.' }),
  dead: Type.Integer({ minimum: 0, description: 'Jobs dead-lettered.' }),
  runMs: Percentiles('Run times of the attempts that ended in the step'),
  waitMs: Percentiles('Times jobs waited, ready, before the attempts that started in the step'),
};

/** One step of the metrics history. */
const MetricsPointView = Type.Object({
  at: Type.String({ format: 'date-time', description: 'Start of the step.' }),
  ...totals,
  depth: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], {
    description: 'The most jobs the queues waited with (pending) in the step, sampled once a minute; null without a sample. A queue\'s, whatever `type` says.',
  }),
});

/** GET /stats/history's answer. */
export const StatsHistoryBody = Type.Object({
  from: Type.String({ format: 'date-time', description: 'Start of the first step.' }),
  to: Type.String({ format: 'date-time' }),
  step: Type.String(),
  points: Type.Array(MetricsPointView),
});

/** Longest range GET /stats/history/types adds up, in ms. */
export const TYPE_BREAKDOWN_MAX_MS = 31 * 86_400_000;

/** GET /stats/history/types's query. */
export const TypeBreakdownQuery = Type.Object(
  {
    queue: StatsHistoryQuery.properties.queue,
    from: Type.Optional(Type.String({ format: 'date-time', description: 'Start of the range. Default: an hour before `to`.' })),
    to: StatsHistoryQuery.properties.to,
  },
  { additionalProperties: false },
);

/** GET /stats/history/types's answer. */
export const TypeBreakdownBody = Type.Object({
  from: Type.String({ format: 'date-time' }),
  to: Type.String({ format: 'date-time' }),
  types: Type.Array(Type.Object({ type: Type.String(), ...totals }), { description: 'Each job type with rollups in the range, most completed first.' }),
});
