import { MAX_CONCURRENCY_CAP, MAX_RATE_MAX, MAX_RATE_WINDOW_MS } from '@sluice/core';
import { Type, type Static } from 'typebox';

/** A rate limit: at most `max` starts in any window of `perMs`. */
export const RateLimitBody = Type.Object(
  {
    max: Type.Integer({ minimum: 1, maximum: MAX_RATE_MAX, description: 'Most jobs that start in any window of perMs.' }),
    perMs: Type.Integer({ minimum: 1, maximum: MAX_RATE_WINDOW_MS, description: 'The window, in milliseconds.' }),
  },
  { additionalProperties: false },
);

const flowLimitFields = {
  rate: Type.Optional(RateLimitBody),
  concurrency: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_CONCURRENCY_CAP, description: 'Most jobs running at once, across every worker.' })),
};
const FLOW_LIMITS_NOTE =
  'Enforced across every worker. On a queue of several partitions each partition enforces its share, rounded up. A job held back waits without spending an attempt.';

/** A job type's flow limits; an absent field limits nothing. */
export const FlowLimitsBody = Type.Object(flowLimitFields, { additionalProperties: false, description: FLOW_LIMITS_NOTE });
export type FlowLimitsBody = Static<typeof FlowLimitsBody>;

/** A queue's flow limits: a type's, and the cap on each fair group; an absent field limits nothing. */
export const QueueLimitsBody = Type.Object(
  {
    ...flowLimitFields,
    groupConcurrency: Type.Optional(Type.Integer({
      minimum: 1, maximum: MAX_CONCURRENCY_CAP,
      description: 'Most jobs of one fair group (a job\'s `group`) running at once, across every worker; not divided among partitions, as a group\'s jobs share one.',
    })),
  },
  { additionalProperties: false, description: FLOW_LIMITS_NOTE },
);
