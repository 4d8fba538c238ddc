import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolatedConfig } from '../../../test/support/context';
import { startApp, type AppFixture } from './fixture';

const config = isolatedConfig('api-unknown-queue', { QUEUES: 'default,emails' });
let fixture: AppFixture;

beforeAll(async () => {
  fixture = await startApp(config);
});
afterAll(async () => {
  await fixture?.close();
});

const MESSAGE = 'Queue "elsewhere" is not served here. Known queues: default, emails.';

/** Every route that takes a queue name, in its body, path or query, asked about one this API does not serve. */
const requests: [string, { method: 'GET' | 'POST'; url: string; payload?: object }, string][] = [
  ['POST /jobs', { method: 'POST', url: '/jobs', payload: { type: 'noop', payload: {}, queue: 'elsewhere' } }, MESSAGE],
  ['POST /jobs/bulk', { method: 'POST', url: '/jobs/bulk', payload: { jobs: [{ type: 'noop', payload: {} }, { type: 'noop', payload: {}, queue: 'elsewhere' }] } },
    'Queue "elsewhere" (jobs[1].queue) is not served here. Known queues: default, emails.'],
  ['GET /jobs', { method: 'GET', url: '/jobs?queue=elsewhere' }, MESSAGE],
  ['GET /jobs/dead', { method: 'GET', url: '/jobs/dead?queue=elsewhere' }, MESSAGE],
  ['GET /jobs/dead/count', { method: 'GET', url: '/jobs/dead/count?queue=elsewhere' }, MESSAGE],
  ['POST /jobs/dead/retry', { method: 'POST', url: '/jobs/dead/retry', payload: { queue: 'elsewhere' } }, MESSAGE],
  ['GET /queues/:name', { method: 'GET', url: '/queues/elsewhere' }, MESSAGE],
  ['POST /queues/:name/pause', { method: 'POST', url: '/queues/elsewhere/pause' }, MESSAGE],
  ['POST /queues/:name/resume', { method: 'POST', url: '/queues/elsewhere/resume' }, MESSAGE],
];

describe('a queue the API does not serve', () => {
  it.each(requests)('%s answers 404 UNKNOWN_QUEUE naming the known queues', async (_route, request, message) => {
    const response = await fixture.app.inject(request);
    expect(response.statusCode, response.body).toBe(404);
    expect(response.json()).toEqual({ error: { code: 'UNKNOWN_QUEUE', message } });
  });

  it('is documented as the 404 of each of those routes', async () => {
    const document = (await fixture.app.inject({ method: 'GET', url: '/docs/json' })).json() as {
      paths: Record<string, Record<string, { responses: Record<string, { description: string }> }>>;
    };
    for (const [route] of requests) {
      const [method, path] = route.split(' ') as [string, string];
      const operation = document.paths[path.replace(':name', '{name}')]?.[method.toLowerCase()];
      expect(operation?.responses['404']?.description, route).toContain('UNKNOWN_QUEUE');
    }
  });
});
