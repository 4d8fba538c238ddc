import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolatedConfig } from '../../../test/support/context';
import { startApp, type AppFixture } from './fixture';

const config = isolatedConfig('api-job-types');
let fixture: AppFixture;

beforeAll(async () => {
  fixture = await startApp(config);
});
afterAll(async () => {
  await fixture?.close();
});

describe('GET /job-types', () => {
  it('lists every registered type with its payload schema, attempts and timeout', async () => {
    const response = await fixture.app.inject({ method: 'GET', url: '/job-types' });
    expect(response.statusCode).toBe(200);
    const { types } = response.json() as { types: { name: string; description: string | null; payloadSchema: Record<string, unknown>; maxAttempts: number; timeoutMs: number }[] };
    expect(types.map((type) => type.name)).toEqual(['email', 'fail', 'noop', 'sleep', 'webhook']);
    expect(types.find((type) => type.name === 'sleep')).toEqual({
      name: 'sleep',
      description: 'Waits `ms` milliseconds (at most one hour).',
      payloadSchema: { type: 'object', required: ['ms'], properties: { ms: { type: 'integer', minimum: 0, maximum: 3_600_000 } }, additionalProperties: false },
      maxAttempts: 3,
      timeoutMs: 3_660_000,
    });
    expect(types.find((type) => type.name === 'fail')).toMatchObject({ maxAttempts: 3, payloadSchema: { properties: { permanent: { type: 'boolean' } } } });
  });
});
