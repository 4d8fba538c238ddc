import { queueKeys, type QueueKeys } from './keys.js';
import type { ScriptedRedis } from './redis/scripts.js';

/** Most partitions a queue may have: each costs every worker of the queue a connection. */
export const MAX_PARTITIONS = 64;
/** Slots of a Redis Cluster. */
const CLUSTER_SLOTS = 16384;

/**
 * One partition of a queue: its own stream, delayed set, dead-letter stream, counters and job hashes,
 * all under one hash tag, so a Redis Cluster places it on one master and other partitions elsewhere.
 * A queue of `count` partitions has partitions 0 … count-1; a queue of one partition is the queue's
 * own keys (`{queue}`), as before there were partitions.
 */
export interface Partition {
  queue: string;
  count: number;
  index: number;
  keys: QueueKeys;
}

/** CRC16/XMODEM, the checksum Redis Cluster maps keys to slots with. */
function crc16(text: string): number {
  let crc = 0;
  for (const byte of Buffer.from(text)) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit += 1) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** The cluster slot of a hash tag's keys. */
export function slotOfTag(tag: string): number {
  return crc16(tag) % CLUSTER_SLOTS;
}

/** The cluster slot of a key: its hash tag's (the text between its first `{` and the next `}`, if any), else the whole key's. */
export function slotOfKey(key: string): number {
  const tag = /\{([^}]+)\}/.exec(key)?.[1];
  return slotOfTag(tag ?? key);
}

const tags = new Map<string, string>();

/**
 * The hash tag of partition `index` of `count`: one whose slot lies near the middle of the
 * index-th of `count` equal slices of the slot space (within a sixteenth of a slice of it). A cluster
 * whose masters hold equal ranges of slots (as `redis-cli --cluster create` makes them) then holds
 * equally many partitions on each master when `count` is a multiple of the masters, and spreads
 * other counts as evenly as the ranges allow (2 over 3 masters: the first and the last). `~` cannot
 * occur in a queue name, so no queue's tag is another's partition.
 */
export function partitionTag(queue: string, count: number, index: number): string {
  if (!Number.isInteger(count) || !Number.isInteger(index) || count < 1 || count > MAX_PARTITIONS || index < 0 || index >= count) {
    throw new RangeError(`no partition ${index} of ${count}: a queue has 1 to ${MAX_PARTITIONS} partitions`);
  }
  if (count === 1) return queue;
  const name = `${queue}~${count}.${index}`;
  const known = tags.get(name);
  if (known !== undefined) return known;
  const middle = ((index + 0.5) * CLUSTER_SLOTS) / count;
  const reach = CLUSTER_SLOTS / count / 16;
  for (let nonce = 0; ; nonce += 1) {
    const tag = `${name}.${nonce}`;
    if (Math.abs(slotOfTag(tag) - middle) <= reach) {
      tags.set(name, tag);
      return tag;
    }
  }
}

/** Partition `index` of `count` of `queue`, with its keys. */
export function queuePartition(prefix: string, queue: string, count: number, index: number): Partition {
  return { queue, count, index, keys: queueKeys(prefix, partitionTag(queue, count, index)) };
}

/** Every partition of `queue` split `count` ways. */
export function queuePartitions(prefix: string, queue: string, count: number): Partition[] {
  return Array.from({ length: count }, (_, index) => queuePartition(prefix, queue, count, index));
}

/**
 * A job id carries its partition in its last two bytes (partitions less one, then the index), so a
 * job is found with one read wherever its queue's partitions are.
 */
export function withPartition(id: string, count: number, index: number): string {
  return id.slice(0, -4) + ((count - 1) * 256 + index).toString(16).padStart(4, '0');
}

/**
 * The partition a job id names: `count` and `index`, or null for an id that names none (a job added
 * before partitions, whose last bytes are random, names one only by chance; callers look in the
 * queue's own keys when the named partition does not have the job).
 */
