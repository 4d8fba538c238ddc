import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { AppDeps } from '../app.js';
import { ErrorBody } from '../schemas/jobs.js';
import { FlowLimitsBody } from '../schemas/limits.js';

const definitionFields = {
  description: Type.Union([Type.String(), Type.Null()]),
  payloadSchema: Type.Unknown({ description: 'The JSON schema every payload of this type must satisfy.' }),
  maxAttempts: Type.Integer({ description: 'Attempts a job gets unless it asks for another number.' }),
  timeoutMs: Type.Integer({ description: 'Time one attempt may take.' }),
  limits: FlowLimitsBody,
};

const JobTypeView = Type.Object({
  name: Type.String(),
  ...definitionFields,
  queues: Type.Array(Type.String(), { description: 'Queues whose live workers serve the type.' }),
  workers: Type.Integer({ description: 'Live workers that serve the type; 0 for a type only declared to the API (JOB_TYPES_FILE).' }),
  declared: Type.Boolean({ description: 'Declared to the API in JOB_TYPES_FILE, so it is accepted with no worker live.' }),
  conflicts: Type.Array(Type.Object({ workers: Type.Array(Type.String()), ...definitionFields }), {
    description:
      'When live workers publish differing definitions of the type: each variant with its workers. Submissions are checked against the declared one, else the newest worker\'s.',
  }),
});

/** GET /job-types: what can be submitted, so a client can build a form or check a payload first. */
export const jobTypeRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  app.get(
    '/job-types',
    {
      schema: {
        summary: 'The job types this API accepts: those live workers publish, and any declared in JOB_TYPES_FILE',
        response: { 200: Type.Object({ types: Type.Array(JobTypeView) }), 401: ErrorBody, 403: ErrorBody },
      },
    },
    async () => ({ types: [...deps.types.list()] }),
  );
};
