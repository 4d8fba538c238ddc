import { get } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolatedConfig, waitFor } from '../../../test/support/context';
import { startApp, type AppFixture } from './fixture';

const KEY = 'stream-key-0123456789abcdef';
const INTERVAL_MS = 100;

interface Snapshot {
  at: string;
  queues: Record<string, { pending: number; paused: boolean; perSecond: { second: number; completed: number; failed: number }[] }>;
}

/** A connected client of GET /stats/stream that collects the snapshots it is sent. */
interface StreamClient {
  status: number;
  snapshots: Snapshot[];
  /** Resolves when the server ends the stream. */
  ended: Promise<void>;
  abort(): void;
}

/** Opens the stream with node:http, whose abort closes the connection at once (fetch's pool would keep it). */
function connect(baseUrl: string, headers: Record<string, string> = {}): Promise<StreamClient> {
  return new Promise((resolve, reject) => {
    const request = get(`${baseUrl}/stats/stream`, { headers }, (response) => {
      const snapshots: Snapshot[] = [];
      let buffer = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) !== -1) {
          const [event, data] = buffer.slice(0, end).split('\n');
          buffer = buffer.slice(end + 2);
          if (event === 'event: snapshot') snapshots.push(JSON.parse((data ?? '').slice('data: '.length)) as Snapshot);
        }
      });
      const ended = new Promise<void>((done) => response.on('close', done));
      resolve({ status: response.statusCode ?? 0, snapshots, ended, abort: () => request.destroy() });
    });
    request.on('error', reject);
  });
}

async function listen(fixture: AppFixture): Promise<string> {
  await fixture.app.listen({ port: 0, host: '127.0.0.1' });
  const address = fixture.app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return `http://127.0.0.1:${address.port}`;
}

/** An app of its own for the enclosing describe, listening on a free port, with a fast stats tick. */
function listeningApp(label: string, env: Record<string, string>): { fixture: AppFixture; baseUrl: string } {
  const state = {} as { fixture: AppFixture; baseUrl: string };
  beforeAll(async () => {
    state.fixture = await startApp(isolatedConfig(label, env), { statsIntervalMs: INTERVAL_MS });
    state.baseUrl = await listen(state.fixture);
  });
  afterAll(async () => {
    await state.fixture?.close();
  });
  return state;
}

describe('GET /stats/stream', () => {
  const served = listeningApp('api-stream', { QUEUES: 'default,other' });

  it('pushes a snapshot of every queue about once an interval, and the counts follow the jobs', async () => {
    const client = await connect(served.baseUrl);
    expect(client.status).toBe(200);
    try {
      const first = await waitFor('a first snapshot', () => client.snapshots[0]);
      expect(Object.keys(first.queues)).toEqual(['default', 'other']);
      expect(first.queues.default).toMatchObject({ pending: 0, paused: false });
      expect(first.queues.default?.perSecond).toHaveLength(60);

      await served.fixture.submit({ type: 'noop', payload: {} });
      await served.fixture.submit({ type: 'noop', payload: {}, queue: 'other' });
      await waitFor('a snapshot with the new jobs', () => client.snapshots.some((s) => s.queues.default?.pending === 1 && s.queues.other?.pending === 1));
      const times = client.snapshots.map((s) => Date.parse(s.at));
      expect([...times].sort((a, b) => a - b)).toEqual(times);
    } finally {
      client.abort();
    }
  });

  it('reads once per tick for all clients, and stops its timer when the last one leaves', async () => {
    const clients = await Promise.all([connect(served.baseUrl), connect(served.baseUrl), connect(served.baseUrl)]);
    try {
      await waitFor('every client to get snapshots', () => clients.every((client) => client.snapshots.length >= 3));
      expect(served.fixture.app.statsHub.listenerCount).toBe(3);
      expect(served.fixture.app.statsHub.running).toBe(true);
      // One reading shared: the clients hold the very same snapshots, not one each.
      const times = clients.map((client) => new Set(client.snapshots.map((s) => s.at)));
      const shared = [...(times[0] ?? [])].filter((at) => times.every((set) => set.has(at)));
      expect(shared.length).toBeGreaterThanOrEqual(2);
    } finally {
      for (const client of clients) client.abort();
    }
    await waitFor('the hub to stop', () => served.fixture.app.statsHub.listenerCount === 0 && !served.fixture.app.statsHub.running);
  });

  it('is in the OpenAPI document as an event stream', async () => {
    const document = (await served.fixture.app.inject({ method: 'GET', url: '/docs/json' })).json() as { paths: Record<string, { get?: { responses: Record<string, { content?: Record<string, unknown> }> } }> };
    expect(Object.keys(document.paths['/stats/stream']?.get?.responses['200']?.content ?? {})).toEqual(['text/event-stream']);
  });
});

describe('GET /stats/stream with API keys', () => {
  const served = listeningApp('api-stream-auth', { API_KEYS: KEY });

  it('answers 401 without a key and 403 with a wrong one, starting no timer', async () => {
    expect((await connect(served.baseUrl)).status).toBe(401);
    expect((await connect(served.baseUrl, { authorization: 'Bearer wrong-key-0123456789abcdef' })).status).toBe(403);
    expect(served.fixture.app.statsHub.running).toBe(false);
  });

  it('streams to a client with the key, and app.close() ends the stream instead of waiting for it', async () => {
    const client = await connect(served.baseUrl, { authorization: `Bearer ${KEY}` });
    expect(client.status).toBe(200);
    await waitFor('a snapshot', () => client.snapshots[0]);
    const closing = Date.now();
    await served.fixture.app.close();
    await client.ended;
    expect(Date.now() - closing).toBeLessThan(2000);
    expect(served.fixture.app.statsHub.running).toBe(false);
  });
});