export function partitionOfId(id: string): { count: number; index: number } | null {
  const tail = id.slice(-4);
  if (!/^[0-9a-f]{4}$/i.test(tail)) return null;
  const value = Number.parseInt(tail, 16);
  const count = Math.floor(value / 256) + 1;
  const index = value % 256;
  return count <= MAX_PARTITIONS && index < count ? { count, index } : null;
}

/** FNV-1a, 32 bits: spreads partition keys evenly, the same in every process. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(text)) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  return hash;
}

/** The partition index a key's jobs all go to, of `count`. */
export function partitionIndexOfKey(key: string, count: number): number {
  return fnv1a(key) % count;
}

/**
 * Where a job with this id can be, in any of `queues`: in each, the partition its id names and, for
 * a job added before the queue had partitions, the queue's own keys. Read together, they find the
 * job in one round trip.
 */
export function placesOfJob(prefix: string, queues: readonly string[], id: string): Partition[] {
  const named = partitionOfId(id);
  return queues.flatMap((queue) => {
    const own = queuePartition(prefix, queue, 1, 0);
    if (named === null || named.count === 1) return [own];
    return [queuePartition(prefix, queue, named.count, named.index), own];
  });
}

/** The key of the partition counts every process has used, `queue:count` members: one slot for every queue. */
export function layoutsKey(prefix: string): string {
  return `${prefix}:{queue-layouts}`;
}

/**
 * The partitions of each queue: the configured count's, and those of every other count a process
 * has used for it (recorded in Redis), so that the partitions of a queue whose count changed are
 * still read, listed and counted until they drain. A process records its own counts in `refresh`.
 */
export class QueueLayouts {
  private readonly counts = new Map<string, number[]>();
  /** Each queue's partitions, by count: built once, as the read loops and every submission ask for them. */
  private readonly built = new Map<string, Partition[]>();

  constructor(
    private readonly redis: Pick<ScriptedRedis, 'sadd' | 'smembers'>,
    readonly prefix: string,
    private readonly configured: Readonly<Record<string, number>>,
  ) {
    for (const [queue, count] of Object.entries(configured)) this.counts.set(queue, [count]);
  }

  /** Records this process's partition counts, for workers to read every partition jobs may be added to. */
  async record(): Promise<void> {
    await this.redis.sadd(layoutsKey(this.prefix), ...Object.entries(this.configured).map(([queue, count]) => `${queue}:${count}`));
  }

  /** Records this process's partition counts, and learns the others'. */
  async refresh(): Promise<void> {
    const key = layoutsKey(this.prefix);
    await this.record();
    const recorded = new Map<string, Set<number>>();
    for (const member of await this.redis.smembers(key)) {
      const match = /^(.+):(\d+)$/.exec(member);
      if (!match || !(match[1] as string in this.configured)) continue;
      const counts = recorded.get(match[1] as string) ?? new Set<number>();
      counts.add(Number(match[2]));
      recorded.set(match[1] as string, counts);
    }
    for (const [queue, count] of Object.entries(this.configured)) {
      const others = [...(recorded.get(queue) ?? [])].filter((other) => other !== count && other >= 1 && other <= MAX_PARTITIONS).sort((a, b) => a - b);
      this.counts.set(queue, [count, ...others]);
    }
  }

  /** The partitions jobs of `queue` are added to now. */
  current(queue: string): readonly Partition[] {
    return this.partitions(queue, this.configured[queue] ?? 1);
  }

  /** Every partition of `queue` that may hold jobs: the current ones first. */
  all(queue: string): Partition[] {
    return (this.counts.get(queue) ?? [1]).flatMap((count) => this.partitions(queue, count));
  }

  private partitions(queue: string, count: number): readonly Partition[] {
    const name = `${queue}:${count}`;
    let partitions = this.built.get(name);
    if (!partitions) {
      partitions = queuePartitions(this.prefix, queue, count);
      this.built.set(name, partitions);
    }
    return partitions;
  }
}
