import { Cluster } from 'ioredis';
import { NotReplicatedError } from './errors.js';
import type { QueueKeys } from './keys.js';
import { slotOfKey } from './partitions.js';
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
 * its scripts, then one WAIT per node it wrote to (on a cluster, in a pipeline with a read of a key
 * the node holds, which takes it there; the nodes' WAITs run side by side), and answers; what comes
 * meanwhile waits for the next batch. While replicas lag, a submission waits for at most the batch
 * before it and its own, each up to `timeoutMs`.
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
      // A stream of each node written to stands for the node: its WAIT covers every write sent there before it.
      const byNode = new Map<string, string>();
      batch.forEach((item, index) => {
        if (sent[index]?.status === 'fulfilled') byNode.set(this.nodeOf(item.keys.stream), item.keys.stream);
      });
      const confirmed = new Map(await Promise.all([...byNode].map(async ([node, stream]) => [node, await this.confirmed(stream)] as const)));
      batch.forEach((item, index) => {
        const outcome = sent[index] as PromiseSettledResult<unknown>;
        if (outcome.status === 'rejected') return item.reject(outcome.reason);
        const replicas = confirmed.get(this.nodeOf(item.keys.stream));
        if (replicas instanceof Error) return item.reject(replicas);
        if ((replicas ?? 0) < this.replicas) return item.reject(new NotReplicatedError(replicas ?? 0, this.replicas, this.timeoutMs));
        return item.resolve(outcome.value);
      });
    }
    this.flushing = false;
  }

  /** The node that holds `key`, as far as the connection knows: on one node (or Sentinel's master), that one. */
  private nodeOf(key: string): string {
    if (!(this.redis instanceof Cluster)) return 'master';
    const slot = slotOfKey(key);
    return this.redis.slots[slot]?.[0] ?? `slot ${slot}`;
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
