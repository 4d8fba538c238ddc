import { describe, expect, it } from 'vitest';
import type { QueueSnapshot, StatsSnapshot } from '../src/api/types';
import { addSnapshot, EMPTY, WINDOW_SECONDS } from '../src/live-history';

const T0 = 1_800_000_000;

function snapshot(second: number, pending: number, perSecond: [number, number, number][]): StatsSnapshot {
  const queue = {
    pending, scheduled: 0, processing: 0, retrying: 0, completed: 0, dead: 0, cancelled: 0, discarded: 0, paused: false, consumers: [],
    throughput: { completedLastMinute: 0, failedLastMinute: 0, completedPerSecond: 0 },
    perSecond: perSecond.map(([s, completed, failed]) => ({ second: s, completed, failed })),
    waitingWithoutWorker: {},
    processingByType: {},
    heldByLimits: {},
    limits: {},
    partitions: [],
  } satisfies QueueSnapshot;
  return { at: new Date(second * 1000).toISOString(), queues: { default: queue } };
}

describe('addSnapshot', () => {
  it('keeps one depth point per second and lets a newer reading of a second replace the older', () => {
    let live = addSnapshot(EMPTY, snapshot(T0, 3, [[T0 - 1, 5, 0], [T0, 1, 0]]));
    live = addSnapshot(live, snapshot(T0 + 1, 2, [[T0, 7, 1], [T0 + 1, 0, 0]]));
    expect(live.depth.map((point) => [point.at, point.queues.default?.pending])).toEqual([[T0, 3], [T0 + 1, 2]]);
    expect(live.throughput.default?.get(T0 - 1)).toEqual({ completed: 5, failed: 0 });
    expect(live.throughput.default?.get(T0)).toEqual({ completed: 7, failed: 1 });
  });

  it('forgets what is older than the window', () => {
    let live = addSnapshot(EMPTY, snapshot(T0, 1, [[T0, 1, 0]]));
    live = addSnapshot(live, snapshot(T0 + WINDOW_SECONDS, 0, [[T0 + WINDOW_SECONDS, 2, 0]]));
    expect(live.depth.map((point) => point.at)).toEqual([T0 + WINDOW_SECONDS]);
    expect([...(live.throughput.default?.keys() ?? [])]).toEqual([T0 + WINDOW_SECONDS]);
  });
});
