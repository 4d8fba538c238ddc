import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { AppDeps } from '../app.js';
import { ErrorBody } from '../schemas/jobs.js';

const JobTypeView = Type.Object({
  name: Type.String(),
  description: Type.Union([Type.String(), Type.Null()]),
  payloadSchema: Type.Unknown({ description: 'The JSON schema every payload of this type must satisfy.' }),
  maxAttempts: Type.Integer({ description: 'Attempts a job gets unless it asks for another number.' }),
  timeoutMs: Type.Integer({ description: 'Time one attempt may take.' }),
});

/** GET /job-types: what can be submitted, so a client can build a form or check a payload first. */
export const jobTypeRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  // The registry is fixed for the life of the process: the answer is computed once.
  const types = deps.registry.names().map((name) => {
    const type = deps.registry.get(name);
    return {
      name,
      description: type.description ?? null,
      payloadSchema: JSON.parse(JSON.stringify(type.payloadSchema)) as unknown,
      maxAttempts: type.retry.maxAttempts,
      timeoutMs: type.timeoutMs,
    };
  });
  app.get(
    '/job-types',
    { schema: { summary: 'The job types this API accepts, with their payload schemas', response: { 200: Type.Object({ types: Type.Array(JobTypeView) }), 401: ErrorBody, 403: ErrorBody } } },
    async () => ({ types }),
  );
};
