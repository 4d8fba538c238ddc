import { JobActions, SluiceError, toPostgresError, type MatchingFilter as CoreMatchingFilter, type MatchingPosition } from '@sluice/core';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { AppDeps } from '../app.js';
import { canonicalIdParam, canonicalJobId, inDateRange, invalidInput, payloadFilter, queryDate } from '../client-input.js';
import { ErrorBody, JobIdParams, JobView, UnknownJobBody, UnknownQueueBody } from '../schemas/jobs.js';
import { ActionIds, ActionParams, ActionResults, MatchingFilter, MatchingRunBody, MatchingRunView, NoQuery } from '../schemas/job-actions.js';
import { checkedDeadFilter, DeadJobsFilter, findJob } from './jobs.js';

const errors = { 400: ErrorBody, 409: ErrorBody, 413: ErrorBody, 415: ErrorBody, 503: ErrorBody };
/** A PostgreSQL failure as a 503; the library's own errors (Redis down, a refused filter) as they are. */
const postgresFailure = (error: unknown): unknown => (error instanceof SluiceError ? error : toPostgresError(error));

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The filter as the library takes it, once its queue is one this API serves and its dates are real. */
function checkedMatching(deps: AppDeps, body: MatchingFilter): CoreMatchingFilter {
  if (body.queue !== undefined) deps.queue.assertServed(body.queue);
  return {
    status: body.status,
    type: body.type,
    queue: body.queue,
    idempotencyKey: body.idempotencyKey,
    group: body.group,
    payload: body.payload === undefined ? undefined : payloadFilter(body.payload),
    createdAfter: body.createdAfter === undefined ? undefined : queryDate('createdAfter', body.createdAfter),
    createdBefore: body.createdBefore === undefined ? undefined : queryDate('createdBefore', body.createdBefore),
  };
}

/** A run's position, opaque to clients: the time its first call fixed, and the last job it reached. */
function encodePosition(position: MatchingPosition): string {
  const after = position.after ? [position.after.createdAt.toISOString(), position.after.id] : [];
  return Buffer.from(JSON.stringify([position.createdBefore.toISOString(), ...after])).toString('base64url');
}

function decodePosition(text: string): MatchingPosition {
  const invalid = invalidInput('cursor is not one this API returned; pass the nextCursor of the previous call');
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(text, 'base64url').toString());
  } catch {
    throw invalid;
  }
  const date = (value: unknown): Date => {
    const ms = typeof value === 'string' ? Date.parse(value) : Number.NaN;
    if (!inDateRange(ms) || new Date(ms).toISOString() !== value) throw invalid;
    return new Date(ms);
  };
  if (!Array.isArray(parsed) || (parsed.length !== 1 && parsed.length !== 3)) throw invalid;
  if (parsed.length === 1) return { createdBefore: date(parsed[0]), after: null };
  if (typeof parsed[2] !== 'string' || !UUID.test(parsed[2])) throw invalid;
  return { createdBefore: date(parsed[0]), after: { createdAt: date(parsed[1]), id: parsed[2] } };
}

/** What an operator does to jobs: run now, discard, and retry, cancel or discard many at once. */
export const jobActionRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const actions = new JobActions(deps.queue, deps.deadLetters);

  app.post(
    '/jobs/:id/run-now',
    {
      schema: { summary: 'Run a scheduled job or a retry now instead of at its due time', params: JobIdParams, response: { 200: JobView, ...errors, 404: UnknownJobBody } },
      preValidation: canonicalIdParam,
    },
    async (request) => {
      await deps.queue.runNow(request.params.id);
      return findJob(deps, request.params.id);
    },
  );

  app.post(
    '/jobs/:id/discard',
    {
      schema: { summary: 'Discard a dead job: out of the dead-letter stream for good', params: JobIdParams, response: { 200: JobView, ...errors, 404: UnknownJobBody } },
      preValidation: canonicalIdParam,
    },
    async (request) => {
      await deps.deadLetters.discard(request.params.id);
      return findJob(deps, request.params.id);
    },
  );

  app.post(
    '/jobs/dead/discard',
    {
      schema: {
        summary: 'Discard every dead job matching a filter (count them first with GET /jobs/dead/count)',
        querystring: NoQuery,
        body: DeadJobsFilter,
        response: { 200: Type.Object({ discarded: Type.Integer({ description: 'How many dead jobs were discarded.' }) }), ...errors, 404: UnknownQueueBody },
      },
    },
    async (request) => ({ discarded: await deps.deadLetters.discardAll(checkedDeadFilter(deps, request.body)) }),
  );

  app.post(
    '/jobs/actions/:action',
    { schema: { summary: 'Retry, cancel or discard a list of jobs, each reported alone', params: ActionParams, body: ActionIds, response: { 200: ActionResults, ...errors } } },
    async (request) => {
      const ids = request.body.ids.map((id, index) => canonicalJobId(id, `ids[${index}]`));
      const results = await actions.onIds(request.params.action, ids);
      const count = (outcome: string) => results.filter((result) => result.outcome === outcome).length;
      return { done: count('done'), conflict: count('conflict'), notFound: count('not_found'), results };
    },
  );

  app.post(
    '/jobs/actions/:action/matching/count',
    {
      schema: {
        summary: 'How many jobs matching a filter of GET /jobs the action applies to: its dry run',
        params: ActionParams,
        querystring: NoQuery,
        body: MatchingFilter,
        response: { 200: Type.Object({ count: Type.Integer({ minimum: 0 }) }), ...errors, 404: UnknownQueueBody },
      },
    },
    async (request) => {
      const filter = checkedMatching(deps, request.body);
      try {
        return { count: await actions.countMatching(deps.db, request.params.action, filter) };
      } catch (error) {
        throw postgresFailure(error);
      }
    },
  );

  app.post(
    '/jobs/actions/:action/matching',
    {
      schema: {
        summary: 'Retry, cancel or discard the jobs matching a filter of GET /jobs, a bounded number per call',
        params: ActionParams,
        querystring: NoQuery,
        body: MatchingRunBody,
        response: { 200: MatchingRunView, ...errors, 404: UnknownQueueBody },
      },
    },
    async (request) => {
      const { cursor, ...body } = request.body;
      const filter = checkedMatching(deps, body);
      const from = cursor === undefined ? undefined : decodePosition(cursor);
      const { next, ...tally } = await actions.onMatching(deps.db, request.params.action, filter, from).catch((error: unknown) => {
        throw postgresFailure(error);
      });
      return { ...tally, nextCursor: next ? encodePosition(next) : null };
    },
  );
};
