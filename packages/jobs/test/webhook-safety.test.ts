import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PermanentJobError, type JobContext } from '@sluice/core';
import { webhookHandler } from '@sluice/jobs/handlers';
import { freePort } from '../../../test/support/redis-server';

let server: Server;
let port: number;
const hits: string[] = [];

beforeAll(async () => {
  port = await freePort();
  server = createServer((request, response) => {
    hits.push(request.url ?? '');
    if (request.url === '/redirect') return void response.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
    if (request.url === '/huge') {
      response.writeHead(200, { 'content-type': 'text/plain' });
      const chunk = 'z'.repeat(64 * 1024);
      // Far more than the handler reads; it must stop reading, not wait for the end.
      let sent = 0;
      const pump = (): void => {
        while (sent < 10_000 && response.write(chunk)) sent += 1;
        if (sent < 10_000) response.once('drain', pump);
        else response.end();
      };
      pump();
      return;
    }
    if (request.url === '/silent') return;
    response.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function run(url: string, allowedHosts: string[] = [], timeoutMs = 5000): Promise<unknown> {
  const handler = webhookHandler({ allowedHosts, timeoutMs });
  const context = { id: 'job-1', queue: 'default', type: 'webhook', attempt: 1, maxAttempts: 1, signal: new AbortController().signal, progress: async () => undefined, payload: { url } };
  return Promise.resolve(handler(context as JobContext<{ url: string }>));
}

describe('webhook targets', () => {
  it.each(['http://169.254.169.254/latest/meta-data/', 'http://[fe80::1]/', 'http://[::ffff:169.254.169.254]/'])('always refuses the link-local %s, permanently', async (url) => {
    const error = await run(url).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(PermanentJobError);
    expect((error as Error).message).toContain('is link-local; such addresses are never called');
  });

  it('with an allow-list, refuses what is not on it and calls what is, by name or by range', async () => {
    const refused = await run(`http://127.0.0.1:${port}/a`, ['10.0.0.0/8']).catch((caught: unknown) => caught);
    expect(refused).toBeInstanceOf(PermanentJobError);
    expect((refused as Error).message).toBe('webhook target 127.0.0.1 (127.0.0.1) is not in WEBHOOK_ALLOWED_HOSTS');
    expect(hits).not.toContain('/a');

    expect(await run(`http://localhost:${port}/by-range`, ['127.0.0.0/8'])).toMatchObject({ status: 200 });
    expect(await run(`http://localhost:${port}/by-name`, ['localhost'])).toMatchObject({ status: 200 });
    expect(hits).toEqual(expect.arrayContaining(['/by-range', '/by-name']));
  });

  it('does not follow a redirect, so one to a refused target goes nowhere', async () => {
    const error = await run(`http://127.0.0.1:${port}/redirect`).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(PermanentJobError);
    expect((error as Error).message).toContain('answered 302 Found (redirects are not followed)');
  });

  it('reads a response body only up to its cap', async () => {
    const result = (await run(`http://127.0.0.1:${port}/huge`)) as { status: number; body: string };
    expect(result.status).toBe(200);
    expect(result.body).toHaveLength(2048);
  });

  it('gives up on a target that does not answer within the timeout', async () => {
    const started = Date.now();
    const error = await run(`http://127.0.0.1:${port}/silent`, [], 300).catch((caught: unknown) => caught);
    expect((error as Error).message).toContain('took longer than 300 ms');
    expect(Date.now() - started).toBeLessThan(3000);
  });
});
