import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { closeRedis, createDatabase, createPool, createRedis, DeadLetters, JobTypeCatalog, loadConfig, PostgresUnavailableError, Queue, QueueAdmin, QueueLayouts, RedisUnavailableError } from '@sluice/core';
import { builtinJobTypes } from '@sluice/jobs';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../apps/api/src/app';
import { registerErrorHandling } from '../../apps/api/src/plugins/errors';
import { isolatedConfig } from '../support/context';
import { freePort } from '../support/redis-server';

/** A log that a test can read. */
function memoryLog(): { lines: string[]; logger: FastifyBaseLogger } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { lines, logger: pino({ level: 'warn' }, sink) };
}

function expectNoAddress(body: string): void {
  expect(body).not.toMatch(/\d+\.\d+\.\d+\.\d+|ECONN|ENOTFOUND|:\d{2,5}\b|localhost|\.internal/);
}

/** The request id a 5xx gives in its header, after checking that its sentence names it too. */
function requestIdOf(response: { headers: Record<string, unknown>; json(): unknown }): string {
  const requestId = String(response.headers['x-request-id']);
  expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
  expect((response.json() as { error: { message: string } }).error.message).toContain(`Request id ${requestId}.`);
  return requestId;
}

describe('the API with Redis and PostgreSQL down', () => {
  let app: FastifyInstance;
  const log = memoryLog();
  let close: () => Promise<void>;

  beforeAll(async () => {
    const base = isolatedConfig('leaks');
    const config = loadConfig({ REDIS_URL: `redis://127.0.0.1:${await freePort()}`, REDIS_PREFIX: base.redis.prefix, DATABASE_URL: `postgres://postgres@127.0.0.1:${await freePort()}/sluice`, DATABASE_SCHEMA: base.postgres.schema });
    const redis = createRedis(config.redis);
    redis.on('error', () => undefined);
    const pool = createPool(config.postgres);
    const types = new JobTypeCatalog({ redis, prefix: config.redis.prefix, declared: builtinJobTypes });
    const layouts = new QueueLayouts(redis, config.redis.prefix, config.queue.partitions);
    const deps = {
      queue: new Queue({ redis, redisConfig: config.redis, queueConfig: config.queue, registry: types }),
      deadLetters: new DeadLetters(redis, layouts, config.queue.queues),
      queueAdmin: new QueueAdmin(redis, layouts, config.queue.queues),
      redis, redisConfig: config.redis, layouts, pool, db: createDatabase(pool), types,
    };
    app = await buildApp(config, deps, { logger: log.logger });
    await app.ready();
    close = async () => {
      await app.close();
      await closeRedis(redis);
      await pool.end();
    };
  });
  afterAll(async () => {
    await close?.();
  });

  it('says in /health/ready why Redis and PostgreSQL are down, in words that name no host or port', async () => {
    const response = await app.inject({ method: 'GET', url: '/health/ready' });
    expect(response.statusCode).toBe(503);
    expectNoAddress(response.body);
    expect(response.json()).toMatchObject({
      status: 'unavailable',
      checks: { redis: { status: 'down', error: 'not connected' }, postgres: { status: 'down', error: 'connection refused' } },
    });
  });

  it('answers 503 naming Redis and a request id, never its address, and logs under that id', async () => {
    for (const request of [{ method: 'POST' as const, url: '/jobs', payload: { type: 'noop', payload: {} } }, { method: 'GET' as const, url: '/stats' }]) {
      const response = await app.inject(request);
      expect(response.statusCode, request.url).toBe(503);
      expectNoAddress(response.body);
      const requestId = requestIdOf(response);
      expect(response.json()).toMatchObject({ error: { code: 'REDIS_UNAVAILABLE', message: expect.stringMatching(/^Redis is not answering \([a-z ]+\); try again in a moment\./) } });
      expect(log.lines.some((line) => line.includes(requestId)), 'a log line under the request id').toBe(true);
    }
  });
});

describe('5xx answers for every failure', () => {
  const log = memoryLog();
  const app = Fastify({ loggerInstance: log.logger, genReqId: () => randomUUID() });
  const refused = (address: string) => Object.assign(new Error(`connect ECONNREFUSED ${address}`), { code: 'ECONNREFUSED' });
  const unresolved = Object.assign(new Error('getaddrinfo ENOTFOUND redis.prod.internal'), { code: 'ENOTFOUND' });

  beforeAll(async () => {
    registerErrorHandling(app);
    app.get('/postgres', async () => {
      throw new PostgresUnavailableError(refused('10.20.30.40:5432'));
    });
    app.get('/redis', async () => {
      throw new RedisUnavailableError(unresolved);
    });
    app.get('/bug', async () => {
      throw new Error('pool of db-7.internal:6432 exploded');
    });
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
  });

  it('say why a dependency failed in words that name no host or port', async () => {
    const postgres = await app.inject({ method: 'GET', url: '/postgres' });
    expect(postgres.statusCode).toBe(503);
    expectNoAddress(postgres.body);
    expect(postgres.json()).toMatchObject({ error: { code: 'POSTGRES_UNAVAILABLE', message: expect.stringMatching(/^PostgreSQL is not answering \(connection refused\); try again in a moment\./) } });
    const redis = await app.inject({ method: 'GET', url: '/redis' });
    expectNoAddress(redis.body);
    expect(redis.json()).toMatchObject({ error: { code: 'REDIS_UNAVAILABLE', message: expect.stringMatching(/^Redis is not answering \(host name not found\)/) } });
    // The operator's log keeps the whole story, under the id the client was given.
    const postgresId = requestIdOf(postgres);
    expect(log.lines.find((line) => line.includes(postgresId))).toContain('10.20.30.40:5432');
  });

  it('give an unexpected error a request id and nothing of its message', async () => {
    const response = await app.inject({ method: 'GET', url: '/bug' });
    expect(response.statusCode).toBe(500);
    expectNoAddress(response.body);
    expect(response.json()).toMatchObject({ error: { code: 'INTERNAL', requestId: requestIdOf(response) } });
  });
});
