import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeRedis, createRedis, defineJobType, HistoryRecorder, PAYLOAD_FILTER_MAX_DEPTH, PAYLOAD_FILTER_MAX_LENGTH, waitForRedis } from '@sluice/core';
import { Type } from 'typebox';
import { isolatedConfig } from '../../../test/support/context';
import { startApp, type AppFixture } from './fixture';

/** GET /jobs?payload=: jobs found by what their payload contains, with the other filters and in keyset pages. */
const config = isolatedConfig('api-list-payload', { QUEUES: 'default,emails' });
let fixture: AppFixture;
const anyPayload = (name: string) => defineJobType({ name, payload: Type.Object({}, { additionalProperties: true }) });

/** 60 jobs of user 42 (a third in queue emails, half of type webhook), 60 of others, and a few of other shapes. */
const PAYLOADS: { queue: string; type: string; payload: Record<string, unknown> }[] = [
  ...Array.from({ length: 120 }, (_, n) => ({
    queue: n % 3 === 0 ? 'emails' : 'default',
    type: n % 2 === 0 ? 'report' : 'export',
    payload: { userId: n < 60 ? 42 : 1000 + n, n },
  })),
  { queue: 'default', type: 'noop', payload: { userId: '42', note: 'a string, not the number' } },
  { queue: 'default', type: 'noop', payload: { order: { customer: { id: 7, tier: 'gold' }, total: 12.5 }, tags: ['urgent', 'vip'] } },
  { queue: 'default', type: 'noop', payload: { order: { customer: { id: 8, tier: 'gold' } }, tags: ['vip'] } },
];
const ids = new Map<object, string>();

beforeAll(async () => {
  fixture = await startApp(config, { declared: [anyPayload('report'), anyPayload('export')] });
  for (const job of PAYLOADS) ids.set(job.payload, await fixture.submit(job));
  // Written to PostgreSQL as a worker process's recorder would.
  const redis = createRedis(config.redis);
  await waitForRedis(redis, 5000);
  const recorder = new HistoryRecorder({ redis, pool: fixture.database.pool, prefix: config.redis.prefix, queues: config.queue.queues, owner: 'payload-search' });
  for (const queue of config.queue.queues) while (await recorder.runOnce(queue));
  await recorder.stop();
  await closeRedis(redis);
  const { rows } = await fixture.database.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM jobs');
  expect(rows[0]?.n).toBe(PAYLOADS.length);
});
afterAll(async () => {
  await fixture?.close();
});

interface Page {
  jobs: { id: string; queue: string; type: string; status: string; payload: Record<string, unknown> }[];
  nextCursor: string | null;
}

async function list(query: Record<string, string>): Promise<Page> {
  const response = await fixture.app.inject({ method: 'GET', url: `/jobs?${new URLSearchParams(query)}` });
  expect(response.statusCode, response.body).toBe(200);
  return response.json() as Page;
}

async function listAll(query: Record<string, string>): Promise<string[]> {
  const seen: string[] = [];
  let cursor: string | null = null;
  do {
    const page: Page = await list({ ...query, limit: '7', ...(cursor !== null && { cursor }) });
    seen.push(...page.jobs.map((job) => job.id));
    cursor = page.nextCursor;
  } while (cursor !== null);
  return seen;
}

const idsWhere = (match: (job: (typeof PAYLOADS)[number]) => boolean): string[] =>
  PAYLOADS.filter(match).map((job) => ids.get(job.payload) as string).sort();

