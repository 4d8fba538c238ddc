import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HistoryMaintenance, jobsListQuery, type JobListFilter } from '@sluice/core';
import { isolatedConfig } from '../../../test/support/context';
import { startApp, type AppFixture } from './fixture';

const ROWS = 20_000;
const config = isolatedConfig('api-list', { QUEUES: 'default,emails' });
let fixture: AppFixture;

beforeAll(async () => {
  fixture = await startApp(config);
  // A history large enough that a sequential scan would be the planner's choice if no index served.
  await fixture.database.pool.query(
    `INSERT INTO jobs (id, queue, type, payload, status, max_attempts, run_at, created_at, updated_at, idempotency_key, "group")
     SELECT -- A UUIDv7 of its creation time, as Sluice makes them: the history is partitioned by the day an id names.
            (lpad(to_hex((extract(epoch FROM timestamptz '2026-01-01' + (n / 2) * interval '1 second') * 1000)::bigint), 12, '0')
              || '7' || substr(md5(n::text), 1, 3) || '8' || substr(md5(n::text), 4, 15))::uuid,
            CASE WHEN n % 4 = 0 THEN 'emails' ELSE 'default' END,
            (ARRAY['email', 'webhook', 'noop', 'sleep', 'fail'])[1 + n % 5],
            jsonb_build_object('n', n),
            (ARRAY['completed', 'completed', 'completed', 'dead', 'pending', 'cancelled'])[1 + n % 6],
            3,
            timestamptz '2026-01-01' + n * interval '1 second',
            timestamptz '2026-01-01' + (n / 2) * interval '1 second',
            timestamptz '2026-01-01' + n * interval '1 second',
            CASE WHEN n % 10 = 0 THEN 'key-' || (n / 10) END,
            CASE WHEN n % 3 = 0 THEN 'tenant-' || (n % 7) END
     FROM generate_series(1, $1::int) AS n`,
    [ROWS],
  );
  // Builds the payload index, as the API's and workers' maintenance does.
  await new HistoryMaintenance({ pool: fixture.database.pool, retentionDays: 3650 }).runOnce();
  await fixture.database.pool.query('ANALYZE jobs');
});
afterAll(async () => {
  await fixture?.close();
});

interface Page {
  jobs: { id: string; status: string; type: string; queue: string; group: string | null; createdAt: string }[];
  nextCursor: string | null;
}

async function list(query: string): Promise<Page> {
  const response = await fixture.app.inject({ method: 'GET', url: `/jobs?${query}` });
  expect(response.statusCode, response.body).toBe(200);
  return response.json() as Page;
}

