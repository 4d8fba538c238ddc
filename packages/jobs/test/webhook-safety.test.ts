import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidJobError, PermanentJobError, type JobContext } from '@sluice/core';
import { createJobRegistry } from '@sluice/jobs';
import { webhookHandler } from '@sluice/jobs/handlers';
import { waitFor } from '../../../test/support/context';
import { freePort } from '../../../test/support/redis-server';

let server: Server;
let port: number;
const hits: string[] = [];
const heldResponses: (() => void)[] = [];
let heldNow = 0;
let mostHeld = 0;

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
    if (request.url === '/drip') {
      // A byte every 100 ms, for ever: never idle long enough for an idle timeout to fire.
      response.writeHead(200, { 'content-type': 'text/plain' });
      const drip = setInterval(() => response.write('.'), 100);
      response.on('close', () => clearInterval(drip));
      return;
    }
    if (request.url === '/held') {
      heldNow += 1;
      mostHeld = Math.max(mostHeld, heldNow);
      heldResponses.push(() => {
        heldNow -= 1;
        response.end('released');
      });
      return;
    }
    if (request.url === '/emoji-at-cut') return void response.end(`${'x'.repeat(2047)}😀`);
    if (request.url === '/euro-at-cap') return void response.end(`${'x'.repeat(64 * 1024 - 1)}€ and more`);
    response.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** The test server's loopback address, which every test but the fence's own allows. */
const LOOPBACK = ['127.0.0.1'];

function run(url: string, allowedHosts: string[] = LOOPBACK, timeoutMs = 5000, extra: { headers?: Record<string, string>; method?: string } = {}): Promise<unknown> {
  return runWith(webhookHandler({ allowedHosts, timeoutMs }), url, extra);
}

function runWith(handler: ReturnType<typeof webhookHandler>, url: string, extra: { headers?: Record<string, string>; method?: string } = {}): Promise<unknown> {
  const context = {
    id: 'job-1', queue: 'default', type: 'webhook', attempt: 1, maxAttempts: 1, signal: new AbortController().signal, progress: async () => undefined,
    payload: { url, ...extra },
  };
  return Promise.resolve(handler(context as JobContext<{ url: string }>));
}

