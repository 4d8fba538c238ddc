import { InvalidLimitsError, QueueNotFoundError } from './errors.js';
import { flowLimitsProblems, limitsAnything, type FlowLimits } from './flow-limits.js';
import { queueLimitsKey } from './keys.js';
import type { QueueLayouts } from './partitions.js';
import { toRedisError } from './redis/client.js';
import type { ScriptedRedis } from './redis/scripts.js';

/**
 * Pausing and resuming queues, and their flow limits. A pause is a key in each partition, so it
 * outlives worker restarts; the limits of every queue are one hash, which workers read every second.
 */
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

  /** The flow limits set on `queue` ({} for none). */
  async limits(queue: string): Promise<FlowLimits> {
    this.assertServed(queue);
    return (await readQueueLimits(this.redis, this.layouts.prefix))[queue] ?? {};
  }

  /**
   * Sets the flow limits of `queue`, replacing those it had ({} lifts them). Workers enforce them
   * within a second or so; on a queue of several partitions, each partition its share (see partitionShare).
   */
  async setLimits(queue: string, limits: FlowLimits): Promise<FlowLimits> {
    this.assertServed(queue);
    const problems = flowLimitsProblems(limits, 'limits', 'queue');
    if (problems.length > 0) throw new InvalidLimitsError(problems);
    const key = queueLimitsKey(this.layouts.prefix);
    try {
      if (limitsAnything(limits)) await this.redis.hset(key, queue, JSON.stringify(limits));
      else await this.redis.hdel(key, queue);
    } catch (error) {
      throw toRedisError(error);
    }
    return limits;
  }

  private assertServed(queue: string): void {
    if (!this.queues.includes(queue)) throw new QueueNotFoundError(queue, this.queues);
  }

  private async run(queue: string, command: (pausedKey: string) => Promise<unknown>): Promise<void> {
    this.assertServed(queue);
    try {
      await Promise.all(this.layouts.all(queue).map(({ keys }) => command(keys.paused)));
    } catch (error) {
      throw toRedisError(error);
    }
  }
}

/** The flow limits of every queue that has any, as set through QueueAdmin; one that cannot be read counts as none. */
export async function readQueueLimits(redis: ScriptedRedis, prefix: string): Promise<Record<string, FlowLimits>> {
  let stored: Record<string, string>;
  try {
    stored = await redis.hgetall(queueLimitsKey(prefix));
  } catch (error) {
    throw toRedisError(error);
  }
  const limits: Record<string, FlowLimits> = {};
  for (const [queue, json] of Object.entries(stored)) {
    try {
      const parsed = JSON.parse(json) as unknown;
      if (flowLimitsProblems(parsed, 'limits', 'queue').length === 0) limits[queue] = parsed as FlowLimits;
    } catch {
      // Written by hand, or by another version: no limits rather than a worker that cannot read.
    }
  }
  return limits;
}
