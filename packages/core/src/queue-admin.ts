import { QueueNotFoundError } from './errors.js';
import type { QueueLayouts } from './partitions.js';
import { toRedisError } from './redis/client.js';
import type { ScriptedRedis } from './redis/scripts.js';

/** Pausing and resuming queues. A pause is a key in each partition, so it outlives worker restarts. */
export class QueueAdmin {
  constructor(
    private readonly redis: ScriptedRedis,
    private readonly layouts: QueueLayouts,
    private readonly queues: readonly string[],
  ) {}

  /** Stops every worker taking new jobs from `queue`; jobs in flight finish. */
  async pause(queue: string): Promise<void> {
    await this.run(queue, (key) => this.redis.set(key, String(Date.now())));
  }

  /** Lets workers take jobs from `queue` again. */
  async resume(queue: string): Promise<void> {
    await this.run(queue, (key) => this.redis.del(key));
  }

  private async run(queue: string, command: (pausedKey: string) => Promise<unknown>): Promise<void> {
    if (!this.queues.includes(queue)) throw new QueueNotFoundError(queue, this.queues);
    try {
      await Promise.all(this.layouts.all(queue).map(({ keys }) => command(keys.paused)));
    } catch (error) {
      throw toRedisError(error);
    }
  }
}
