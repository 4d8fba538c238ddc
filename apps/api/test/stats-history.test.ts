import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolatedConfig } from '../../../test/support/context';
import { insertRollups } from '../../../test/support/metrics-rollups';
import { startApp, type AppFixture } from './fixture';

/** GET /stats/history over rollups as the recorder writes them: steps, filters and bounds. */
const config = isolatedConfig('api-stats-history', { QUEUES: 'default,emails' });
let fixture: AppFixture;

const HOUR = Date.parse('2026-11-30T10:00:00Z');
const MINUTE_MS = 60_000;
/** A histogram with `count` samples in one bucket (bucket b holds [2^((b-1)/8), 2^(b/8)) ms). */
const oneBucket = (bucket: number, count: number): number[] => [...Array<number>(bucket).fill(0), count];

beforeAll(async () => {
  fixture = await startApp(config);
  const rows: [number, string, string, number, number, number, number[], number[], number | null][] = [
    // 10 completions of about 100 ms (bucket 54, read as 2^(53.5/8) ≈ 103.1 ms) at 10:05, waits of about 10 ms (bucket 27).
    [5, 'default', 'report', 10, 0, 0, oneBucket(54, 10), oneBucket(27, 10), null],
    // 12 attempts of about 1 s (bucket 80) at 10:07, 2 of them failed.
    [7, 'default', 'report', 10, 2, 0, oneBucket(80, 12), [], null],
    [7, 'default', 'export', 3, 0, 1, oneBucket(10, 3), [], null],
    [50, 'emails', 'report', 5, 0, 0, oneBucket(40, 5), [], null],
    [5, 'default', '', 0, 0, 0, [], [], 40],
    [6, 'default', '', 0, 0, 0, [], [], 70],
    [6, 'emails', '', 0, 0, 0, [], [], 5],
  ];
  await insertRollups(fixture.database.pool, rows.map(([minute, queue, type, completed, failed, dead, runMsBuckets, waitMsBuckets, depth]) => ({
    minute: new Date(HOUR + minute * MINUTE_MS), queue, type, completed, failed, dead, runMsBuckets, waitMsBuckets, depth,
  })));
});
afterAll(async () => {
  await fixture?.close();
});

interface Point {
  at: string;
  completed: number;
  failed: number;
  dead: number;
  runMs: { p50: number | null; p95: number | null; p99: number | null };
  waitMs: { p50: number | null; p95: number | null; p99: number | null };
  depth: number | null;
}

async function history(query: Record<string, string>): Promise<{ from: string; step: string; points: Point[] }> {
  const response = await fixture.app.inject({ method: 'GET', url: `/stats/history?${new URLSearchParams(query)}` });
  expect(response.statusCode, response.body).toBe(200);
  return response.json() as { from: string; step: string; points: Point[] };
}

const at = (minute: number): string => new Date(HOUR + minute * MINUTE_MS).toISOString();

