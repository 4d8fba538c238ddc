import { describe, expect, it, vi } from 'vitest';
import { RedisUnavailableError } from '@sluice/core';
import { waitFor } from '../../../test/support/context';
import { sseFrame, StatsHub } from '../src/stats-hub';

function collector() {
  const frames: string[] = [];
  let ended = false;
  return { frames, get ended() { return ended; }, send: (frame: string) => frames.push(frame), end: () => { ended = true; } };
}

describe('StatsHub', () => {
  it('never starts a read while one is under way, however slow it is', async () => {
    vi.useFakeTimers();
    let reads = 0;
    let release: () => void = () => undefined;
    const hub = new StatsHub(() => {
      reads += 1;
      return new Promise((resolve) => { release = () => resolve({ n: reads }); });
    }, 5);
    const client = collector();
    const unsubscribe = hub.subscribe(client);
    try {
      // Ten intervals pass while the first read hangs.
      await vi.advanceTimersByTimeAsync(50);
      expect(reads).toBe(1);
      release();
      await vi.advanceTimersByTimeAsync(0);
      expect(client.frames).toEqual([sseFrame('snapshot', { n: 1 })]);
      await vi.advanceTimersByTimeAsync(5);
      expect(reads).toBe(2);
      unsubscribe();
      expect(hub.running).toBe(false);
    } finally {
      vi.useRealTimers();
    }
  });

  it('says why there is no snapshot when the read fails, gives a newcomer the latest frame, and ends everyone on close', async () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 10.0.0.5:6379'), { code: 'ECONNREFUSED' });
    const hub = new StatsHub(async () => { throw new RedisUnavailableError(refused); }, 10);
    const first = collector();
    hub.subscribe(first);
    await waitFor('a frame', () => first.frames.length >= 1);
    // In words that name no address: a browser shows it.
    expect(first.frames[0]).toBe(sseFrame('unavailable', { message: 'Redis is not answering (connection refused).' }));
    const second = collector();
    hub.subscribe(second);
    expect(second.frames).toHaveLength(1);
    hub.close();
    expect([first.ended, second.ended, hub.running, hub.listenerCount]).toEqual([true, true, false, 0]);
  });
});
