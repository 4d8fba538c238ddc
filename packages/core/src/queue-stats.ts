import { JOB_STATES, type JobState } from './job-state.js';
import { WORKER_GROUP } from './keys.js';
import type { Partition, QueueLayouts } from './partitions.js';
import type { FlowLimits } from './flow-limits.js';
import { readQueueLimits } from './queue-admin.js';
import { toRedisError } from './redis/client.js';
import { runScript, type ScriptedRedis } from './redis/scripts.js';

/** One consumer of a queue's group, as Redis sees it. */
export interface ConsumerStats {
  name: string;
  /** Entries delivered to it and not yet acknowledged. */
  pending: number;
  /** Milliseconds since it last read or claimed. */
  idleMs: number;
}

/** What one partition of a queue is doing (see QUEUE_PARTITIONS). */
export interface PartitionStats {
  /** The partition's index, of `of`. */
  index: number;
  of: number;
  counts: Record<JobState, number>;
  paused: boolean;
  consumers: ConsumerStats[];
  lastMinute: { completed: number; failed: number };
  unservedTypes: Record<string, number>;
  /** Jobs processing per type. */
  processingTypes: Record<string, number>;
  /** Jobs held back by their types' limits, per type. */
  heldTypes: Record<string, number>;
  /** Grouped jobs waiting their group's turn, and groups with jobs running (see AddJobOptions.group). */
  groups: GroupStats;
  /** How long the oldest job waiting for a worker has waited (ms), 0 when none waits (see oldest-waiting.lua). */
  latencyMs: number;
}

/** A queue's fair groups at a glance: counts only, as groups may be many. */
export interface GroupStats {
  /** Jobs waiting their group's turn (or its cap). */
  waiting: number;
  /** Groups with jobs running now. */
  running: number;
}

/** What a queue is doing: jobs per state, its consumers, its rate over the last minute, across its partitions. */
export interface QueueStats {
  counts: Record<JobState, number>;
  /** Whether workers take no new jobs from it (every partition paused). */
  paused: boolean;
  /** Each consumer once, its pending entries summed over the partitions and its idle time the least. */
  consumers: ConsumerStats[];
  /** Attempts that completed and failed in the last 60 seconds. */
  lastMinute: { completed: number; failed: number };
  /** The same attempts second by second, oldest first; the last second is still under way. */
  perSecond: ThroughputSecond[];
  /** Jobs waiting because no live worker serves their type, per type (see NO_HANDLER_TIMEOUT_MS). */
  unservedTypes: Record<string, number>;
  /** Jobs processing per type, those a type's concurrency cap counts. */
  processingTypes: Record<string, number>;
  /** Jobs held back by their types' rate limits or concurrency caps, per type (see FlowLimits). */
  heldTypes: Record<string, number>;
  /** Grouped jobs waiting their turn, and groups running, over the partitions (a group lives in one). */
  groups: GroupStats;
  /** How long the oldest job waiting for a worker, in any partition, has waited (ms); 0 when none waits. */
  latencyMs: number;
  /** The flow limits set on the queue ({} for none). */
  limits: FlowLimits;
  /** The same per partition, the current partitions first, then any of an earlier count still draining. */
  partitions: PartitionStats[];
}

/** Attempts that completed and failed within one second. */
export interface ThroughputSecond {
  /** The second, in Unix seconds. */
  second: number;
  completed: number;
  failed: number;
}

const THROUGHPUT_WINDOW_SECONDS = 60;
/** Grouped jobs of a partition looked at for the oldest wait: the next ones in turn (see oldest-waiting.lua). */
const FAIR_LATENCY_SAMPLE = 100;

/**
 * Reads every queue's statistics from Redis in one round trip, a pipeline per partition (each is a
 * cluster slot of its own): the per-state counts the transition scripts keep, the group's consumers,
 * and the per-second throughput buckets. Nothing here scans the history.
 */
export async function queueStats(redis: ScriptedRedis, layouts: QueueLayouts, queues: readonly string[], now = Date.now()): Promise<Record<string, QueueStats>> {
  const second = Math.floor(now / 1000);
  let perQueue: PartitionReading[][];
  try {
    perQueue = await Promise.all(queues.map((queue) => Promise.all(layouts.all(queue).map((partition) => readPartition(redis, partition, second)))));
  } catch (error) {
    throw toRedisError(error);
  }
  const limits = await readQueueLimits(redis, layouts.prefix);
  const stats: Record<string, QueueStats> = {};
  queues.forEach((queue, index) => {
    stats[queue] = { ...combine(perQueue[index] as PartitionReading[]), limits: limits[queue] ?? {} };
  });
  return stats;
}

interface PartitionReading extends PartitionStats {
  perSecond: ThroughputSecond[];
}

