import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeRedis, createRedis, queueKeys, waitForRedis, type ScriptedRedis } from '@sluice/core';
import { isolatedConfig } from '../../../test/support/context';
import { startApp, type AppFixture } from './fixture';

const config = isolatedConfig('storable-input', { HISTORY_LAG_READY_MS: '30000' });
let fixture: AppFixture;
let redis: ScriptedRedis;

beforeAll(async () => {
  fixture = await startApp(config);
  redis = createRedis(config.redis);
  // A connection that fails fast refuses commands until it is ready.
  await waitForRedis(redis, 5000);
});
afterAll(async () => {
  await closeRedis(redis);
  await fixture?.close();
});

/** POST /jobs with a body written as raw JSON text, so it can spell what JavaScript literals would not keep. */
function submitRaw(body: string) {
  return fixture.app.inject({ method: 'POST', url: '/jobs', headers: { 'content-type': 'application/json' }, payload: body });
}

describe('strings PostgreSQL cannot store are refused at the edge', () => {
  it.each([
    ['an unpaired surrogate in a payload string', '{"type":"noop","payload":{"x":"\\ud800"}}', 'payload.x', 'unpaired surrogate'],
    ['a low surrogate alone, deep in an array', '{"type":"noop","payload":{"a":[{"b":["ok","\\udc00"]}]}}', 'payload.a[0].b[1]', 'unpaired surrogate'],
    ['a NUL character in a key', '{"type":"noop","payload":{"k\\u0000":1}}', 'payload', 'NUL'],
    ['an unpaired surrogate in the idempotency key', '{"type":"noop","payload":{},"idempotencyKey":"a\\ud800"}', 'idempotencyKey', 'unpaired surrogate'],
  ])('answers 400 for %s, naming the field', async (_, body, field, problem) => {
    const response = await submitRaw(body);
    expect(response.statusCode, response.body).toBe(400);
    const { error } = response.json() as { error: { code: string; message: string } };
    expect(error.message).toContain(field);
    expect(error.message).toContain(problem);
  });

  it('accepts a surrogate pair, which is a real character', async () => {
    const response = await submitRaw('{"type":"noop","payload":{"x":"\\ud83d\\ude00"}}');
    expect(response.statusCode, response.body).toBe(202);
  });

  it('answers 400 for a payload nested deeper than PostgreSQL reads, in a bulk submission too', async () => {
    const deep = `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`;
    const single = await submitRaw(`{"type":"noop","payload":${deep}}`);
    expect(single.statusCode, single.body).toBe(400);
    expect((single.json() as { error: { message: string } }).error.message).toMatch(/payload is nested more than 256 levels deep \(PAYLOAD_MAX_DEPTH\)/);
    const bulk = await fixture.app.inject({
      method: 'POST', url: '/jobs/bulk', headers: { 'content-type': 'application/json' }, payload: `{"jobs":[{"type":"noop","payload":{}},{"type":"noop","payload":${deep}}]}`,
    });
    expect(bulk.statusCode, bulk.body).toBe(400);
    expect((bulk.json() as { error: { message: string } }).error.message).toContain('jobs[1].payload');
  });
});

describe('readiness and the history', () => {
  it('answers 503 degraded once the oldest unrecorded event is older than HISTORY_LAG_READY_MS, and ok again once it is recorded', async () => {
    const events = queueKeys(config.redis.prefix, 'default').events;
    // This app runs no recorder: what earlier tests submitted is dropped, not recorded.
    await redis.del(events);
    const ready = await fixture.app.inject({ method: 'GET', url: '/health/ready' });
    expect(ready.statusCode, ready.body).toBe(200);
    // An entry from a minute ago that no recorder has written (this app runs none).
    const stuck = await redis.xadd(events, `${Date.now() - 60_000}-0`, 'events', '[]');
    const degraded = await fixture.app.inject({ method: 'GET', url: '/health/ready' });
    expect(degraded.statusCode).toBe(503);
    const body = degraded.json() as { status: string; checks: { history: { status: string; lagMs: number; backlog: number } }; error: { code: string; message: string } };
    expect(body.status).toBe('degraded');
    expect(body.error.code).toBe('HISTORY_BEHIND');
    expect(body.checks.history).toMatchObject({ status: 'behind', backlog: 1 });
    expect(body.checks.history.lagMs).toBeGreaterThanOrEqual(60_000);
    const metrics = await fixture.app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toMatch(/sluice_history_lag_seconds\{queue="default"\} 6\d/);
    expect(metrics.body).toMatch(/sluice_history_backlog_entries\{queue="default"\} 1/);
    await redis.xdel(events, stuck as string);
    expect((await fixture.app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);
  });
});
