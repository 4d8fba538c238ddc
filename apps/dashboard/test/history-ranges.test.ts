import { describe, expect, it } from 'vitest';
import { HISTORY_RANGES, historyRead, type HistoryRange } from '../src/history-ranges';

/** Minutes since the epoch of 2026-12-01T10:00Z, an hour's start. */
const HOUR = Date.parse('2026-12-01T10:00:00Z') / 60_000;
const readsIn = (range: HistoryRange, minutes: number): number => new Set(Array.from({ length: minutes }, (_, minute) => historyRead(range, HOUR + minute))).size;

describe("the History card's reads", () => {
  it('read the last hour again each minute, the day every 5 minutes and the week every 15', () => {
    expect(readsIn('1 h', 60)).toBe(60);
    expect(readsIn('24 h', 60)).toBe(12);
    expect(readsIn('7 d', 60)).toBe(4);
  });

  it('start a new read with every new step of a range, so that the newest step appears at once', () => {
    for (const [range, { stepMs }] of Object.entries(HISTORY_RANGES) as [HistoryRange, { stepMs: number }][]) {
      const stepMinutes = stepMs / 60_000;
      for (let step = 1; step <= 4; step += 1) {
        const first = HOUR + step * stepMinutes;
        expect(historyRead(range, first), `${range}, step ${step}`).not.toBe(historyRead(range, first - 1));
      }
    }
  });
});