describe('webhook targets', () => {
  it.each(['http://169.254.169.254/latest/meta-data/', 'http://[fe80::1]/', 'http://[::ffff:169.254.169.254]/'])('always refuses the link-local %s, permanently', async (url) => {
    const error = await run(url).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(PermanentJobError);
    expect((error as Error).message).toContain('is link-local; such addresses are never called');
  });

  it('refuses loopback by default, and calls a listed name or range besides public addresses', async () => {
    const refused = await run(`http://127.0.0.1:${port}/a`, ['10.0.0.0/8']).catch((caught: unknown) => caught);
    expect(refused).toBeInstanceOf(PermanentJobError);
    expect((refused as Error).message).toBe(
      'webhook target 127.0.0.1 (127.0.0.1) is loopback; only public addresses are called unless WEBHOOK_ALLOWED_HOSTS lists the host or its range',
    );
    // A name is judged by what it resolves to.
    const byName = await run(`http://localhost:${port}/b`, []).catch((caught: unknown) => caught);
    expect(byName).toBeInstanceOf(PermanentJobError);
    expect((byName as Error).message).toMatch(/^webhook target localhost \(.+\) is loopback/);
    expect(hits).not.toContain('/a');
    expect(hits).not.toContain('/b');

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
    const error = await run(`http://127.0.0.1:${port}/silent`, LOOPBACK, 300).catch((caught: unknown) => caught);
    expect((error as Error).message).toContain('did not finish within 300 ms');
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('holds a target dripping its answer to the same total deadline, connection to last byte', async () => {
    const started = Date.now();
    const error = await run(`http://127.0.0.1:${port}/drip`, LOOPBACK, 500).catch((caught: unknown) => caught);
    expect((error as Error).message).toContain('did not finish within 500 ms');
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('cuts the kept body and the read cap on a character boundary', async () => {
    expect(await run(`http://127.0.0.1:${port}/emoji-at-cut`)).toEqual({ status: 200, body: 'x'.repeat(2047) });
    const capped = (await run(`http://127.0.0.1:${port}/euro-at-cap`)) as { body: string };
    expect(capped.body).toBe('x'.repeat(2048));
  });
});

describe('webhook limits', () => {
  it('has at most WEBHOOK_MAX_IN_FLIGHT requests in flight at once in a process; the rest wait their turn', async () => {
    const handler = webhookHandler({ allowedHosts: LOOPBACK, timeoutMs: 10_000, maxInFlight: 2 });
    const runs = Array.from({ length: 5 }, () => runWith(handler, `http://127.0.0.1:${port}/held`));
    await waitFor('two requests to arrive', () => heldResponses.length === 2);
    // Each release lets exactly one more in.
    for (let released = 0; released < 5; released += 1) {
      await waitFor('the next request to arrive', () => heldResponses.length > 0);
      heldResponses.shift()?.();
    }
    expect(await Promise.all(runs)).toHaveLength(5);
    expect(mostHeld).toBe(2);
  });

  it('refuses, permanently, a method WEBHOOK_METHODS does not list', async () => {
    const handler = webhookHandler({ allowedHosts: LOOPBACK, timeoutMs: 5000, methods: ['POST'] });
    const error = await runWith(handler, `http://127.0.0.1:${port}/put`, { method: 'PUT' }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(PermanentJobError);
    expect((error as Error).message).toBe('webhook method PUT is not allowed here; WEBHOOK_METHODS allows POST');
    expect(hits).not.toContain('/put');
  });
});

describe('what a failed webhook records', () => {
  let raw: TcpServer;
  let rawPort: number;
  beforeAll(async () => {
    rawPort = await freePort();
    raw = createTcpServer((socket) => {
      socket.on('error', () => undefined);
      socket.once('data', (chunk: Buffer) => {
        if (chunk.includes('/hang-up')) socket.destroy();
        else socket.end('NOT HTTP AT ALL\r\n\r\n');
      });
    });
    await new Promise<void>((resolve) => raw.listen(rawPort, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    await new Promise((resolve) => raw.close(resolve));
  });

  it('says the same words whether nothing listens, the connection is closed or the answer is malformed: failures do not map a network', async () => {
    const closedPort = await freePort();
    const messages = await Promise.all([`http://127.0.0.1:${closedPort}/x`, `http://127.0.0.1:${rawPort}/hang-up`, `http://127.0.0.1:${rawPort}/garbage`].map(
      (url) => run(url).then(() => 'answered', (error: unknown) => (error as Error).message.replace(/:\d+\/\S*/, '')),
    ));
    expect(new Set(messages)).toEqual(new Set(['webhook POST http://127.0.0.1 got no valid HTTP answer (the connection failed, was closed or the answer was malformed)']));
  });
});

describe('webhook headers', () => {
  const registry = createJobRegistry();

  it.each(['Content-Length', 'transfer-encoding', 'Host', 'connection', 'X-Sluice-Job-Id', 'proxy-authorization', 'TE', 'expect'])(
    'refuses %s at submission, saying which header may not be set',
    (name) => {
      expect(() => registry.validatePayload('webhook', { url: 'https://example.com/hook', headers: { [name]: '1' } })).toThrow(InvalidJobError);
      expect(() => registry.validatePayload('webhook', { url: 'https://example.com/hook', headers: { [name]: '1' } })).toThrow(`payload.headers may not have the key "${name}"`);
    },
  );

  it('accepts ordinary headers, and refuses a reserved one again when the handler meets it', async () => {
    expect(() => registry.validatePayload('webhook', { url: 'https://example.com/hook', headers: { authorization: 'Bearer x', 'x-tenant': 't1' } })).not.toThrow();
    const error = await run(`http://127.0.0.1:${port}/never`, LOOPBACK, 5000, { headers: { 'Content-Length': '0' } }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(PermanentJobError);
    expect(hits).not.toContain('/never');
  });
});
