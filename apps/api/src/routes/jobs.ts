import {
  InvalidJobError, JobNotFoundError, NAME_PATTERN_SOURCE, RedisUnavailableError, requestTraceContext, toPostgresError, jobsFindWithHistory, outboxFind, outboxJobView, outboxRowProblem,
  type AddedJob, type BulkJob, type Job, type OutboxJobView, type Waiting,
} from '@sluice/core';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { AppDeps } from '../app.js';
import { canonicalIdParam, utf8Header } from '../client-input.js';
import type { ApiMetrics } from '../plugins/metrics.js';
import { AddedJob as AddedJobSchema, BulkAdded, BulkSubmission, DeadJobsPage, DeadJobsQuery, ErrorBody, IdempotencyHeaders, JobIdParams, JobSubmission, JobView, TraceHeaders, UnknownJobBody, UnknownQueueBody } from '../schemas/jobs.js';
import { NoQuery } from '../schemas/job-actions.js';

const errors = { 400: ErrorBody, 409: ErrorBody, 413: ErrorBody, 415: ErrorBody, 503: ErrorBody };
const queueErrors = { ...errors, 404: UnknownQueueBody };
const jobErrors = { ...errors, 404: UnknownJobBody };

/** Picks the idempotency key from the body or the header; both must agree when both are given. */
function idempotencyKeyOf(body: JobSubmission, header: string | undefined): string | undefined {
  if (header !== undefined && body.idempotencyKey !== undefined && header !== body.idempotencyKey) {
    throw new InvalidJobError('The Idempotency-Key header and the body\'s idempotencyKey differ; send one of them.');
  }
  return body.idempotencyKey ?? header;
}

/** preValidation hook of POST /jobs: the Idempotency-Key header as the UTF-8 text the client sent. */
async function decodeIdempotencyHeader(request: FastifyRequest): Promise<void> {
  const header = request.headers['idempotency-key'];
  if (typeof header === 'string') request.headers['idempotency-key'] = utf8Header('Idempotency-Key', header);
}

/** The job as Redis holds it, with why it waits; null when Redis does not have it. */
async function findLiveJob(deps: AppDeps, id: string): Promise<(Job & { waiting: Waiting | null }) | null> {
  const live = await deps.queue.getJob(id);
  return live ? { ...live, waiting: await deps.queue.waiting(id) } : null;
}

/**
 * Reads a job: Redis first (live and recent jobs, read-your-writes), PostgreSQL for the rest; with
 * why it waits, which only Redis knows (a job only PostgreSQL has is finished). A job enqueued in a
 * transaction that the outbox relay has not added yet is read from the outbox table.
 */
export async function findJob(deps: AppDeps, id: string): Promise<(Job | OutboxJobView) & { waiting: Waiting | null }> {
  let redisDown: unknown;
  try {
    const live = await findLiveJob(deps, id);
    if (live) return live;
  } catch (error) {
    if (!(error instanceof RedisUnavailableError)) throw error;
    redisDown = error;
  }
  let stored: Job | OutboxJobView | null;
  try {
    // A read replica that has not caught up with the job yet sends the read on to the primary.
    stored = (await jobsFindWithHistory(deps.readDb ?? deps.db, id)) ?? (deps.readDb ? await jobsFindWithHistory(deps.db, id) : null);
    const queued = stored ? null : await outboxFind(deps.pool, id);
    // A row the relay cannot read is set aside, never a job: not found.
    if (queued && outboxRowProblem(queued) === null) stored = outboxJobView(queued, Date.now());
  } catch (error) {
    throw redisDown ?? toPostgresError(error);
  }
  if (stored) return { ...stored, waiting: null };
  // Redis was down, so the job may be one PostgreSQL has not heard of yet: say so rather than 404.
  if (redisDown) throw redisDown;
  // The relay adds a job to Redis before it deletes its outbox row: one relayed since the first read is in Redis now.
  const relayed = await findLiveJob(deps, id);
  if (relayed) return relayed;
  throw new JobNotFoundError(id);
}

/** Which dead jobs a bulk action is about; both fields optional. */
export const DeadJobsFilter = Type.Object(
  { type: Type.Optional(Type.String({ pattern: NAME_PATTERN_SOURCE })), queue: Type.Optional(Type.String({ pattern: NAME_PATTERN_SOURCE })) },
  { additionalProperties: false },
);

/**
 * The filter, once its queue is one this API serves (else a 404 naming them). Any type name goes: dead
 * jobs of a type no worker serves any more (dead-lettered as no-handler, say) are the ones to find.
 */
