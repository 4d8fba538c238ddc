import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobsFindWithHistory, queueKeys } from '@sluice/core';
import { createJobRegistry } from '@sluice/jobs';
import { createHandlers } from '@sluice/jobs/handlers';
import { createTestDatabase, isolatedConfig, waitFor, type TestDatabase } from '../../../test/support/context';
import { startInProcess, type InProcess } from '../../../test/support/in-process';
import { freePort } from '../../../test/support/redis-server';

/**
 * A webhook target can write whatever bytes it likes into a job's result or error, with no API
 * access at all. None of it may stop the job's history from reaching PostgreSQL.
 */
const ANSWERS: Record<string, Buffer> = {
  '/nul-body': Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 8\r\nconnection: close\r\n\r\nnul\u0000body', 'latin1'),
  '/nul-status': Buffer.from('HTTP/1.1 500 Bro\u0000ken\r\ncontent-length: 0\r\nconnection: close\r\n\r\n', 'latin1'),
  // 2047 characters then an emoji: the 2048-character preview cuts the emoji's surrogate pair in two.
  '/split-emoji': Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\ncontent-length: ${2047 + 4}\r\nconnection: close\r\n\r\n`), Buffer.from(`${'x'.repeat(2047)}😀`)]),
};

const config = isolatedConfig('webhook-output');
let target: Server;
let port: number;
let database: TestDatabase;
let system: InProcess | undefined;

beforeAll(async () => {
  port = await freePort();
  target = createServer((socket) => {
    let head = '';
    socket.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1');
      const path = /^[A-Z]+ (\S+)/.exec(head)?.[1];
      if (path && head.includes('\r\n\r\n')) socket.end(ANSWERS[path] ?? Buffer.from('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n'));
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => target.listen(port, '127.0.0.1', resolve));
  database = await createTestDatabase(config);
  const handlers = createHandlers({
    smtpUrl: undefined, smtpFrom: 'x@example.test', logger: { debug() {}, info() {}, warn() {}, error() {} }, webhookAllowedHosts: ['127.0.0.1'],
  });
  system = await startInProcess(config, createJobRegistry(), handlers, { pool: database.pool });
});

afterAll(async () => {
  await system?.close();
  await database?.drop();
  await new Promise((resolve) => target?.close(resolve));
});

async function storedWhen(id: string, status: string) {
  return waitFor(`job ${id} to be ${status} in PostgreSQL`, async () => {
    const job = await jobsFindWithHistory(database.db, id);
    return job?.status === status ? job : null;
  }, 15_000);
}

describe('what a webhook target answers reaches PostgreSQL', () => {
  it('a NUL byte in the body', async () => {
    const { id } = await (system as InProcess).queue.add('webhook', { url: `http://127.0.0.1:${port}/nul-body`, method: 'GET' });
    expect((await storedWhen(id, 'completed')).result).toEqual({ status: 200, body: 'nul\ufffdbody' });
  });

  it('a NUL byte in the status text', async () => {
    const { id } = await (system as InProcess).queue.add('webhook', { url: `http://127.0.0.1:${port}/nul-status`, method: 'GET' }, { maxAttempts: 1 });
    expect((await storedWhen(id, 'dead')).lastError).toContain('answered 500 Bro\ufffdken');
  });

  it('a character split by the preview\'s cut', async () => {
    const { id } = await (system as InProcess).queue.add('webhook', { url: `http://127.0.0.1:${port}/split-emoji`, method: 'GET' });
    // The handler cuts before the character; were it cut inside, the stored text would hold U+FFFD.
    expect((await storedWhen(id, 'completed')).result).toEqual({ status: 200, body: 'x'.repeat(2047) });
  });

  it('and nothing is set aside', async () => {
    expect(await (system as InProcess).redis.xlen(queueKeys(config.redis.prefix, 'default').historySetAside)).toBe(0);
  });
});
