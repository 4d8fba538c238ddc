import type { RedisClient } from '../redis/scripts.js';

/** The clock that decides when ticks are due, in ms since the epoch. */
export type ScheduleClock = () => number | Promise<number>;

/**
 * Redis's clock: every scheduler, whatever host it runs on, reads the same one, so a host whose clock
 * is off neither runs ticks early nor takes them late from the others.
 */
export function redisClock(redis: RedisClient): ScheduleClock {
  return async () => {
    const [seconds, micros] = await redis.time();
    return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  };
}