describe('GET /jobs?payload=', () => {
  it('finds the jobs whose payload holds the keys given, a number never matching the same digits as a string', async () => {
    expect((await listAll({ payload: '{"userId":42}' })).sort()).toEqual(idsWhere((job) => job.payload.userId === 42));
    expect(await listAll({ payload: '{"userId":"42"}' })).toEqual(idsWhere((job) => job.payload.userId === '42'));
    expect(await listAll({ payload: '{"userId":43}' })).toEqual([]);
    // No operators: this asks for a userId holding the key $gt, which none does.
    expect(await listAll({ payload: '{"userId":{"$gt":1}}' })).toEqual([]);
  });

  it('matches nested objects by subset and arrays by the elements given', async () => {
    const gold = idsWhere((job) => job.type === 'noop' && 'order' in job.payload);
    expect((await listAll({ payload: '{"order":{"customer":{"tier":"gold"}}}' })).sort()).toEqual(gold);
    expect(await listAll({ payload: '{"order":{"customer":{"id":7}}}' })).toEqual(idsWhere((job) => (job.payload.tags as string[] | undefined)?.length === 2));
    expect((await listAll({ payload: '{"tags":["vip"]}' })).sort()).toEqual(gold);
    expect(await listAll({ payload: '{"tags":["vip","urgent"]}' })).toEqual(idsWhere((job) => (job.payload.tags as string[] | undefined)?.length === 2));
    expect(await listAll({ payload: '{"tags":["other"]}' })).toEqual([]);
  });

  it('combines with the queue, type and status filters', async () => {
    const found = (await listAll({ payload: '{"userId":42}', queue: 'emails', type: 'report', status: 'pending' })).sort();
    expect(found).toEqual(idsWhere((job) => job.payload.userId === 42 && job.queue === 'emails' && job.type === 'report'));
    expect(found.length).toBeGreaterThan(5);
    expect(await listAll({ payload: '{"userId":42}', status: 'completed' })).toEqual([]);
  });

  it('pages through the matches newest first without gaps or repeats', async () => {
    const seen = await listAll({ payload: '{"userId":42}' });
    expect(seen).toHaveLength(60);
    expect(new Set(seen).size).toBe(60);
    const newestFirst = await list({ payload: '{"userId":42}', limit: '100' });
    expect(newestFirst.jobs.map((job) => job.id)).toEqual(seen);
    expect(newestFirst.jobs.every((job) => job.payload.userId === 42)).toBe(true);
  });

  it('selects the same jobs for a bulk action on the jobs matching the filter', async () => {
    const count = async (body: Record<string, string>) => {
      const response = await fixture.app.inject({ method: 'POST', url: '/jobs/actions/cancel/matching/count', payload: body });
      expect(response.statusCode, response.body).toBe(200);
      return (response.json() as { count: number }).count;
    };
    expect(await count({ payload: '{"userId":42}', queue: 'emails' })).toBe(idsWhere((job) => job.payload.userId === 42 && job.queue === 'emails').length);
    expect(await count({ payload: '{"tags":["urgent"]}' })).toBe(1);
    const refused = await fixture.app.inject({ method: 'POST', url: '/jobs/actions/cancel/matching/count', payload: { payload: '42' } });
    expect(refused.statusCode).toBe(400);
  });

  const deep = `${'{"a":'.repeat(PAYLOAD_FILTER_MAX_DEPTH + 1)}1${'}'.repeat(PAYLOAD_FILTER_MAX_DEPTH + 1)}`;
  it.each([
    ['JSON that does not parse', '{userId:42}', /payload must be JSON/],
    ['a single value', '42', /payload must be a JSON object/],
    ['null', 'null', /payload must be a JSON object/],
    ['a string', '"42"', /payload must be a JSON object/],
    // A payload is always an object, and an object never contains an array: it would match no job, ever.
    ['an array', '[{"userId":42}]', /payload must be a JSON object.*a job's payload is one/],
    ['nesting too deep', deep, /nested more than 16 levels/],
    ['a NUL character', '{"a":"\\u0000"}', /NUL character/],
    // JavaScript reads it as Infinity, which JSON writes as null: it would search for {"a":null}.
    ['a number too large for a double', '{"a":-1e400}', /payload holds a number too large/],
    ['more than the longest filter', JSON.stringify({ a: 'x'.repeat(PAYLOAD_FILTER_MAX_LENGTH) }), /payload.*4096/],
  ])('refuses %s with a 400 that names the payload parameter, coded as any bad query parameter', async (_name, payload, message) => {
    const response = await fixture.app.inject({ method: 'GET', url: `/jobs?${new URLSearchParams({ payload })}` });
    expect(response.statusCode, response.body).toBe(400);
    const { error } = response.json() as { error: { code: string; message: string } };
    expect(error.message).toMatch(message);
    expect(error.code).toBe('VALIDATION_ERROR');
  });
});
