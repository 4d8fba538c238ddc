import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, dropRedisKeys, envFor, isolatedConfig, type TestDatabase } from '../support/context';
import { ServiceProcess } from '../support/processes';
import { freePort } from '../support/redis-server';

const KEY = 'metrics-key-0123456789abcdef';
const config = isolatedConfig('worker-metrics');
/** An address of this machine beyond loopback, where a default metrics endpoint must not answer. */
const external = Object.values(networkInterfaces()).flat().find((address) => address && !address.internal && address.family === 'IPv4')?.address;
let database: TestDatabase;
let open: { service: ServiceProcess; port: number };
let keyed: { service: ServiceProcess; port: number };

async function startWorker(env: Record<string, string>): Promise<{ service: ServiceProcess; port: number }> {
  const port = await freePort();
  const service = ServiceProcess.start('worker', 'apps/worker/src/main.ts', { ...envFor(config), METRICS_PORT: String(port), METRICS_HOST: '', METRICS_KEY: '', ...env });
  await service.waitForOutput('worker metrics listening', 30_000);
  return { service, port };
}

beforeAll(async () => {
  database = await createTestDatabase(config);
  [open, keyed] = await Promise.all([startWorker({}), startWorker({ METRICS_KEY: KEY })]);
});
afterAll(async () => {
  await open?.service.stop();
  await keyed?.service.stop();
  await database?.drop();
  await dropRedisKeys(config);
});

const scrape = (host: string, port: number, headers: Record<string, string> = {}) => fetch(`http://${host}:${port}/metrics`, { headers, signal: AbortSignal.timeout(3000) });

describe('a worker metrics endpoint', () => {
  it('listens on loopback by default', async () => {
    expect((await scrape('127.0.0.1', open.port)).status).toBe(200);
    expect(open.service.output.join('\n')).toMatch(/"host":"127\.0\.0\.1".*"msg":"worker metrics listening"/);
  });

  it.runIf(external !== undefined)('does not answer on the machine\'s other addresses unless METRICS_HOST says so', async () => {
    await expect(scrape(external as string, open.port)).rejects.toThrow();
  });

  it('with METRICS_KEY, answers 401 without the key or with a wrong one, and serves the right one', async () => {
    const missing = await scrape('127.0.0.1', keyed.port);
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer');
    expect((await scrape('127.0.0.1', keyed.port, { authorization: 'Bearer wrong-key-0123456789abc' })).status).toBe(401);
    const served = await scrape('127.0.0.1', keyed.port, { authorization: `Bearer ${KEY}` });
    expect(served.status).toBe(200);
    expect(await served.text()).toContain('sluice_jobs_completed_total');
    expect(keyed.service.output.join('\n')).not.toContain(KEY);
  });
});
