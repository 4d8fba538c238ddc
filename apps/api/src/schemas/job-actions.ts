import { JOB_ACTIONS, JOB_STATES, MAX_ACTION_IDS, MAX_IDEMPOTENCY_KEY_LENGTH, MAX_MATCHING_PER_CALL, NAME_PATTERN_SOURCE, type JobAction, type JobState } from '@sluice/core';
import { Type, type Static } from 'typebox';
import { Group, PayloadFilter } from './jobs.js';

/** Path parameter of the bulk action routes. */
export const ActionParams = Type.Object({
  action: Type.Unsafe<JobAction>({
    type: 'string',
    enum: [...JOB_ACTIONS],
    description: 'retry: dead jobs back to pending, attempts reset; cancel: pending, scheduled or retrying jobs withdrawn; discard: dead jobs out of the dead-letter stream for good.',
  }),
});

/**
 * Query of the routes that act on every job matching a filter in their body: none. A filter put in
 * the query string, as GET /jobs and GET /jobs/dead/count take it, would otherwise go unread, and
 * the action reach every job.
 */
export const NoQuery = Type.Object({}, { additionalProperties: false, description: 'None: the filter goes in the JSON body.' });

/** Body of POST /jobs/actions/:action. */
export const ActionIds = Type.Object(
  {
    ids: Type.Array(Type.String({ format: 'uuid' }), {
      minItems: 1, maxItems: MAX_ACTION_IDS, description: `The jobs to act on, at most ${MAX_ACTION_IDS}; each is acted on and reported alone.`,
    }),
  },
  { additionalProperties: false },
);

const tally = {
  done: Type.Integer({ minimum: 0, description: 'Jobs acted on.' }),
  conflict: Type.Integer({ minimum: 0, description: 'Jobs left alone: their state does not allow the action (see the 409 of the action on one job).' }),
  notFound: Type.Integer({ minimum: 0, description: 'Ids of no job Redis holds (unknown, or finished and past their retention).' }),
};

/** Answer of POST /jobs/actions/:action. */
export const ActionResults = Type.Object({
  ...tally,
  results: Type.Array(Type.Object({
    id: Type.String({ format: 'uuid' }),
    outcome: Type.Union([Type.Literal('done'), Type.Literal('conflict'), Type.Literal('not_found')]),
    status: Type.Optional(Type.Unsafe<JobState>({ type: 'string', enum: [...JOB_STATES], description: 'For a conflict: the state the job was in.' })),
  }), { description: 'One per id, in the order given.' }),
});

const matchingFields = {
  status: Type.Optional(Type.Unsafe<JobState>({
    type: 'string', enum: [...JOB_STATES], description: 'Only jobs in this state, which must be one the action applies to. Default: every such state.',
  })),
  type: Type.Optional(Type.String({ pattern: NAME_PATTERN_SOURCE, description: 'Only jobs of this type.' })),
  queue: Type.Optional(Type.String({ pattern: NAME_PATTERN_SOURCE, description: 'Only jobs of this queue.' })),
  idempotencyKey: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_IDEMPOTENCY_KEY_LENGTH, description: 'Only jobs submitted with this idempotency key.' })),
  group: Type.Optional(Group('Only jobs of this fair group.')),
  payload: Type.Optional(PayloadFilter),
  createdAfter: Type.Optional(Type.String({ description: 'Only jobs created at or after this ISO-8601 time.' })),
  createdBefore: Type.Optional(Type.String({ description: 'Only jobs created before this ISO-8601 time.' })),
};

/** Body of POST /jobs/actions/:action/matching/count: a filter of GET /jobs. */
export const MatchingFilter = Type.Object(matchingFields, { additionalProperties: false });
export type MatchingFilter = Static<typeof MatchingFilter>;

/** Body of POST /jobs/actions/:action/matching: the filter, and where the previous call stopped. */
export const MatchingRunBody = Type.Object(
  { ...matchingFields, cursor: Type.Optional(Type.String({ maxLength: 300, description: 'The nextCursor of the previous call of this run.' })) },
  { additionalProperties: false },
);

/** Answer of POST /jobs/actions/:action/matching. */
export const MatchingRunView = Type.Object({
  ...tally,
  nextCursor: Type.Union([Type.String(), Type.Null()], {
    description: `Null once every matching job has been reached; else call again with it (and the same filter): one call acts on at most ${MAX_MATCHING_PER_CALL} jobs.`,
  }),
});