describe('GET /stats/history', () => {
  it('answers one point per minute, every minute present, with counts, percentiles and depth', async () => {
    const { points, step, from } = await history({ from: at(0), to: at(60) });
    expect([step, from, points.length]).toEqual(['1m', at(0), 60]);
    expect(points[5]).toEqual({
      at: at(5), completed: 10, failed: 0, dead: 0, runMs: { p50: 103.1, p95: 103.1, p99: 103.1 }, waitMs: { p50: 9.9, p95: 9.9, p99: 9.9 }, depth: 40,
    });
    expect(points[6]).toMatchObject({ completed: 0, runMs: { p50: null }, depth: 75 });
    expect(points[7]).toMatchObject({ completed: 13, failed: 2, dead: 1 });
    expect(points[0]).toMatchObject({ completed: 0, failed: 0, dead: 0, depth: null });
  });

  it('merges minutes into wider steps, their percentiles those of all the step\'s attempts, rounding from down to a step', async () => {
    const { points, from } = await history({ from: at(3), to: at(60), step: '15m' });
    expect(from).toBe(at(0));
    expect(points.map((point) => point.completed)).toEqual([23, 0, 0, 5]);
    // Of the first quarter's 25 timed attempts, 3 took about 2 ms, 10 about 100 ms and 12 about 1 s.
    expect(points[0]?.runMs).toEqual({ p50: 103.1, p95: 980.6, p99: 980.6 });
    expect(points[0]?.depth).toBe(75);
  });

  it('narrows to a queue and a type, the depth being the queue\'s whatever the type', async () => {
    const { points } = await history({ from: at(0), to: at(60), step: '1h', queue: 'default', type: 'report' });
    expect(points).toEqual([expect.objectContaining({ completed: 20, failed: 2, dead: 0, depth: 70 })]);
    const emails = await history({ from: at(0), to: at(60), step: '1h', queue: 'emails' });
    expect(emails.points).toEqual([expect.objectContaining({ completed: 5, depth: 5 })]);
  });

  it('reads the same totals in 1h and 1d steps as in 1m steps summed, over edges that are not whole hours', async () => {
    // Two more hours: 10:xx as above, 11:xx with completions at 11:02 and 11:40, read from 10:06 to 11:30.
    await insertRollups(fixture.database.pool, [2, 40].map((minute) => ({
      minute: new Date(HOUR + (60 + minute) * MINUTE_MS), queue: 'default', type: 'later', completed: 4, runMsBuckets: oneBucket(60, 4),
    })));
    const sum = (points: Point[]) => points.reduce((total, point) => ({ completed: total.completed + point.completed, failed: total.failed + point.failed, dead: total.dead + point.dead }), { completed: 0, failed: 0, dead: 0 });
    const minutes = await history({ from: at(0), to: at(24 * 60), step: '1m' });
    const hours = await history({ from: at(0), to: at(24 * 60), step: '1h' });
    const days = await history({ from: at(0), to: at(24 * 60), step: '1d' });
    expect(sum(minutes.points)).toEqual({ completed: 36, failed: 2, dead: 1 });
    expect(sum(hours.points)).toEqual(sum(minutes.points));
    expect(hours.points.slice(0, 2).map((point) => point.completed)).toEqual([28, 8]);
    expect(sum(days.points)).toEqual(sum(minutes.points));
    expect(hours.points[0]?.runMs).toEqual({ p50: 103.1, p95: 980.6, p99: 980.6 });
    // A range that ends within an hour takes that hour's minutes up to its end; the types' range, its whole hours and the minutes at its edges.
    const partial = await history({ from: at(0), to: at(90), step: '1h' });
    expect(partial.points.map((point) => point.completed)).toEqual([28, 4]);
    const types = await fixture.app.inject({ method: 'GET', url: `/stats/history/types?${new URLSearchParams({ from: at(6), to: at(150) })}` });
    expect((types.json() as { types: { type: string; completed: number }[] }).types.map((row) => [row.type, row.completed])).toEqual([['report', 15], ['later', 8], ['export', 3]]);
  });

  it.each([
    ['too many points', { from: at(0), to: at(60 * 48), step: '1m' }, /ask for 2880 points; at most 1500/],
    ['a step not offered', { from: at(0), to: at(60), step: '7m' }, /step/],
    ['from after to', { from: at(60), to: at(0) }, /from must be before to/],
    ['a date that is not one', { from: 'yesterday', to: at(0) }, /from/],
    ['an unknown parameter', { from: at(0), window: '1h' }, /window/],
  ])('refuses %s with a 400 saying what to fix', async (_name, query, message) => {
    const response = await fixture.app.inject({ method: 'GET', url: `/stats/history?${new URLSearchParams(query)}` });
    expect(response.statusCode, response.body).toBe(400);
    expect((response.json() as { error: { message: string } }).error.message).toMatch(message);
  });

  it('breaks a range down by job type, most completed first, for all queues or one', async () => {
    const response = await fixture.app.inject({ method: 'GET', url: `/stats/history/types?${new URLSearchParams({ from: at(0), to: at(60) })}` });
    expect(response.statusCode, response.body).toBe(200);
    expect((response.json() as { types: unknown[] }).types).toEqual([
      { type: 'report', completed: 25, failed: 2, dead: 0, runMs: { p50: 103.1, p95: 980.6, p99: 980.6 }, waitMs: { p50: 9.9, p95: 9.9, p99: 9.9 } },
      { type: 'export', completed: 3, failed: 0, dead: 1, runMs: { p50: 2.3, p95: 2.3, p99: 2.3 }, waitMs: { p50: null, p95: null, p99: null } },
    ]);
    const emails = await fixture.app.inject({ method: 'GET', url: `/stats/history/types?${new URLSearchParams({ queue: 'emails', from: at(0), to: at(60) })}` });
    expect((emails.json() as { types: { type: string; completed: number }[] }).types).toEqual([expect.objectContaining({ type: 'report', completed: 5 })]);
    const tooLong = await fixture.app.inject({ method: 'GET', url: `/stats/history/types?${new URLSearchParams({ from: at(0), to: at(60 * 24 * 32) })}` });
    expect(tooLong.statusCode).toBe(400);
    expect(tooLong.body).toContain('at most 31 days apart');
  });

  it('answers 404 for a queue this deployment does not serve', async () => {
    const response = await fixture.app.inject({ method: 'GET', url: '/stats/history?queue=nope' });
    expect(response.statusCode).toBe(404);
  });
});
