/**
 * The tick arithmetic of schedules, pure: when a cron or everyMs ticks (DST in the schedule's time
 * zone included), and what a scheduler does with a due tick at a given time for each catchUp.
 */
import { describe, expect, it } from 'vitest';
import { MAX_CATCH_UP_TICKS, planTicks, SCHEDULE_GRACE_MS, ticksAfter, type ScheduleTiming } from '@sluice/core';

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString();
const cron = (expression: string, timezone = 'UTC'): ScheduleTiming => ({ cron: expression, everyMs: null, timezone });
const every = (ms: number): ScheduleTiming => ({ cron: null, everyMs: ms, timezone: 'UTC' });

describe('ticks', () => {
  it('fall on multiples of everyMs since the epoch, strictly after the time given', () => {
    expect(ticksAfter(every(60_000), at('2030-01-01T00:00:30Z'), 3).map(iso)).toEqual([
      '2030-01-01T00:01:00.000Z', '2030-01-01T00:02:00.000Z', '2030-01-01T00:03:00.000Z',
    ]);
    expect(ticksAfter(every(60_000), at('2030-01-01T00:01:00Z'), 1).map(iso)).toEqual(['2030-01-01T00:02:00.000Z']);
  });

  it('read a cron of 5 fields in minutes and of 6 in seconds', () => {
    expect(ticksAfter(cron('*/15 * * * *'), at('2030-01-01T00:07:00Z'), 2).map(iso)).toEqual(['2030-01-01T00:15:00.000Z', '2030-01-01T00:30:00.000Z']);
    expect(ticksAfter(cron('*/20 * * * * *'), at('2030-01-01T00:00:05Z'), 2).map(iso)).toEqual(['2030-01-01T00:00:20.000Z', '2030-01-01T00:00:40.000Z']);
  });

  it('run 30 2 * * * in Europe/Berlin at 03:30 CEST on the spring-forward day, when 02:30 does not exist, and once (the first 02:30) on the fall-back day', () => {
    const berlin = cron('30 2 * * *', 'Europe/Berlin');
    // 2030-03-31: clocks go from 02:00 CET to 03:00 CEST. 02:30 CET would be 01:30 UTC, which is 03:30 CEST.
    expect(ticksAfter(berlin, at('2030-03-29T12:00:00Z'), 3).map(iso)).toEqual([
      '2030-03-30T01:30:00.000Z', // 02:30 CET
      '2030-03-31T01:30:00.000Z', // 03:30 CEST: 24 h after the day before
      '2030-04-01T00:30:00.000Z', // 02:30 CEST
    ]);
    // 2030-10-27: clocks go from 03:00 CEST back to 02:00 CET, so 02:30 happens twice; it runs at the first.
    expect(ticksAfter(berlin, at('2030-10-25T12:00:00Z'), 3).map(iso)).toEqual([
      '2030-10-26T00:30:00.000Z', // 02:30 CEST
      '2030-10-27T00:30:00.000Z', // the first 02:30 (CEST); not again at 01:30 UTC (02:30 CET)
      '2030-10-28T01:30:00.000Z', // 02:30 CET
    ]);
  });

  it('keep an hourly cron in Europe/Berlin on real hours through both changes: 23 ticks on the spring day, 24 on the fall day', () => {
    const hourly = cron('0 * * * *', 'Europe/Berlin');
    const spring = ticksAfter(hourly, at('2030-03-30T22:59:00Z'), 30).filter((tick) => tick < at('2030-03-31T22:00:00Z'));
    expect(spring).toHaveLength(23);
    const fall = ticksAfter(hourly, at('2030-10-26T21:59:00Z'), 30).filter((tick) => tick < at('2030-10-27T23:00:00Z'));
    // Croner runs a wall-clock time once: the repeated 02:00 is not run again, so 24 rather than 25.
    expect(fall).toHaveLength(24);
    expect(new Set(fall.map((tick) => tick % 3_600_000))).toEqual(new Set([0]));
  });
});

describe('planning a due tick', () => {
  const minute = every(60_000);
  const due = at('2030-01-01T00:00:00Z');

  it('runs a tick on time: up to the grace late, and before the next tick is due', () => {
    expect(planTicks(minute, due, due - 1, 'none')).toBeNull();
    expect(planTicks(minute, due, due + 59_999, 'none')).toEqual({ run: due, missed: null, next: due + 60_000 });
    expect(planTicks(minute, due, due + 60_000, 'none')).toEqual({ run: due + 60_000, missed: { first: due, last: due, count: 1 }, next: due + 120_000 });
    const hourly = every(3_600_000);
    expect(planTicks(hourly, due, due + SCHEDULE_GRACE_MS, 'none')).toEqual({ run: due, missed: null, next: due + 3_600_000 });
    expect(planTicks(hourly, due, due + SCHEDULE_GRACE_MS + 1, 'none')).toEqual({ run: null, missed: { first: due, last: due, count: 1 }, next: due + 3_600_000 });
  });

  it('with catchUp none, records the missed ticks and runs only a tick that is on time', () => {
    // 10 min 30 s down: ticks 0..10 min are missed but the 10 min one is 30 s late, within its grace (60 s to the next).
    expect(planTicks(minute, due, due + 630_000, 'none')).toEqual({ run: due + 600_000, missed: { first: due, last: due + 540_000, count: 10 }, next: due + 660_000 });
    const hourly = every(3_600_000);
    expect(planTicks(hourly, due, due + 3 * 3_600_000 + 120_000, 'none')).toEqual({
      run: null, missed: { first: due, last: due + 3 * 3_600_000, count: 4 }, next: due + 4 * 3_600_000,
    });
  });

  it('with catchUp latest, runs the newest missed tick when none is on time, or the one on time', () => {
    const hourly = every(3_600_000);
    expect(planTicks(hourly, due, due + 3 * 3_600_000 + 120_000, 'latest')).toEqual({
      run: due + 3 * 3_600_000, missed: { first: due, last: due + 2 * 3_600_000, count: 3 }, next: due + 4 * 3_600_000,
    });
    expect(planTicks(hourly, due, due + 120_000, 'latest')).toEqual({ run: due, missed: null, next: due + 3_600_000 });
    expect(planTicks(minute, due, due + 630_000, 'latest')).toEqual(planTicks(minute, due, due + 630_000, 'none'));
  });

  it(`with catchUp all, runs every missed tick oldest first, the newest ${MAX_CATCH_UP_TICKS} at most`, () => {
    expect(planTicks(minute, due, due + 630_000, 'all')).toEqual({ run: due, missed: null, next: due + 60_000 });
    // 150 minutes missed: the oldest 50 are dropped, the 100 before the one on time run.
    const now = due + 150 * 60_000 + 1000;
    expect(planTicks(minute, due, now, 'all')).toEqual({
      run: due + 50 * 60_000, missed: { first: due, last: due + 49 * 60_000, count: 50 }, next: due + 51 * 60_000,
    });
  });

  it('counts a cron\'s missed ticks and skips over those beyond the grace without walking them', () => {
    const secondly = cron('* * * * * *');
    const plan = planTicks(secondly, due, due + 30 * 24 * 3_600_000, 'none');
    expect(plan?.run).toBe(due + 30 * 24 * 3_600_000);
    expect(plan?.missed).toEqual({ first: due, last: due + 30 * 24 * 3_600_000 - 1000, count: null });
  });
});
