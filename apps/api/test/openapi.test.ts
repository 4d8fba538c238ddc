import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Validator } from '@seriousme/openapi-schema-validator';
import { isolatedConfig } from '../../../test/support/context';
import { startApp, type AppFixture } from './fixture';

const config = isolatedConfig('api-openapi');
let fixture: AppFixture;

beforeAll(async () => {
  fixture = await startApp(config);
});
afterAll(async () => {
  await fixture?.close();
});

describe('the OpenAPI document', () => {
  it('is valid OpenAPI, generated from the routes, and lists every route', async () => {
    const response = await fixture.app.inject({ method: 'GET', url: '/docs/json' });
    expect(response.statusCode).toBe(200);
    const document = response.json() as { openapi: string; paths: Record<string, Record<string, unknown>> };

    const validator = new Validator();
    const result = await validator.validate(document);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(document.openapi).toMatch(/^3\./);

    const documented = Object.entries(document.paths).flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`));
    // Exactly the API's routes: none missing, none the document invents.
    expect(documented.sort()).toEqual(
      [
        'POST /jobs', 'POST /jobs/bulk', 'GET /jobs', 'GET /jobs/{id}', 'GET /jobs/dead', 'POST /jobs/{id}/retry', 'POST /jobs/{id}/cancel',
        'GET /stats', 'GET /queues', 'GET /queues/{name}', 'POST /queues/{name}/pause', 'POST /queues/{name}/resume', 'PUT /queues/{name}/limits', 'GET /health', 'GET /health/ready',
        'GET /metrics', 'POST /jobs/dead/retry', 'GET /jobs/dead/count', 'GET /job-types', 'GET /stats/stream',
        'POST /jobs/{id}/run-now', 'POST /jobs/{id}/discard', 'POST /jobs/dead/discard', 'POST /jobs/actions/{action}',
        'POST /jobs/actions/{action}/matching/count', 'POST /jobs/actions/{action}/matching',
        'POST /schedules', 'GET /schedules', 'GET /schedules/{name}', 'PATCH /schedules/{name}', 'DELETE /schedules/{name}',
        'POST /schedules/{name}/pause', 'POST /schedules/{name}/resume', 'POST /schedules/{name}/trigger',
      ].sort(),
    );
  });

  it('serves the interactive documentation at /docs', async () => {
    const response = await fixture.app.inject({ method: 'GET', url: '/docs/' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toContain('text/html');
  });
});