async function readPartition(redis: ScriptedRedis, { keys, index, count }: Partition, second: number): Promise<PartitionReading> {
  const pipeline = redis.pipeline();
  pipeline.hgetall(keys.counts);
  pipeline.exists(keys.paused);
  pipeline.xinfo('CONSUMERS', keys.stream, WORKER_GROUP);
  pipeline.hgetall(keys.unserved);
  pipeline.hgetall(keys.limited);
  pipeline.zcard(keys.fair);
  for (let s = second - THROUGHPUT_WINDOW_SECONDS + 1; s <= second; s += 1) pipeline.hmget(keys.throughput(s * 1000), 'completed', 'failed');
  const [replies, latency] = await Promise.all([
    pipeline.exec(),
    runScript(redis, 'oldestWaiting', [...keys.bands, keys.fair, keys.fairTags], [WORKER_GROUP, FAIR_LATENCY_SAMPLE]) as Promise<number>,
  ]);
  const [counts, paused, consumers, unserved, limited, waitingInGroups, ...buckets] = replies ?? [];
  for (const reply of [counts, paused, unserved, limited, waitingInGroups]) if (reply?.[0]) throw toRedisError(reply[0]);
  const countHash = (counts?.[1] ?? {}) as Record<string, string>;
  const perSecond = buckets.map((bucket, offset): ThroughputSecond => {
    const [completed, failed] = (bucket[1] ?? []) as (string | null)[];
    return { second: second - THROUGHPUT_WINDOW_SECONDS + 1 + offset, completed: Number(completed ?? 0), failed: Number(failed ?? 0) };
  });
  return {
    index,
    of: count,
    counts: countsFrom(countHash),
    paused: paused?.[1] === 1,
    // A partition no worker has joined yet has no group: no consumers.
    consumers: consumers?.[0] ? [] : consumersFrom(consumers?.[1] as (string | number)[][]),
    lastMinute: sumOf(perSecond),
    perSecond,
    unservedTypes: perType((unserved?.[1] ?? {}) as Record<string, string>),
    processingTypes: perType(Object.fromEntries(Object.entries(countHash).filter(([field]) => field.startsWith(PROCESSING_OF)).map(([field, count]) => [field.slice(PROCESSING_OF.length), count]))),
    heldTypes: perType((limited?.[1] ?? {}) as Record<string, string>),
    groups: {
      waiting: Number(waitingInGroups?.[1] ?? 0),
      running: Object.entries(countHash).filter(([field, count]) => field.startsWith(GROUP_RUNNING) && Number(count) > 0).length,
    },
    latencyMs: Math.max(0, latency),
  };
}

/** The prefix of the counts hash's fields of the jobs processing per type. */
const PROCESSING_OF = 'processing:';
/** The prefix of the counts hash's fields of the jobs running per fair group. */
const GROUP_RUNNING = 'group:';

/** Counts per type from a hash, those at zero or below left out. */
function perType(hash: Record<string, string>): Record<string, number> {
  return Object.fromEntries(Object.entries(hash).map(([type, count]) => [type, Number(count)]).filter(([, count]) => (count as number) > 0));
}

/** Adds `from`'s counts per type into `into`. */
function addPerType(into: Record<string, number>, from: Record<string, number>): void {
  for (const [type, count] of Object.entries(from)) into[type] = (into[type] ?? 0) + count;
}

function sumOf(seconds: readonly { completed: number; failed: number }[]): { completed: number; failed: number } {
  return seconds.reduce((sum, bucket) => ({ completed: sum.completed + bucket.completed, failed: sum.failed + bucket.failed }), { completed: 0, failed: 0 });
}

/** A queue's figures from its partitions'. */
function combine(partitions: readonly PartitionReading[]): Omit<QueueStats, 'limits'> {
  const counts = countsFrom({});
  const unservedTypes: Record<string, number> = {};
  const processingTypes: Record<string, number> = {};
  const heldTypes: Record<string, number> = {};
  const groups: GroupStats = { waiting: 0, running: 0 };
  const consumers = new Map<string, ConsumerStats>();
  for (const partition of partitions) {
    for (const state of JOB_STATES) counts[state] += partition.counts[state];
    addPerType(unservedTypes, partition.unservedTypes);
    addPerType(processingTypes, partition.processingTypes);
    addPerType(heldTypes, partition.heldTypes);
    groups.waiting += partition.groups.waiting;
    groups.running += partition.groups.running;
    for (const consumer of partition.consumers) {
      const seen = consumers.get(consumer.name);
      consumers.set(consumer.name, seen ? { name: consumer.name, pending: seen.pending + consumer.pending, idleMs: Math.min(seen.idleMs, consumer.idleMs) } : { ...consumer });
    }
  }
  const perSecond = (partitions[0]?.perSecond ?? []).map((bucket, offset) => ({
    second: bucket.second,
    ...sumOf(partitions.map((partition) => partition.perSecond[offset] ?? { completed: 0, failed: 0 })),
  }));
  return {
    counts,
    paused: partitions.length > 0 && partitions.every((partition) => partition.paused),
    consumers: [...consumers.values()],
    lastMinute: sumOf(perSecond),
    perSecond,
    unservedTypes,
    processingTypes,
    heldTypes,
    groups,
    latencyMs: Math.max(0, ...partitions.map((partition) => partition.latencyMs)),
    partitions: partitions.map(({ perSecond: _perSecond, ...partition }) => partition),
  };
}
function countsFrom(hash: Record<string, string>): Record<JobState, number> {
  return Object.fromEntries(JOB_STATES.map((state) => [state, Math.max(0, Number(hash[state] ?? 0))])) as Record<JobState, number>;
}

function consumersFrom(rows: (string | number)[][]): ConsumerStats[] {
  return rows.map((fields) => {
    const info = new Map<string, string | number>();
    for (let i = 0; i + 1 < fields.length; i += 2) info.set(String(fields[i]), fields[i + 1] as string | number);
    return { name: String(info.get('name')), pending: Number(info.get('pending') ?? 0), idleMs: Number(info.get('idle') ?? 0) };
  });
}
