import { assertStorable, InvalidJobError, jobsList, toPostgresError, type JobListCursor } from '@sluice/core';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AppDeps } from '../app.js';
import { inDateRange, payloadFilter, queryDate } from '../client-input.js';
import { ErrorBody, JobListPage, JobListQuery, UnknownQueueBody } from '../schemas/jobs.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** How `encodeCursor` writes a time: `toISOString` of a year from 1 to 9999. */
const CURSOR_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** The cursor is opaque to clients: the last job's (created_at, id), base64url-encoded. */
export function encodeCursor(cursor: JobListCursor): string {
  return Buffer.from(JSON.stringify([cursor.createdAt.toISOString(), cursor.id])).toString('base64url');
}

function decodeCursor(text: string): JobListCursor {
  const invalid = new InvalidJobError('cursor is not one this API returned; pass the nextCursor of the previous page');
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(text, 'base64url').toString());
  } catch {
    throw invalid;
  }
  if (!Array.isArray(parsed) || parsed.length !== 2 || typeof parsed[0] !== 'string' || typeof parsed[1] !== 'string') throw invalid;
  // Only what encodeCursor writes: a time it would write back the same way, in PostgreSQL's range.
  const createdAt = new Date(parsed[0]);
  if (!CURSOR_TIME.test(parsed[0]) || !inDateRange(createdAt.getTime()) || createdAt.toISOString() !== parsed[0] || !UUID.test(parsed[1])) throw invalid;
  return { createdAt, id: parsed[1] };
}

/** GET /jobs: jobs from PostgreSQL, newest first, filtered, in keyset pages. */
export const jobListRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  app.get(
    '/jobs',
    { schema: { summary: 'List jobs, newest first', querystring: JobListQuery, response: { 200: JobListPage, 400: ErrorBody, 404: UnknownQueueBody, 503: ErrorBody } } },
    async (request) => {
      const query = request.query;
      // Else a mistyped queue would look like an empty one.
      if (query.queue !== undefined) deps.queue.assertServed(query.queue);
      if (query.idempotencyKey !== undefined) assertStorable(query.idempotencyKey, 'idempotencyKey');
      const filter = {
        status: query.status,
        type: query.type,
        queue: query.queue,
        idempotencyKey: query.idempotencyKey,
        group: query.group,
        payload: query.payload === undefined ? undefined : payloadFilter(query.payload),
        createdAfter: query.createdAfter === undefined ? undefined : queryDate('createdAfter', query.createdAfter),
        createdBefore: query.createdBefore === undefined ? undefined : queryDate('createdBefore', query.createdBefore),
        limit: query.limit === undefined ? 20 : Number(query.limit),
        after: query.cursor === undefined ? undefined : decodeCursor(query.cursor),
      };
      try {
        const page = await jobsList(deps.readDb ?? deps.db, filter);
        return { jobs: page.jobs, nextCursor: page.next ? encodeCursor(page.next) : null };
      } catch (error) {
        throw toPostgresError(error);
      }
    },
  );
};
