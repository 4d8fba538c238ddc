/**
 * How a job type retries: a few immediate retries for a short blip, then exponential backoff with
 * jitter up to a cap, then the dead-letter stream once `maxAttempts` attempts have failed.
 */
export interface RetryPolicy {
  /** Attempts in all, the first included. Default 3. */
  maxAttempts: number;
  /** Failed attempts retried at once, before backoff starts. Default 1. */
  immediateRetries: number;
  /** Backoff of the first delayed retry. Default 1000 ms. */
  baseDelayMs: number;
  /** Longest backoff. Default 1 h. */
  maxDelayMs: number;
}

/** The policy of a type that declares none. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxAttempts: 3,
  immediateRetries: 1,
  baseDelayMs: 1000,
  maxDelayMs: 3_600_000,
};

/**
 * Milliseconds to wait before the next attempt, after `failedAttempts` attempts have failed.
 *
 * "Equal jitter": the wait lies in [ceiling/2, ceiling] where the ceiling doubles per delayed retry
 * up to the cap. Each retry's window starts where the previous one's ends, so gaps grow while
 * workers that failed together still spread out. `random` returns a number in [0, 1).
 */
export function nextRetryDelay(failedAttempts: number, policy: RetryPolicy, random: () => number = Math.random): number {
  if (failedAttempts <= policy.immediateRetries) return 0;
  const exponent = failedAttempts - policy.immediateRetries - 1;
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(exponent, 52));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
