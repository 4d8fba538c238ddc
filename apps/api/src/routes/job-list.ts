import { InvalidJobError, jobsList, toPostgresError, type JobListCursor } from '@sluice/core';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AppDeps } from '../app';
import { ErrorBody, JobListPage, JobListQuery } from '../schemas/jobs';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

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
  const createdAt = new Date(parsed[0]);
  if (Number.isNaN(createdAt.getTime()) || !UUID.test(parsed[1])) throw invalid;
  return { createdAt, id: parsed[1] };
}

/** GET /jobs: jobs from PostgreSQL, newest first, filtered, in keyset pages. */
export const jobListRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  app.get(
    '/jobs',
    { schema: { summary: 'List jobs, newest first', querystring: JobListQuery, response: { 200: JobListPage, 400: ErrorBody, 503: ErrorBody } } },
    async (request) => {
      const query = request.query;
      const filter = {
        status: query.status,
        type: query.type,
        queue: query.queue,
        idempotencyKey: query.idempotencyKey,
        createdAfter: query.createdAfter === undefined ? undefined : new Date(query.createdAfter),
        createdBefore: query.createdBefore === undefined ? undefined : new Date(query.createdBefore),
        limit: query.limit === undefined ? 20 : Number(query.limit),
        after: query.cursor === undefined ? undefined : decodeCursor(query.cursor),
      };
      try {
        const page = await jobsList(deps.db, filter);
        return { jobs: page.jobs, nextCursor: page.next ? encodeCursor(page.next) : null };
      } catch (error) {
        throw toPostgresError(error);
      }
    },
  );
};