describe('GET /jobs', () => {
  it('lists the newest jobs first, 20 by default, with a cursor to the next page', async () => {
    const page = await list('');
    expect(page.jobs).toHaveLength(20);
    const times = page.jobs.map((job) => Date.parse(job.createdAt));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    expect(page.nextCursor).toEqual(expect.any(String));
    expect(page.jobs[0]).not.toHaveProperty('history');
  });

  it('pages through a filtered listing without gaps or repeats, even where created_at ties', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let pageNo = 0; pageNo < 100; pageNo += 1) {
      const page: Page = await list(`status=dead&queue=emails&limit=100${cursor ? `&cursor=${cursor}` : ''}`);
      for (const job of page.jobs) expect([job.status, job.queue]).toEqual(['dead', 'emails']);
      seen.push(...page.jobs.map((job) => job.id));
      cursor = page.nextCursor;
      if (!cursor) break;
    }
    const { rows } = await fixture.database.pool.query<{ id: string }>(
      "SELECT id FROM jobs WHERE status = 'dead' AND queue = 'emails' ORDER BY created_at DESC, id DESC",
    );
    expect(seen).toEqual(rows.map((row) => row.id));
  });

  it('filters by type and by a created-at range', async () => {
    const page = await list('type=webhook&createdAfter=2026-01-01T01:00:00Z&createdBefore=2026-01-01T01:00:10Z&limit=100');
    expect(page.jobs.length).toBeGreaterThan(0);
    for (const job of page.jobs) {
      expect(job.type).toBe('webhook');
      expect(Date.parse(job.createdAt)).toBeGreaterThanOrEqual(Date.parse('2026-01-01T01:00:00Z'));
      expect(Date.parse(job.createdAt)).toBeLessThan(Date.parse('2026-01-01T01:00:10Z'));
    }
    expect(page.nextCursor).toBeNull();
  });

  it('finds the job submitted with an idempotency key', async () => {
    const page = await list('idempotencyKey=key-7');
    expect(page.jobs).toHaveLength(1);
    const { rows } = await fixture.database.pool.query<{ id: string }>("SELECT id FROM jobs WHERE idempotency_key = 'key-7'");
    expect(page.jobs[0]?.id).toBe(rows[0]?.id);
    expect(page.nextCursor).toBeNull();
    // Job 70 of the seed is pending: the key combines with the other filters.
    expect((await list('idempotencyKey=key-7&status=pending')).jobs).toHaveLength(1);
    expect((await list('idempotencyKey=key-7&status=completed')).jobs).toEqual([]);
    expect((await list('idempotencyKey=no-such-key')).jobs).toEqual([]);
  });

  it('filters by fair group, alone or with other filters, paging without gaps or repeats', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let pageNo = 0; pageNo < 100; pageNo += 1) {
      const page: Page = await list(`group=tenant-1&limit=100${cursor ? `&cursor=${cursor}` : ''}`);
      for (const job of page.jobs) expect(job.group).toBe('tenant-1');
      seen.push(...page.jobs.map((job) => job.id));
      cursor = page.nextCursor;
      if (!cursor) break;
    }
    const { rows } = await fixture.database.pool.query<{ id: string }>(`SELECT id FROM jobs WHERE "group" = 'tenant-1' ORDER BY created_at DESC, id DESC`);
    expect(rows.length).toBeGreaterThan(100);
    expect(seen).toEqual(rows.map((row) => row.id));
    for (const job of (await list('group=tenant-1&queue=emails&status=dead&limit=100')).jobs) expect([job.group, job.queue, job.status]).toEqual(['tenant-1', 'emails', 'dead']);
    expect((await list('group=tenant-99')).jobs).toEqual([]);
    expect((await list('limit=100')).jobs.filter((job) => job.group === null).length).toBeGreaterThan(0);
  });

  it.each(['group=', 'group=a%20b', `group=${'g'.repeat(129)}`])('refuses %s with a 400 naming the group and its pattern', async (query) => {
    const response = await fixture.app.inject({ method: 'GET', url: `/jobs?${query}` });
    expect(response.statusCode).toBe(400);
    expect((response.json() as { error: { code: string; message: string } }).error).toMatchObject({ code: 'VALIDATION_ERROR', message: expect.stringContaining('group must match pattern') });
  });

  it.each(['idempotencyKey=', `idempotencyKey=${'k'.repeat(256)}`, 'status=bogus', 'limit=0', 'limit=101', 'limit=1.5', 'cursor=not-a-cursor', `cursor=${Buffer.from('["x","y"]').toString('base64url')}`, 'createdAfter=yesterday', 'type=a%20b', 'sort=asc'])(
    'refuses %s with 400',
    async (query) => {
      const response = await fixture.app.inject({ method: 'GET', url: `/jobs?${query}` });
      expect(response.statusCode).toBe(400);
      expect((response.json() as { error: { code: string } }).error.code).toMatch(/VALIDATION_ERROR|INVALID_JOB/);
    },
  );

  const filters: [string, Omit<JobListFilter, 'limit'>][] = [
    ['no filter', {}],
    ['status', { status: 'dead' }],
    ['type', { type: 'email' }],
    ['queue', { queue: 'emails' }],
    ['idempotency key', { idempotencyKey: 'key-7' }],
    ['fair group', { group: 'tenant-1' }],
    ['fair group and status', { group: 'tenant-1', status: 'completed' }],
    ['status and queue', { status: 'completed', queue: 'default' }],
    ['created-at range', { createdAfter: new Date('2026-01-01T02:00:00Z'), createdBefore: new Date('2026-01-01T03:00:00Z') }],
    ['payload containment', { payload: { n: 777 } }],
    ['payload containment and queue', { payload: { n: 776 }, queue: 'emails' }],
    ['a cursor deep into the listing', { status: 'completed', after: { createdAt: new Date('2026-01-01T00:30:00Z'), id: '00000000-0000-7000-8000-000000000000' } }],
  ];
  // The history is partitioned by day: the planner may scan an empty partition, never one holding rows.
  it.each(filters)('serves %s from an index, never a sequential scan', async (_name, filter) => {
    const query = jobsListQuery(fixture.database.db, { ...filter, limit: 21 }).toSQL();
    const { rows } = await fixture.database.pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${query.sql}`, query.params);
    const plan = rows.map((row) => row['QUERY PLAN']).join('\n');
    const { rows: filled } = await fixture.database.pool.query<{ name: string }>('SELECT DISTINCT tableoid::regclass::text AS name FROM jobs');
    expect(filled.length).toBeGreaterThan(0);
    for (const { name } of filled) expect(plan).not.toContain(`Seq Scan on ${name} `);
    expect(plan).toMatch(/Index Scan|Index Only Scan|Bitmap Index Scan/);
  });

  it('finds jobs by payload through the payload index of the partitions holding rows', async () => {
    const query = jobsListQuery(fixture.database.db, { payload: { n: 777 }, limit: 21 }).toSQL();
    const { rows } = await fixture.database.pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${query.sql}`, query.params);
    const plan = rows.map((row) => row['QUERY PLAN']).join('\n');
    const { rows: filled } = await fixture.database.pool.query<{ name: string }>('SELECT DISTINCT tableoid::regclass::text AS name FROM jobs');
    for (const { name } of filled) expect(plan).toContain(`Bitmap Index Scan on ${name}_payload_idx `);
    expect((await list('payload=%7B%22n%22%3A777%7D')).jobs.map((job) => job.id)).toHaveLength(1);
  });
});
