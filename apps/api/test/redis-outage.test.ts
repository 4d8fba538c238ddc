import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { singleNodeConfig, waitFor } from '../../../test/support/context';
import { RedisServer } from '../../../test/support/redis-server';
import { startApp, type AppFixture } from './fixture';

let server: RedisServer;
let fixture: AppFixture;

beforeAll(async () => {
  server = await RedisServer.start();
  // A server of this file's own, which it stops and freezes: on one node in every project.
  fixture = await startApp(singleNodeConfig('api-outage', { REDIS_URL: server.url }));
});
afterAll(async () => {
  await fixture?.close();
  await server?.stop();
});

const submit = () => fixture.app.inject({ method: 'POST', url: '/jobs', payload: { type: 'noop', payload: {} } });

async function timed<T>(action: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await action();
  return { value, ms: performance.now() - started };
}

describe('when Redis goes away', () => {
  it('answers 503 at once while Redis is down, says so in /health/ready, and recovers by itself', async () => {
    const accepted = await submit();
    expect(accepted.statusCode).toBe(202);
    const { id } = accepted.json() as { id: string };

    await server.kill();
    for (let i = 0; i < 3; i += 1) {
      const { value: response, ms } = await timed(submit);
      expect(response.statusCode).toBe(503);
      expect(response.json()).toMatchObject({ error: { code: 'REDIS_UNAVAILABLE' } });
      expect(ms).toBeLessThan(2000);
    }
    // A type the API has not heard of may be served by a worker it cannot ask about: a 503, not a 400.
    const unknown = await fixture.app.inject({ method: 'POST', url: '/jobs', payload: { type: 'served-by-a-new-worker', payload: {} } });
    expect(unknown.statusCode).toBe(503);
    expect(unknown.json()).toMatchObject({ error: { code: 'REDIS_UNAVAILABLE' } });

    const ready = await fixture.app.inject({ method: 'GET', url: '/health/ready' });
    expect(ready.statusCode).toBe(503);
    expect(ready.json()).toMatchObject({ status: 'unavailable', checks: { redis: { status: 'down' }, postgres: { status: 'up' } } });
    expect((ready.json() as { error: { message: string } }).error.message).toMatch(/^Redis is down/);

    // PostgreSQL has not heard of the job yet and Redis cannot say: 503, not a misleading 404.
    const read = await fixture.app.inject({ method: 'GET', url: `/jobs/${id}` });
    expect(read.statusCode).toBe(503);

    await server.start();
    await waitFor('submissions to be accepted again', async () => (await submit()).statusCode === 202, 15_000, 100);
    expect((await fixture.app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);
  });

  it('answers the operator\'s reads (workers, system, queues, stats) with 503 within 2 s while Redis is down and while it hangs', async () => {
    const reads = ['/workers', '/system', '/queues', '/stats'];
    const expectUnavailable = async () => {
      for (const url of reads) {
        const { value: response, ms } = await timed(() => fixture.app.inject({ method: 'GET', url }));
        expect(response.statusCode, `${url}: ${response.body}`).toBe(503);
        expect(response.json(), url).toMatchObject({ error: { code: 'REDIS_UNAVAILABLE' } });
        expect(ms, url).toBeLessThan(2000);
      }
    };
    await server.kill();
    try {
      await expectUnavailable();
    } finally {
      await server.start();
    }
    await waitFor('the reads to answer again', async () => (await fixture.app.inject({ method: 'GET', url: '/system' })).statusCode === 200, 15_000, 100);
    server.freeze();
    try {
      await expectUnavailable();
    } finally {
      server.thaw();
    }
    await waitFor('the reads to answer after the hang', async () => (await fixture.app.inject({ method: 'GET', url: '/system' })).statusCode === 200, 15_000, 100);
  });

  it('answers 503 within 2 s when Redis hangs instead of failing', async () => {
    server.freeze();
    try {
      const { value: response, ms } = await timed(submit);
      expect(response.statusCode).toBe(503);
      expect(ms).toBeLessThan(2000);
    } finally {
      server.thaw();
    }
    await waitFor('submissions to be accepted after the hang', async () => (await submit()).statusCode === 202, 15_000, 100);
  });
});
