import { NotReplicatedError } from './errors.js';
import type { QueueKeys } from './keys.js';
import type { ScriptedRedis } from './redis/scripts.js';

interface Waiting {
  keys: QueueKeys;
  send: (redis: ScriptedRedis) => Promise<unknown>;
  resolve: (reply: unknown) => void;
  reject: (error: unknown) => void;
}

/**
 * Submissions answered only once `replicas` replicas have them (REDIS_WAIT_REPLICAS). WAIT counts the
 * replicas that have every write its connection sent before it, and holds that connection until they
 * do: so these submissions go over a connection of their own, one batch at a time. Each batch sends
 * its scripts, then one WAIT per partition it wrote to (through a pipeline with a read of one of the
 * partition's keys, which takes it to the node that holds the partition, on a cluster), and answers;
 * what comes meanwhile waits for the next batch. While replicas lag, a submission waits for at most
 * the batch before it and its own, each up to `timeoutMs`.
 */
export class ReplicatedSubmissions {
  private waiting: Waiting[] = [];
  private flushing = false;

  constructor(
    private readonly redis: ScriptedRedis,
    private readonly replicas: number,
    private readonly timeoutMs: number,
  ) {}

  /** Runs `send` (a script on `keys`' partition) on this connection; settles once the replicas have what it wrote. */
  submit(keys: QueueKeys, send: (redis: ScriptedRedis) => Promise<unknown>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ keys, send, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    while (this.waiting.length > 0) {
      const batch = this.waiting.splice(0);
      const sent = await Promise.allSettled(batch.map((item) => item.send(this.redis)));
      const streams = [...new Set(batch.filter((_, index) => sent[index]?.status === 'fulfilled').map((item) => item.keys.stream))];
      const confirmed = new Map(await Promise.all(streams.map(async (stream) => [stream, await this.confirmed(stream)] as const)));
      batch.forEach((item, index) => {
        const outcome = sent[index] as PromiseSettledResult<unknown>;
        if (outcome.status === 'rejected') return item.reject(outcome.reason);
        const replicas = confirmed.get(item.keys.stream);
        if (replicas instanceof Error) return item.reject(replicas);
        if ((replicas ?? 0) < this.replicas) return item.reject(new NotReplicatedError(replicas ?? 0, this.replicas, this.timeoutMs));
        return item.resolve(outcome.value);
      });
    }
    this.flushing = false;
  }

  /** How many replicas have this connection's writes to the node holding `stream`, or the error that says why none could be counted. */
  private async confirmed(stream: string): Promise<number | Error> {
    try {
      const replies = (await this.redis.pipeline().exists(stream).wait(this.replicas, this.timeoutMs).exec()) ?? [];
      const [error, count] = replies[1] ?? [new Error('no reply to WAIT'), 0];
      return error ?? Number(count);
    } catch (error) {
      return error as Error;
    }
  }
}
