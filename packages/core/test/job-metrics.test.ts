import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Type } from 'typebox';
import { closeRedis, createRedis, defineJobType, HistoryRecorder, JobTypeRegistry, Queue, waitForRedis } from '@sluice/core';
import { HistoryMaintenance } from '../src/history/history-maintenance';
import { jobEventsInsertBatch } from '../src/history/job-events-repository';
import { metricsPartitionName } from '../src/history/metrics-partitions';
import { addBuckets } from '../src/history/latency-histogram';
import { jobMetricsDepthRecord, jobMetricsHistory, type MetricsPoint } from '../src/history/metrics-repository';
import { DAY_MS, dayOf } from '../src/history/partitions';
import { createTestDatabase, dropRedisKeys, isolatedConfig, type TestDatabase } from '../../../test/support/context';
import { jobIdAt } from './support/history-lives';

/**
 * The per-minute and per-hour rollups the recorder adds to job_metrics in the statement that records
 * a batch, read back by jobMetricsHistory: counts, run and wait time percentiles, exact across
 * batches, batches written twice and recorders writing at once; kept for their retention.
 */
const config = isolatedConfig('job-metrics');
let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase(config);
});
afterAll(async () => {
  await dropRedisKeys(config);
  await database?.drop();
});

const MINUTE_MS = 60_000;
/** Each test its own hour of today, so their rollups stay apart. */
let nextHour = 1;
const freshHour = (): number => dayOf(Date.now()) * DAY_MS + nextHour++ * 3_600_000;

interface Step { status: string; at: number; attempt?: number; nextAt?: number }

/** The stream entries (one per transition, as scripts write them) of a job of `type` submitted at `at`, then `steps`. */
function lifeOf(type: string, at: number, steps: Step[], queue = 'default'): string[] {
  const job = jobIdAt(at);
  const submitted = { job, seq: 1, status: 'pending', attempt: 0, at, queue, type, payload: '{}', maxAttempts: 3, priority: 0, runAt: at, idempotencyKey: '' };
  return [
    JSON.stringify([submitted]),
    ...steps.map((step, index) => JSON.stringify([{
      job, seq: index + 2, status: step.status, attempt: step.attempt ?? 1, at: step.at, worker: 'w1',
      ...(step.nextAt !== undefined && { nextAt: String(step.nextAt) }),
      ...(step.status === 'failed' && { error: 'boom' }),
      ...(step.status === 'dead' && { error: 'boom', reason: 'exhausted' }),
    }])),
  ];
}

/** A job that waited `waitMs` and ran `runMs` to completion. */
const completedJob = (type: string, at: number, waitMs: number, runMs: number): string[] =>
  lifeOf(type, at, [{ status: 'processing', at: at + waitMs }, { status: 'completed', at: at + waitMs + runMs }]);

/** Records the entries as the recorder would, `perBatch` entries at a time, in the order given. */
async function record(entries: readonly string[], perBatch: number): Promise<void> {
  for (let at = 0; at < entries.length; at += perBatch) await jobEventsInsertBatch(database.pool, entries.slice(at, at + perBatch));
}

/** Interleaves jobs' entries as a queue's events stream holds them: each job's in order, jobs' mixed. */
function interleaved(lives: string[][]): string[] {
  const longest = Math.max(...lives.map((life) => life.length));
  return Array.from({ length: longest }, (_, step) => lives.flatMap((life) => (life[step] === undefined ? [] : [life[step] as string]))).flat();
}

interface RollupRow { resolution: string; minute: Date; completed: number; failed: number; dead: number; run_ms_buckets: number[]; wait_ms_buckets: number[] }

/** The rows of `type`, minute and hour rows alike. */
async function rowsOf(type: string): Promise<RollupRow[]> {
  const { rows } = await database.pool.query<RollupRow>(
    'SELECT resolution, minute, completed, failed, dead, run_ms_buckets, wait_ms_buckets FROM job_metrics WHERE type = $1 ORDER BY resolution, minute', [type]);
  return rows;
}

/** The minute rows added up as an hour row holds them: counts summed, histograms added bucket by bucket. */
function sumOf(minutes: readonly RollupRow[]): Omit<RollupRow, 'resolution' | 'minute'> {
  const sum = { completed: 0, failed: 0, dead: 0, run_ms_buckets: [] as number[], wait_ms_buckets: [] as number[] };
  for (const row of minutes) {
    sum.completed += row.completed;
    sum.failed += row.failed;
    sum.dead += row.dead;
    addBuckets(sum.run_ms_buckets, row.run_ms_buckets);
    addBuckets(sum.wait_ms_buckets, row.wait_ms_buckets);
  }
  return sum;
}

async function minuteOf(type: string, at: number): Promise<MetricsPoint> {
  const [point] = await jobMetricsHistory(database.db, { type, from: new Date(at), to: new Date(at + MINUTE_MS), stepMs: MINUTE_MS });
  return point as MetricsPoint;
}

