import { createServer, type IncomingMessage, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SMTPServer } from 'smtp-server';
import { jobsFindWithHistory, type Queue } from '@sluice/core';
import { createJobRegistry, loadBuiltinJobsConfig } from '@sluice/jobs';
import { createHandlers } from '@sluice/jobs/handlers';
import { createTestDatabase, isolatedConfig, waitFor, type TestDatabase } from '../../../test/support/context';
import { startInProcess, type InProcess } from '../../../test/support/in-process';
import { freePort } from '../../../test/support/redis-server';

interface Delivery {
  from: string;
  to: string[];
  message: string;
}
interface WebhookCall {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

const deliveries: Delivery[] = [];
const calls: WebhookCall[] = [];
let smtp: SMTPServer;
let http: Server;
let smtpPort: number;
let httpPort: number;
let database: TestDatabase;
let system: InProcess | undefined;
let queue: Queue;

beforeAll(async () => {
  smtpPort = await freePort();
  smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        deliveries.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((rcpt) => rcpt.address),
          message: Buffer.concat(chunks).toString(),
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => smtp.listen(smtpPort, '127.0.0.1', resolve));

  httpPort = await freePort();
  http = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      calls.push({ method: request.method ?? '', url: request.url ?? '', headers: request.headers, body });
      response.statusCode = request.url === '/broken' ? 500 : 200;
      response.end(request.url === '/broken' ? 'boom' : 'thanks');
    });
  });
  await new Promise<void>((resolve) => http.listen(httpPort, '127.0.0.1', resolve));

  const config = isolatedConfig('builtin-types');
  database = await createTestDatabase(config);
  const jobsConfig = loadBuiltinJobsConfig({ SMTP_URL: `smtp://127.0.0.1:${smtpPort}`, SMTP_FROM: 'Sluice <jobs@example.test>', WEBHOOK_ALLOWED_HOSTS: '127.0.0.1' });
  const handlers = createHandlers({ ...jobsConfig, logger: { debug() {}, info() {}, warn() {}, error() {} } });
  system = await startInProcess(config, createJobRegistry(), handlers, { pool: database.pool });
  queue = system.queue;
});

afterAll(async () => {
  await system?.close();
  await database?.drop();
  await new Promise<void>((resolve) => smtp?.close(() => resolve()));
  await new Promise((resolve) => http?.close(resolve));
});

async function storedWhen(id: string, status: string) {
  return waitFor(`job ${id} to be ${status} in PostgreSQL`, async () => {
    const job = await jobsFindWithHistory(database.db, id);
    return job?.status === status ? job : null;
  }, 15_000);
}

describe('email', () => {
  it('delivers to the SMTP server with the right sender, recipient and subject', async () => {
    const { id } = await queue.add('email', { to: 'ada@example.test', subject: 'Your report is ready', text: 'See attached.' });
    const job = await storedWhen(id, 'completed');
    expect(deliveries).toHaveLength(1);
    const [delivery] = deliveries;
    expect(delivery?.to).toEqual(['ada@example.test']);
    expect(delivery?.from).toBe('jobs@example.test');
    expect(delivery?.message).toMatch(/^Subject: Your report is ready\r?$/m);
    expect(delivery?.message).toContain('See attached.');
    expect(delivery?.message).toContain(`Message-ID: <${id}@sluice>`);
    expect(job.result).toEqual({ messageId: `<${id}@sluice>` });
  });
});

describe('webhook', () => {
  it('sends the body as JSON with the job id and completes on a 2xx', async () => {
    const { id } = await queue.add('webhook', { url: `http://127.0.0.1:${httpPort}/hook`, headers: { 'x-tenant': 't1' }, body: [1, { a: 'b' }] });
    const job = await storedWhen(id, 'completed');
    const call = calls.find((c) => c.url === '/hook');
    expect(call?.method).toBe('POST');
    expect(call?.headers['content-type']).toBe('application/json');
    expect(call?.headers['x-tenant']).toBe('t1');
    expect(call?.headers['x-sluice-job-id']).toBe(id);
    expect(JSON.parse(call?.body ?? '')).toEqual([1, { a: 'b' }]);
    expect(job.result).toEqual({ status: 200, body: 'thanks' });
  });

  it('records a 500 answer as a failed attempt with the status in the error', async () => {
    const { id } = await queue.add('webhook', { url: `http://127.0.0.1:${httpPort}/broken`, body: { x: 1 } }, { maxAttempts: 1 });
    const job = await storedWhen(id, 'dead');
    const failed = job.history.filter((event) => event.status === 'failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]?.error).toContain('answered 500');
    expect(job.lastError).toContain('answered 500');
    expect(calls.filter((c) => c.url === '/broken')).toHaveLength(1);
  });
});

describe('webhook safety', () => {
  it('dead-letters a job aimed at a link-local address at once, with the refusal in its history', async () => {
    const { id } = await queue.add('webhook', { url: 'http://169.254.169.254/latest/meta-data/' });
    const job = await storedWhen(id, 'dead');
    expect(job.attempts).toBe(1);
    expect(job.history.at(-1)).toMatchObject({ status: 'dead', reason: 'permanent' });
    expect(job.history.find((event) => event.status === 'failed')?.error).toBe(
      'webhook target 169.254.169.254 (169.254.169.254) is link-local; such addresses are never called',
    );
  });
});

describe('sleep and fail', () => {
  it('sleep waits its milliseconds; fail fails its first times attempts then succeeds', async () => {
    const slept = await queue.add('sleep', { ms: 50 });
    const flaky = await queue.add('fail', { times: 1 });
    const sleepJob = await storedWhen(slept.id, 'completed');
    expect(sleepJob.result).toEqual({ slept: 50 });
    const flakyJob = await storedWhen(flaky.id, 'completed');
    expect(flakyJob.attempts).toBe(2);
    expect(flakyJob.history.map((event) => event.status)).toEqual(['pending', 'processing', 'failed', 'pending', 'processing', 'completed']);
  });

  it('fail with permanent: true goes straight to dead', async () => {
    const { id } = await queue.add('fail', { permanent: true, message: 'nope' });
    const job = await storedWhen(id, 'dead');
    expect(job.attempts).toBe(1);
    expect(job.history.at(-1)).toMatchObject({ status: 'dead', reason: 'permanent', error: 'nope' });
  });
});
