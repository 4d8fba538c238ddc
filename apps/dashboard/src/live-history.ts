import type { StatsSnapshot } from './api/types';

/** How much history the charts keep, in seconds. */
export const WINDOW_SECONDS = 300;

/** One point of the queue-depth chart: jobs waiting per queue at a moment. */
export interface DepthPoint {
  /** Unix seconds. */
  at: number;
  queues: Record<string, { pending: number; scheduled: number; retrying: number; processing: number }>;
}

/** Everything the overview draws, kept between snapshots. */
export interface LiveStats {
  latest: StatsSnapshot | null;
  state: 'connecting' | 'live' | 'unavailable';
  message: string | undefined;
  /** Per queue, completed and failed attempts by Unix second, for the last WINDOW_SECONDS. */
  throughput: Record<string, Map<number, { completed: number; failed: number }>>;
  depth: DepthPoint[];
}

/** Nothing received yet. */
export const EMPTY: LiveStats = { latest: null, state: 'connecting', message: undefined, throughput: {}, depth: [] };

/** Folds one snapshot into the history: its per-second buckets replace older readings of the same seconds. */
export function addSnapshot(live: LiveStats, snapshot: StatsSnapshot): LiveStats {
  const now = Math.floor(Date.parse(snapshot.at) / 1000);
  const throughput: LiveStats['throughput'] = {};
  for (const [name, queue] of Object.entries(snapshot.queues)) {
    const seconds = new Map(live.throughput[name]);
    for (const bucket of queue.perSecond) seconds.set(bucket.second, { completed: bucket.completed, failed: bucket.failed });
    for (const second of seconds.keys()) if (second <= now - WINDOW_SECONDS) seconds.delete(second);
    throughput[name] = seconds;
  }
  const point: DepthPoint = {
    at: now,
    queues: Object.fromEntries(
      Object.entries(snapshot.queues).map(([name, queue]) => [name, { pending: queue.pending, scheduled: queue.scheduled, retrying: queue.retrying, processing: queue.processing }]),
    ),
  };
  const depth = [...live.depth.filter((p) => p.at > now - WINDOW_SECONDS && p.at !== now), point];
  return { ...live, latest: snapshot, throughput, depth };
}