/** `expected` within the 4.5% a bucket's middle may be off by. */
const near = (expected: number) => expect.closeTo(expected, -Math.log10(expected * 0.045 * 2));

describe('job metrics rollups', () => {
  it('count completions and give the percentiles of known run and wait times, whatever the batches', async () => {
    const hour = freshHour();
    const lives = Array.from({ length: 100 }, (_, n) => completedJob('report', hour + n, n + 1, (n + 1) * 10));
    await record(interleaved(lives), 7);
    const point = await minuteOf('report', hour);
    expect(point).toMatchObject({ at: new Date(hour).toISOString(), completed: 100, failed: 0, dead: 0 });
    expect(point.runMs.p50).toEqual(near(500));
    expect(point.runMs.p95).toEqual(near(950));
    expect(point.runMs.p99).toEqual(near(990));
    expect(point.waitMs.p50).toEqual(near(50));
    expect(point.waitMs.p99).toEqual(near(99));
  });

  it('count failed attempts and dead jobs, timing each attempt and the wait of a retry from when it was due', async () => {
    const hour = freshHour();
    const life = lifeOf('flaky', hour, [
      { status: 'processing', at: hour + 100 }, { status: 'failed', at: hour + 300 }, { status: 'retrying', at: hour + 300, nextAt: hour + 5300 },
      { status: 'pending', at: hour + 5300 }, { status: 'processing', attempt: 2, at: hour + 5340 }, { status: 'failed', attempt: 2, at: hour + 5740 },
      { status: 'dead', attempt: 2, at: hour + 5740 },
    ]);
    await record(life, 1);
    const point = await minuteOf('flaky', hour);
    expect(point).toMatchObject({ completed: 0, failed: 2, dead: 1 });
    expect(point.runMs.p50).toEqual(near(200));
    expect(point.runMs.p99).toEqual(near(400));
    expect(point.waitMs.p50).toEqual(near(40));
    expect(point.waitMs.p99).toEqual(near(100));
  });

  it('add nothing for a batch written again, as after a crash before the recorder deleted it from Redis', async () => {
    const hour = freshHour();
    const entries = interleaved(Array.from({ length: 10 }, (_, n) => completedJob('replayed', hour + n, 5, 20)));
    await record(entries, 4);
    await record(entries, 4);
    await record(entries.slice(3, 11), 8);
    expect(await minuteOf('replayed', hour)).toMatchObject({ completed: 10, runMs: { p50: near(20) } });
  });

  it('add up when recorders write the same minute, queue and type at once', async () => {
    const hour = freshHour();
    const runs = [10, 1000];
    await Promise.all(runs.map((runMs, recorder) =>
      record(interleaved(Array.from({ length: 100 }, (_, n) => completedJob('shared', hour + recorder * 200 + n, 1, runMs))), 5)));
    const point = await minuteOf('shared', hour);
    expect(point.completed).toBe(200);
    expect(point.runMs.p50).toEqual(near(10));
    expect(point.runMs.p95).toEqual(near(1000));
  });

  it('merge minutes into steps, every step present, and queues and types unless one is asked for', async () => {
    const hour = freshHour();
    await record([
      ...completedJob('step-a', hour + 5 * MINUTE_MS, 1, 10),
      ...completedJob('step-a', hour + 10 * MINUTE_MS, 1, 20),
      ...completedJob('step-b', hour + 50 * MINUTE_MS, 1, 30),
      ...lifeOf('step-b', hour + 51 * MINUTE_MS, [{ status: 'processing', at: hour + 51 * MINUTE_MS }, { status: 'completed', at: hour + 51 * MINUTE_MS + 5 }], 'other'),
    ], 3);
    const quarters = await jobMetricsHistory(database.db, { from: new Date(hour + 1000), to: new Date(hour + 3_600_000), stepMs: 15 * MINUTE_MS });
    expect(quarters.map((point) => [point.at, point.completed])).toEqual([0, 1, 2, 3].map((n) => [new Date(hour + n * 15 * MINUTE_MS).toISOString(), [2, 0, 0, 2][n]]));
    expect(quarters[0]?.runMs.p99).toEqual(near(20));
    const ofQueue = await jobMetricsHistory(database.db, { queue: 'default', type: 'step-b', from: new Date(hour), to: new Date(hour + 3_600_000), stepMs: 3_600_000 });
    expect(ofQueue).toMatchObject([{ completed: 1, runMs: { p50: near(30) } }]);
  });

  it("sum an hour's minutes into its hour row, a batch written again adding to neither", async () => {
    const hour = freshHour();
    const lives = Array.from({ length: 30 }, (_, n) => completedJob('hourly', hour + n * 2 * MINUTE_MS + n, 10 + n, 100 * (n + 1)));
    lives.push(lifeOf('hourly', hour + 59 * MINUTE_MS, [
      { status: 'processing', at: hour + 59 * MINUTE_MS + 10 }, { status: 'failed', at: hour + 59 * MINUTE_MS + 700 },
      { status: 'dead', at: hour + 59 * MINUTE_MS + 700 },
    ]));
    const entries = interleaved(lives);
    await record(entries, 9);
    await record(entries.slice(5, 40), 6);
    const rows = await rowsOf('hourly');
    const minutes = rows.filter((row) => row.resolution === 'minute');
    expect(minutes).toHaveLength(31);
    expect(rows.filter((row) => row.resolution === 'hour')).toEqual([{ resolution: 'hour', minute: new Date(hour), ...sumOf(minutes) }]);
    expect(sumOf(minutes)).toMatchObject({ completed: 30, failed: 1, dead: 1 });
  });

  it("keep on an hour's depth row the deepest of its minutes' samples", async () => {
    const hour = freshHour();
    const samples: [minute: number, depth: number][] = [[1, 5], [2, 9], [3, 4], [2, 2]];
    for (const [minute, depth] of samples) await jobMetricsDepthRecord(database.pool, hour + minute * MINUTE_MS, 'sampled', depth);
    const { rows } = await database.pool.query<{ resolution: string; minute: Date; depth: number }>(
      "SELECT resolution, minute, depth FROM job_metrics WHERE queue = 'sampled' AND type = '' ORDER BY resolution, minute");
    expect(rows.map((row) => [row.resolution, row.minute.getTime() - hour, row.depth])).toEqual([
      ['hour', 0, 9], ['minute', MINUTE_MS, 5], ['minute', 2 * MINUTE_MS, 2], ['minute', 3 * MINUTE_MS, 4],
    ]);
    const [point] = await jobMetricsHistory(database.db, { queue: 'sampled', from: new Date(hour), to: new Date(hour + 3_600_000), stepMs: 3_600_000 });
    expect(point?.depth).toBe(9);
  });

  it('are dropped by day once older than METRICS_RETENTION_DAYS', async () => {
    const old = freshHour();
    await record(completedJob('retained', old, 1, 10), 3);
    const today = dayOf(old);
    const maintenance = (day: number) => new HistoryMaintenance({ pool: database.pool, retentionDays: 3650, metricsRetentionDays: 90, now: () => day * DAY_MS });
    expect((await maintenance(today).runOnce())?.metrics.created).toContain(metricsPartitionName(today));
    expect((await minuteOf('retained', old)).completed).toBe(1);
    expect((await rowsOf('retained')).map((row) => row.resolution)).toEqual(['hour', 'minute']);
    expect((await maintenance(today + 90).runOnce())?.metrics.dropped).toEqual([]);
    expect((await maintenance(today + 91).runOnce())?.metrics.dropped).toEqual([metricsPartitionName(today)]);
    expect((await minuteOf('retained', old)).completed).toBe(0);
    expect(await rowsOf('retained')).toEqual([]);

    // A minute of a day that never had a partition, recorded late, lands in the default partition and expires all the same.
    const unpartitioned = (today + 1000) * DAY_MS;
    await record(completedJob('retained', unpartitioned, 1, 10), 3);
    expect((await minuteOf('retained', unpartitioned)).completed).toBe(1);
    await maintenance(today + 1000 + 91).runOnce();
    expect((await minuteOf('retained', unpartitioned)).completed).toBe(0);
  });

  it("take each queue's depth once a minute, from the recorder holding its lease", async () => {
    const redis = createRedis(config.redis);
    await waitForRedis(redis, 5000);
    const registry = new JobTypeRegistry([defineJobType({ name: 'waiting', payload: Type.Object({}) })]);
    const queue = new Queue({ redis, redisConfig: config.redis, queueConfig: config.queue, registry });
    await queue.addBulk(Array.from({ length: 3 }, () => ({ type: 'waiting', payload: {} })));
    const recorder = (owner: string) => new HistoryRecorder({ redis, pool: database.pool, prefix: config.redis.prefix, queues: ['default'], owner });
    const [holder, other] = [recorder('holder'), recorder('other')];
    await holder.runOnce('default');
    await queue.addBulk(Array.from({ length: 2 }, () => ({ type: 'waiting', payload: {} })));
    await other.runOnce('default');
    await holder.runOnce('default');
    const { rows } = await database.pool.query<{ minute: Date; depth: number }>("SELECT minute, depth FROM job_metrics WHERE queue = 'default' AND type = '' AND resolution = 'minute'");
    expect(rows).toHaveLength(1);
    expect(rows[0]?.depth).toBe(3);
    expect(rows[0]?.minute.getTime() ?? 0).toBeGreaterThan(Date.now() - 2 * MINUTE_MS);
    await holder.stop();
    await other.stop();
    await closeRedis(redis);
  });
});
