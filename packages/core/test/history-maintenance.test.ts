import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { HistoryMaintenance, type HistoryMaintenanceOptions } from '../src/history/history-maintenance';
import { jobEventsInsertBatch } from '../src/history/job-events-repository';
import { jobsFindWithHistory } from '../src/history/jobs-repository';
import { DAY_MS, dayOf, defaultPartitionName, partitionName, type Day } from '../src/history/partitions';
import { createPool } from '@sluice/core';
import { createTestDatabase, isolatedConfig, waitFor, type TestDatabase } from '../../../test/support/context';
import { TcpProxy } from '../../../test/support/tcp-proxy';
import { jobIdAt, partitionsOf, recordEvents, recordJob } from './support/history-lives';

/**
 * The day partitions kept by HistoryMaintenance, with its clock moved: created ahead, dropped once
 * expired unless they hold unfinished jobs, the default partition's rows moved into the days created
 * for them, and one run at a time.
 */
const databases: TestDatabase[] = [];

/** A migrated schema of its own: every test moves the clock, and maintenance acts on the whole schema. */
async function freshDatabase(): Promise<TestDatabase> {
  const database = await createTestDatabase(isolatedConfig('history-maintenance'));
  databases.push(database);
  return database;
}

afterAll(async () => {
  await Promise.all(databases.map((database) => database.drop()));
});

const TODAY = dayOf(Date.now());
const RETENTION_DAYS = 30;
const HOUR_MS = 3_600_000;
const at = (day: Day, hours = 12): number => day * DAY_MS + hours * HOUR_MS;

/** A maintenance whose clock reads `clock.now`. */
function maintenance(database: TestDatabase, clock: { now: number }, options: Partial<HistoryMaintenanceOptions> = {}): HistoryMaintenance {
  return new HistoryMaintenance({ pool: database.pool, retentionDays: RETENTION_DAYS, now: () => clock.now, ...options });
}

const both = (day: Day): string[] => [partitionName('jobs', day), partitionName('job_events', day)];

async function eventCount(pool: pg.Pool, id: string): Promise<number> {
  const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM job_events WHERE job_id = $1', [id]);
  return rows[0]?.n ?? 0;
}

