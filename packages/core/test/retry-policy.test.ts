import { describe, expect, it } from 'vitest';
import { DEFAULT_RETRY_POLICY, nextRetryDelay, type RetryPolicy } from '@sluice/core';

const policy: RetryPolicy = { maxAttempts: 10, immediateRetries: 1, baseDelayMs: 1000, maxDelayMs: 10_000 };

describe('nextRetryDelay', () => {
  it.each([
    // failed attempts, random, expected delay
    [1, 0.5, 0],
    [2, 0, 500],
    [2, 0.999, 1000],
    [3, 0, 1000],
    [3, 0.5, 1500],
    [4, 0.9999, 4000],
    [5, 0, 4000],
    [6, 0.9999, 10_000],
    [50, 0, 5000],
    [50, 0.9999, 10_000],
  ])('after %i failed attempts with random %d waits %i ms', (failed, random, expected) => {
    expect(nextRetryDelay(failed, policy, () => random)).toBe(expected);
  });

  it('never shrinks from one delayed retry to the next, whatever the jitter', () => {
    for (let failed = 2; failed < 12; failed += 1) {
      const longestNow = nextRetryDelay(failed, policy, () => 0.999999);
      const shortestNext = nextRetryDelay(failed + 1, policy, () => 0);
      expect(shortestNext).toBeGreaterThanOrEqual(Math.min(longestNow, policy.maxDelayMs / 2));
    }
  });

  it('defaults to three attempts, one immediate retry and a one-hour cap', () => {
    expect(DEFAULT_RETRY_POLICY).toEqual({ maxAttempts: 3, immediateRetries: 1, baseDelayMs: 1000, maxDelayMs: 3_600_000 });
  });
});