export function checkedDeadFilter(deps: AppDeps, filter: { queue?: string; type?: string }): { queue?: string; type?: string } {
  if (filter.queue !== undefined) deps.queue.assertServed(filter.queue);
  return { queue: filter.queue, type: filter.type };
}

/** POST /jobs, POST /jobs/bulk, GET /jobs/:id, and the dead-letter routes. */
export const jobRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps; metrics: ApiMetrics }> = async (app, { deps, metrics }) => {
  app.post(
    '/jobs',
    {
      schema: {
        summary: 'Submit a job',
        body: JobSubmission,
        headers: IdempotencyHeaders,
        response: { 200: AddedJobSchema, 202: AddedJobSchema, ...queueErrors },
      },
      preValidation: decodeIdempotencyHeader,
    },
    async (request, reply) => {
      const body = request.body;
      const idempotencyKey = idempotencyKeyOf(body, request.headers['idempotency-key']);
      const traceContext = requestTraceContext(request.headers);
      const added: AddedJob = await deps.queue.add(body.type, body.payload as Record<string, unknown>, { ...body, idempotencyKey, traceContext });
      metrics.countEnqueued([added]);
      if (!added.duplicate) return reply.code(202).send(added);
      // The first job may have left Redis already; PostgreSQL then knows its status.
      const first = await findJob(deps, added.id).catch(() => null);
      return reply.code(200).send({ ...added, status: first?.status ?? added.status });
    },
  );

  app.post(
    '/jobs/bulk',
    { schema: { summary: 'Submit many jobs at once', body: BulkSubmission, headers: TraceHeaders, response: { 202: BulkAdded, ...queueErrors } } },
    async (request, reply) => {
      const traceContext = requestTraceContext(request.headers);
      const jobs = await deps.queue.addBulk((request.body.jobs as BulkJob[]).map((job) => ({ ...job, traceContext })));
      metrics.countEnqueued(jobs);
      return reply.code(202).send({ jobs });
    },
  );

  app.get(
    '/jobs/dead',
    { schema: { summary: 'The dead-letter streams, newest first', querystring: DeadJobsQuery, response: { 200: DeadJobsPage, ...queueErrors } } },
    async (request) => {
      const { queue, limit, cursor } = request.query;
      if (queue !== undefined) deps.queue.assertServed(queue);
      return deps.deadLetters.list({ queue, limit: limit === undefined ? 20 : Number(limit), cursor });
    },
  );

  app.get(
    '/jobs/dead/count',
    {
      schema: {
        summary: 'How many dead jobs match a filter: what POST /jobs/dead/retry or POST /jobs/dead/discard with it would act on (the dry run of both)',
        querystring: DeadJobsFilter,
        response: { 200: Type.Object({ count: Type.Integer({ description: 'Dead jobs matching the filter now.' }) }), ...queueErrors },
      },
    },
    async (request) => ({ count: await deps.deadLetters.count(checkedDeadFilter(deps, request.query)) }),
  );

  app.post(
    '/jobs/dead/retry',
    {
      schema: {
        summary: 'Send back every dead job matching a filter',
        querystring: NoQuery,
        body: DeadJobsFilter,
        response: { 200: Type.Object({ retried: Type.Integer({ description: 'How many dead jobs went back to pending.' }) }), ...queueErrors },
      },
    },
    async (request) => ({ retried: await deps.deadLetters.retryAll(checkedDeadFilter(deps, request.body)) }),
  );

  app.post(
    '/jobs/:id/retry',
    { schema: { summary: 'Send a dead job back to its queue, attempts reset', params: JobIdParams, response: { 200: JobView, ...jobErrors } }, preValidation: canonicalIdParam },
    async (request) => {
      await deps.deadLetters.retry(request.params.id);
      return findJob(deps, request.params.id);
    },
  );

  app.post(
    '/jobs/:id/cancel',
    { schema: { summary: 'Cancel a job that has not started', params: JobIdParams, response: { 200: JobView, ...jobErrors } }, preValidation: canonicalIdParam },
    async (request) => {
      await deps.queue.cancel(request.params.id);
      return findJob(deps, request.params.id);
    },
  );

  app.get(
    '/jobs/:id',
    { schema: { summary: 'A job with its history', params: JobIdParams, response: { 200: JobView, ...jobErrors } }, preValidation: canonicalIdParam },
    async (request) => findJob(deps, request.params.id),
  );
};