describe('history maintenance', () => {
  it("creates today's partitions and the next seven days', once, and rows of those days land in them", async () => {
    const database = await freshDatabase();
    const clock = { now: at(TODAY + 100) };
    const run = await maintenance(database, clock, { retentionDays: 3650 }).runOnce();
    expect(run?.created).toEqual(Array.from({ length: 8 }, (_, ahead) => both(TODAY + 100 + ahead)).flat());
    expect(run).toMatchObject({ dropped: [], kept: [], moved: 0 });
    expect(await maintenance(database, clock, { retentionDays: 3650 }).runOnce()).toMatchObject({ created: [], dropped: [], kept: [], moved: 0 });

    const id = jobIdAt(at(TODAY + 103));
    await recordJob(database.pool, id, at(TODAY + 103), { then: ['processing', 'completed'] });
    expect(await partitionsOf(database.pool, 'jobs')).toEqual({ [id]: [partitionName('jobs', TODAY + 103)] });
    expect(await partitionsOf(database.pool, 'job_events')).toEqual({ [id]: [partitionName('job_events', TODAY + 103)] });
  });

  it('drops a day once all of it is more than the retention old, with its rows, and keeps the days after it', async () => {
    const database = await freshDatabase();
    const [expiring, kept] = [jobIdAt(at(TODAY)), jobIdAt(at(TODAY + 1))];
    await recordJob(database.pool, expiring, at(TODAY), { then: ['processing', 'completed'] });
    await recordJob(database.pool, kept, at(TODAY + 1), { then: ['processing', 'failed', 'dead'] });
    const clock = { now: (TODAY + 1 + RETENTION_DAYS) * DAY_MS - 1 };
    expect((await maintenance(database, clock).runOnce())?.dropped).toEqual([]);

    clock.now += 1;
    const run = await maintenance(database, clock).runOnce();
    expect(run?.dropped).toEqual(both(TODAY));
    expect(await jobsFindWithHistory(database.db, expiring)).toBeNull();
    expect(await eventCount(database.pool, expiring)).toBe(0);
    expect(await jobsFindWithHistory(database.db, kept)).toMatchObject({ status: 'dead', history: [{}, {}, {}, { status: 'dead' }] });

    // The recorder writes on, to new and existing rows, once partitions it has written to are gone.
    const later = jobIdAt(at(TODAY + 2));
    await recordJob(database.pool, later, at(TODAY + 2), { then: ['processing'] });
    await recordEvents(database.pool, later, 3, at(TODAY + 2), ['completed']);
    expect(await jobsFindWithHistory(database.db, later)).toMatchObject({ status: 'completed' });
  });

  it('keeps an expired day while a job created that day is unfinished, until it finishes or 366 more days pass', async () => {
    const database = await freshDatabase();
    const [done, waiting, forever] = [jobIdAt(at(TODAY, 1)), jobIdAt(at(TODAY, 2)), jobIdAt(at(TODAY + 1))];
    await recordJob(database.pool, done, at(TODAY, 1), { then: ['processing', 'completed'] });
    await recordJob(database.pool, waiting, at(TODAY, 2), { first: 'scheduled' });
    await recordJob(database.pool, forever, at(TODAY + 1), { then: ['processing', 'failed', 'retrying'] });

    const clock = { now: at(TODAY + 2 + RETENTION_DAYS) };
    const run = await maintenance(database, clock).runOnce();
    expect(run).toMatchObject({ dropped: [], kept: [...both(TODAY), ...both(TODAY + 1)] });
    expect(await jobsFindWithHistory(database.db, done)).toMatchObject({ status: 'completed' });

    await recordEvents(database.pool, waiting, 2, at(TODAY, 2), ['pending', 'processing', 'completed']);
    expect(await maintenance(database, clock).runOnce()).toMatchObject({ dropped: both(TODAY), kept: both(TODAY + 1) });
    expect(await jobsFindWithHistory(database.db, done)).toBeNull();

    clock.now = (TODAY + 2 + RETENTION_DAYS + 366) * DAY_MS - 1;
    expect((await maintenance(database, clock).runOnce())?.kept).toEqual(both(TODAY + 1));
    clock.now += 1;
    const last = await maintenance(database, clock).runOnce();
    expect(last?.kept).toEqual([]);
    expect(last?.dropped).toEqual(expect.arrayContaining(both(TODAY + 1)));
    expect(await jobsFindWithHistory(database.db, forever)).toBeNull();
  });

  it('moves rows the default partition holds into the day created for them, losing none', async () => {
    const database = await freshDatabase();
    const [ahead, foreign] = [jobIdAt(at(TODAY + 20)), randomUUID()];
    await recordJob(database.pool, ahead, at(TODAY + 20), { then: ['processing', 'failed', 'retrying'] });
    await recordJob(database.pool, foreign, at(TODAY), { then: ['processing'] });
    expect(await partitionsOf(database.pool, 'jobs')).toEqual({ [ahead]: [defaultPartitionName('jobs')], [foreign]: [defaultPartitionName('jobs')] });
    const before = await jobsFindWithHistory(database.db, ahead);

    const run = await maintenance(database, { now: at(TODAY + 15) }).runOnce();
    expect(run?.created).toEqual(expect.arrayContaining(both(TODAY + 20)));
    expect(run?.moved).toBe(1 + 4);
    expect(await jobsFindWithHistory(database.db, ahead)).toEqual(before);
    expect(await partitionsOf(database.pool, 'jobs')).toEqual({ [ahead]: [partitionName('jobs', TODAY + 20)], [foreign]: [defaultPartitionName('jobs')] });
    expect(await partitionsOf(database.pool, 'job_events')).toEqual({
      [ahead]: [partitionName('job_events', TODAY + 20)], [foreign]: [defaultPartitionName('job_events')],
    });

    await recordEvents(database.pool, ahead, 5, at(TODAY + 20), ['pending', 'processing', 'completed']);
    expect(await jobsFindWithHistory(database.db, ahead)).toMatchObject({ status: 'completed', history: { length: 7 } });
  });

  it('lets one of two concurrent runs do the work while the other skips its turn', async () => {
    const database = await freshDatabase();
    const clock = { now: at(TODAY + 200) };
    // Hold the first run inside its work: creating a partition needs the default partition's lock.
    const blocker = await database.pool.connect();
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE jobs_default IN ACCESS SHARE MODE');
    const first = maintenance(database, clock).runOnce();
    await waitFor('the first run to wait for its lock', async () => {
      const { rows } = await database.pool.query("SELECT 1 FROM pg_locks WHERE relation = 'jobs_default'::regclass AND NOT granted");
      return rows.length > 0;
    });
    expect(await maintenance(database, clock).runOnce()).toBeNull();
    await blocker.query('COMMIT');
    blocker.release();
    expect((await first)?.created).toHaveLength(16);

    clock.now = at(TODAY + 300);
    const runs = await Promise.all([maintenance(database, clock).runOnce(), maintenance(database, clock).runOnce()]);
    const created = runs.flatMap((run) => run?.created ?? []);
    expect(created).toHaveLength(16);
    expect(new Set(created).size).toBe(16);
  });
});

