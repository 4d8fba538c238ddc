import { JobState } from './job-state.js';
import type { FlowLimits } from './flow-limits.js';
import type { Partition } from './partitions.js';

/**
 * Why a job that has not started is not running yet. A closed set, which the API's schema lists: a
 * new reason (a rate limit, a group's cap) is a value here, the fact it needs in `WaitingFacts`
 * (read by `Queue.waiting`), and a check in `WAITING_CHECKS`.
 */
export const WaitingReason = {
  /** Scheduled for a later time (delay or runAt): waits in the delayed set until `until`. */
  Scheduled: 'scheduled',
  /** Failed an attempt and waits out its backoff until `until`. */
  RetryBackoff: 'retry_backoff',
  /** Its queue is paused: no worker takes it until the queue is resumed. */
  Paused: 'paused',
  /** No live worker serves its type: it waits, spending no attempt, until one starts (or NO_HANDLER_TIMEOUT_MS). */
  Unserved: 'unserved',
  /** Its type's rate limit has no room: it waits, spending no attempt, until it has. */
  RateLimit: 'rate_limit',
  /** Its type's concurrency cap is reached: it waits, spending no attempt, until a job of its type ends. */
  ConcurrencyCap: 'concurrency_cap',
  /** Its queue's rate limit or concurrency cap holds the queue's jobs back: it waits in line until the queue has room. */
  QueueLimit: 'queue_limit',
  /** In a fair group (see AddJobOptions.group) whose turn has not come: the queue takes its groups' jobs in turn. */
  GroupTurn: 'group_turn',
  /** Its group runs as many jobs as the queue's `groupConcurrency` allows: it waits until one of them ends. */
  GroupCap: 'group_cap',
  /** Ready, waiting for a free worker behind the others in its partition's stream. */
  InLine: 'in_line',
} as const;

export type WaitingReason = (typeof WaitingReason)[keyof typeof WaitingReason];

/** Every waiting reason, in the order they are checked. */
export const WAITING_REASONS: readonly WaitingReason[] = Object.values(WaitingReason);

/** Why a job waits, for a person: the reason, a sentence, and when the wait ends if that is known. */
export interface Waiting {
  reason: WaitingReason;
  message: string;
  /** When the wait ends, for a due time (ISO-8601). */
  until?: string;
  /** For `in_line`: how many jobs are pending in the job's partition, itself included. */
  depth?: number;
}

/** What Redis says about a job that has not started, read in one round trip (see `Queue.waiting`). */
export interface WaitingFacts {
  status: JobState;
  type: string;
  partition: Partition;
  /** Its score in the delayed set (ms), if it is there. */
  dueAt: number | null;
  paused: boolean;
  /** Since when it waits for a worker of its type (ms), if it does. */
  unservedSince: number | null;
  /** Jobs pending in its partition. */
  pending: number;
  /** What of its type's limits holds it back, and since when (ms), if they do. */
  held: { by: 'rate' | 'concurrency'; since: number } | null;
  /** Its type's limits, as far as the reader knows them. */
  typeLimits: FlowLimits;
  /** The queue's limits, and whether they let nothing more start in its partition now. */
  queueLimits: FlowLimits;
  queueLimitReached: boolean;
  /** For a job waiting its fair group's turn: the group, its jobs running now, and the queue's cap per group (null: none). */
  group: { name: string; running: number; cap: number | null } | null;
}

type WaitingCheck = (facts: WaitingFacts) => Waiting | null;

const partitionName = ({ queue, count, index }: Partition): string => (count > 1 ? `partition ${index + 1} of ${count} of queue ${queue}` : `queue ${queue}`);

/** The checks, first match wins: a due time, then what holds a ready job back, then the line itself. */
const WAITING_CHECKS: readonly WaitingCheck[] = [
  ({ status, dueAt }) => {
    if (dueAt === null || (status !== JobState.Scheduled && status !== JobState.Retrying)) return null;
    const until = new Date(dueAt).toISOString();
    return status === JobState.Scheduled
      ? { reason: WaitingReason.Scheduled, until, message: `Scheduled to run at ${until}.` }
      : { reason: WaitingReason.RetryBackoff, until, message: `Waiting out its retry backoff; the next attempt is due at ${until}.` };
  },
  ({ status, paused, partition }) => status === JobState.Pending && paused
    ? { reason: WaitingReason.Paused, message: `Queue ${partition.queue} is paused: no worker takes its jobs until it is resumed.` }
    : null,
  ({ status, unservedSince, type, partition }) => status === JobState.Pending && unservedSince !== null
    ? {
      reason: WaitingReason.Unserved,
      message: `No live worker serves job type "${type}" on queue ${partition.queue}; it has waited since ${new Date(unservedSince).toISOString()} without spending an attempt.`,
    }
    : null,
  ({ status, held, type, typeLimits }) => {
    if (status !== JobState.Pending || held === null) return null;
    const since = new Date(held.since).toISOString();
    return held.by === 'rate'
      ? { reason: WaitingReason.RateLimit, message: `Held back by job type "${type}"'s rate limit${typeLimits.rate ? ` (${typeLimits.rate.max} per ${typeLimits.rate.perMs} ms)` : ''} since ${since}; it starts, spending no attempt, once the limit has room.` }
      : { reason: WaitingReason.ConcurrencyCap, message: `Held back by job type "${type}"'s concurrency cap${typeLimits.concurrency ? ` (${typeLimits.concurrency} at once)` : ''} since ${since}; it starts, spending no attempt, once one of its type ends.` };
  },
  ({ status, queueLimits, queueLimitReached, partition }) => status === JobState.Pending && queueLimitReached
    ? { reason: WaitingReason.QueueLimit, message: `Queue ${partition.queue} is at its limits (${describeLimits(queueLimits)}): its jobs wait in line until it has room.` }
    : null,
  ({ status, group, partition }) => {
    if (status !== JobState.Pending || group === null) return null;
    return group.cap !== null && group.running >= group.cap
      ? { reason: WaitingReason.GroupCap, message: `Group "${group.name}" runs ${group.running} jobs, queue ${partition.queue}'s groupConcurrency: it starts, spending no attempt, once one of them ends.` }
      : { reason: WaitingReason.GroupTurn, message: `Waiting for group "${group.name}"'s turn: queue ${partition.queue} takes its groups' jobs in turn.` };
  },
  ({ status, pending, partition }) => status === JobState.Pending
    ? { reason: WaitingReason.InLine, depth: pending, message: `Waiting in line for a free worker: ${pending} job${pending === 1 ? '' : 's'} pending in ${partitionName(partition)}.` }
    : null,
];

/** Flow limits in a few words: "100 per 1000 ms, 5 at once". */
function describeLimits({ rate, concurrency }: FlowLimits): string {
  return [rate && `${rate.max} per ${rate.perMs} ms`, concurrency !== undefined && `${concurrency} at once`].filter(Boolean).join(', ');
}

/** Why a job waits, or null when it does not (processing, finished). */
export function waitingOf(facts: WaitingFacts): Waiting | null {
  for (const check of WAITING_CHECKS) {
    const waiting = check(facts);
    if (waiting) return waiting;
  }
  return null;
}
