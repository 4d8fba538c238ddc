/**
 * The ranges the History card offers, each with the step that keeps it under a couple of hundred
 * points, its ticks, and how often it is read again. A read costs PostgreSQL in proportion to the
 * rollups it merges, minute rows or, for the week's hourly steps, hour rows (bench/metrics-history-read.ts:
 * about a second for a busy day), so a wider range is read less often; the newest step still moves on
 * within that time.
 */
export const HISTORY_RANGES = {
  '1 h': { seconds: 3600, step: '1m', stepMs: 60_000, tickSeconds: 600, rereadMinutes: 1 },
  '24 h': { seconds: 86_400, step: '15m', stepMs: 900_000, tickSeconds: 3 * 3600, rereadMinutes: 5 },
  '7 d': { seconds: 7 * 86_400, step: '1h', stepMs: 3_600_000, tickSeconds: 86_400, rereadMinutes: 15 },
} as const;
export type HistoryRange = keyof typeof HISTORY_RANGES;

/**
 * Which read of `range` the minute `minute` (since the epoch) belongs to: the card reads again when
 * it changes. Each range's period divides an hour, so a new step of any range starts a new read.
 */
export function historyRead(range: HistoryRange, minute: number): number {
  return Math.floor(minute / HISTORY_RANGES[range].rereadMinutes);
}