describe('history maintenance when PostgreSQL goes away', () => {
  it('fails the run, not the process, when its connection is reset mid-run', async () => {
    const config = isolatedConfig('history-maintenance-reset');
    const database = await createTestDatabase(config);
    databases.push(database);
    const real = new URL(config.postgres.url);
    const proxy = await TcpProxy.start(Number(real.port || 5432), real.hostname);
    const proxied = new URL(config.postgres.url);
    proxied.hostname = '127.0.0.1';
    proxied.port = String(proxy.port);
    const pool = createPool({ ...config.postgres, url: proxied.toString() });
    // An idle client's errors reach the pool's listener; the process keeps them to itself here.
    pool.on('error', () => undefined);
    try {
      const cut = proxy.cutOnClientData('pg_try_advisory_lock', 10_000);
      const run = new HistoryMaintenance({ pool, retentionDays: RETENTION_DAYS }).runOnce();
      await cut;
      await expect(run).rejects.toThrow();
      proxy.restore();
      expect(await new HistoryMaintenance({ pool, retentionDays: RETENTION_DAYS }).runOnce()).not.toBeNull();
    } finally {
      await pool.end();
      await proxy.close();
    }
  });
});

describe("the recorder's statement on day partitions", () => {
  it('plans and probes only the partitions of the days its jobs were created', async () => {
    const database = await freshDatabase();
    const ids = [0, 1, 2, 3, 4].map((n) => jobIdAt(at(TODAY + (n < 3 ? 0 : 1), n)));
    for (const id of ids) await recordJob(database.pool, id, Date.now());
    const events = JSON.stringify(ids.map((job) => ({ job, seq: 2, status: 'processing', attempt: 1, at: Date.now() })));
    let statement: { text: string; values: unknown[] } | undefined;
    const capture = { query: async (text: string, values: unknown[]) => ((statement = { text, values }), { rows: [{ unlisted: '0' }] }) };
    await jobEventsInsertBatch(capture as unknown as pg.Pool, [events]);
    const { rows } = await database.pool.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(`EXPLAIN (ANALYZE, FORMAT JSON) ${statement?.text}`, statement?.values);
    const update = rows[0]?.['QUERY PLAN'][0].Plan.Plans?.find((plan) => plan['Subplan Name'] === 'CTE updated');
    const probed: Record<string, number> = {};
    const visit = (plan: PlanNode): void => {
      if (plan['Relation Name']) probed[plan['Relation Name']] = (probed[plan['Relation Name']] ?? 0) + (plan['Actual Rows'] ?? 0);
      plan.Plans?.forEach(visit);
    };
    update?.Plans?.forEach(visit);
    expect(probed).toEqual({ [partitionName('jobs', TODAY)]: 3, [partitionName('jobs', TODAY + 1)]: 2 });
    expect((await jobsFindWithHistory(database.db, ids[4] as string))?.status).toBe('processing');
  });
});

interface PlanNode {
  'Subplan Name'?: string;
  'Relation Name'?: string;
  'Actual Rows'?: number;
  Plans?: PlanNode[];
}
