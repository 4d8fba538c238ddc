import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';

/**
 * The OpenAPI document is generated from the route schemas themselves, so it cannot drift from what
 * the API validates and answers. Served at /docs (UI) and /docs/json.
 */
export async function registerOpenApi(app: FastifyInstance, secured: boolean): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Sluice',
        version: '0.1.0',
        description: 'A background job queue: submit jobs, follow them, steer the queues. Errors are `{ "error": { "code", "message" } }`.',
      },
      ...(secured && {
        components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'One of API_KEYS.' } } },
        security: [{ apiKey: [] }],
      }),
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
}
