import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Validator } from '@seriousme/openapi-schema-validator';
import { GROUP_PATTERN_SOURCE, MAX_CONCURRENCY_CAP } from '@sluice/core';
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
        'GET /stats', 'GET /stats/history', 'GET /stats/history/types', 'GET /queues', 'GET /queues/{name}', 'POST /queues/{name}/pause', 'POST /queues/{name}/resume', 'PUT /queues/{name}/limits', 'GET /health', 'GET /health/ready',
        'GET /metrics', 'POST /jobs/dead/retry', 'GET /jobs/dead/count', 'GET /job-types', 'GET /stats/stream', 'GET /workers', 'GET /system',
        'POST /jobs/{id}/run-now', 'POST /jobs/{id}/discard', 'POST /jobs/dead/discard', 'POST /jobs/actions/{action}',
        'POST /jobs/actions/{action}/matching/count', 'POST /jobs/actions/{action}/matching',
        'POST /schedules', 'GET /schedules', 'GET /schedules/{name}', 'PATCH /schedules/{name}', 'DELETE /schedules/{name}',
        'POST /schedules/{name}/pause', 'POST /schedules/{name}/resume', 'POST /schedules/{name}/trigger',
      ].sort(),
    );
  });

  it('documents a job\'s fair group where it is submitted, shown and filtered, a queue\'s groupConcurrency, and the groups\' waiting reasons', async () => {
    type Schema = { properties: Record<string, Record<string, unknown> & Schema>; anyOf: Schema[] };
    const document = (await fixture.app.inject({ method: 'GET', url: '/docs/json' })).json() as {
      paths: Record<string, Record<string, {
        requestBody: { content: Record<string, { schema: Schema }> };
        parameters: { name: string; schema: unknown }[];
        responses: Record<string, { content: Record<string, { schema: Schema }> }>;
      }>>;
    };
    const body = (path: string, method: string) => document.paths[path]?.[method]?.requestBody.content['application/json']?.schema.properties;
    const group = { type: 'string', pattern: GROUP_PATTERN_SOURCE };
    expect(body('/jobs', 'post')?.group).toMatchObject({ ...group, description: expect.stringContaining('groupConcurrency') });
    expect((body('/jobs/bulk', 'post')?.jobs as unknown as { items: Schema } | undefined)?.items.properties.group).toMatchObject(group);
    expect(document.paths['/jobs']?.get?.parameters.find(({ name }) => name === 'group')).toMatchObject({ schema: group });
    expect(body('/queues/{name}/limits', 'put')?.groupConcurrency).toMatchObject({ type: 'integer', minimum: 1, maximum: MAX_CONCURRENCY_CAP });
    const job = document.paths['/jobs/{id}']?.get?.responses['200']?.content['application/json']?.schema;
    expect(job?.properties.group).toMatchObject({ anyOf: [{ type: 'string' }, { type: 'null' }] });
    expect(job?.properties.waiting?.anyOf[0]?.properties.reason?.enum).toEqual(expect.arrayContaining(['group_turn', 'group_cap']));
  });

  it('serves the interactive documentation at /docs', async () => {
    const response = await fixture.app.inject({ method: 'GET', url: '/docs/' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toContain('text/html');
  });
});
