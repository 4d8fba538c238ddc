/** The shapes the public HTTP API answers with (see GET /docs/json). */

export const JOB_STATES = ['pending', 'scheduled', 'processing', 'retrying', 'completed', 'dead', 'cancelled', 'discarded'] as const;
export type JobState = (typeof JOB_STATES)[number];
export type EventStatus = JobState | 'failed';

/** States from which a job can still be cancelled. */
export const CANCELLABLE: readonly JobState[] = ['pending', 'scheduled', 'retrying'];

/** States a job never leaves on its own. */
export const FINISHED: readonly JobState[] = ['completed', 'dead', 'cancelled', 'discarded'];

/** States from which an operator can run a job now. */
export const RUNNABLE_NOW: readonly JobState[] = ['scheduled', 'retrying'];

export interface Consumer {
  name: string;
  pending: number;
  idleMs: number;
}

export interface ThroughputSecond {
  second: number;
  completed: number;
  failed: number;
}

export type QueueSnapshot = Record<JobState, number> & {
  paused: boolean;
  consumers: Consumer[];
  throughput: { completedLastMinute: number; failedLastMinute: number; completedPerSecond: number };
  perSecond: ThroughputSecond[];
  /** Jobs per type waiting because no live worker serves their type. */
  waitingWithoutWorker: Record<string, number>;
  /** Jobs running now, per type. */
  processingByType: Record<string, number>;
  /** Jobs per type waiting for room under their type's rate limit or concurrency cap. */
  heldByLimits: Record<string, number>;
  /** Grouped jobs waiting their group's turn, and groups with jobs running. */
  groups?: { waiting: number; running: number };
  /** The queue's own rate limit and concurrency cap. */
  limits: FlowLimits;
  /** Queue latency: how long the oldest job waiting for a worker has waited (ms); 0 when none waits (absent from APIs older than it). */
  latencyMs?: number;
  /** The queue per partition (one item for a queue of one partition). */
  partitions: PartitionSnapshot[];
};

/** A rate limit (at most `max` starts in any `perMs`), a concurrency cap and a queue's cap per fair group; absent ones limit nothing. */
export interface FlowLimits {
  rate?: { max: number; perMs: number };
  concurrency?: number;
  groupConcurrency?: number;
}

export type PartitionSnapshot = Record<JobState, number> & {
  index: number;
  of: number;
  paused: boolean;
  consumers: number;
  completedLastMinute: number;
  failedLastMinute: number;
  latencyMs: number;
};

/** One event of GET /stats/stream. */
export interface StatsSnapshot {
  at: string;
  queues: Record<string, QueueSnapshot>;
}

export interface JobEvent {
  status: EventStatus;
  attempt: number;
  at: string;
  worker?: string;
  error?: string;
  nextAt?: string;
  reason?: string;
}

export interface JobSummary {
  id: string;
  queue: string;
  type: string;
  payload: Record<string, unknown>;
  status: JobState;
  attempts: number;
  maxAttempts: number;
  priority: number;
  runAt: string;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
  lastError: string | null;
  idempotencyKey: string | null;
  result: unknown;
  progress: unknown;
  /** The schedule and tick that made the job, if one did. */
  schedule: { name: string; tick: string } | null;
  /** Its fair group, if it has one. */
  group: string | null;
}

/** Why a job is not running yet (GET /jobs/:id's `waiting`). */
export interface Waiting {
  reason: 'scheduled' | 'retry_backoff' | 'paused' | 'unserved' | 'rate_limit' | 'concurrency_cap' | 'queue_limit' | 'group_turn' | 'group_cap' | 'in_line';
  message: string;
  /** When the wait ends, for a due time. */
  until?: string;
  /** For in_line: jobs pending in its partition. */
  depth?: number;
}

export interface Job extends JobSummary {
  history: JobEvent[];
  waiting: Waiting | null;
}

/** What the API can do to many jobs at once. */
export type JobAction = 'retry' | 'cancel' | 'discard';

/** How an action over many jobs went. */
export interface ActionTally {
  done: number;
  conflict: number;
  notFound: number;
}

/**
 * A job as GET /jobs and GET /jobs/dead list it: a payload or result over 16 KiB of JSON is left out
 * (null, with its Truncated flag set); GET /jobs/:id has it whole.
 */
export interface ListedJob extends Omit<JobSummary, 'payload'> {
  payload: Record<string, unknown> | null;
  /** Size of the payload's JSON text in bytes. */
  payloadBytes: number;
  payloadTruncated: boolean;
  /** Size of the result's JSON text in bytes; 0 without a result. */
  resultBytes: number;
  resultTruncated: boolean;
}

export interface DeadJob extends ListedJob {
  reason: string;
  deadAt: string;
}

export interface Page<T> {
  jobs: T[];
  nextCursor: string | null;
}

/** A JSON schema, as far as the submit form reads one. */
export interface JsonSchema {
  type?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  anyOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  format?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  description?: string;
}

export interface JobType {
  name: string;
  description: string | null;
  payloadSchema: JsonSchema;
  maxAttempts: number;
  timeoutMs: number;
}

export interface AddedJob {
  id: string;
  queue: string;
  type: string;
  status: JobState;
  duplicate: boolean;
}

/** One run of a schedule (GET /schedules). */
export interface ScheduleRun {
  tick: string;
  kind: 'tick' | 'manual';
  status: 'created' | 'failed' | 'skipped' | 'missed';
  jobId: string | null;
  reason: string | null;
  lastTick?: string;
  missedCount?: number | null;
  at: string;
}

/** A schedule with its next ticks and newest runs. */
export interface Schedule {
  name: string;
  cron: string | null;
  everyMs: number | null;
  timezone: string;
  job: { type: string; payload: Record<string, unknown>; queue: string; priority: number; maxAttempts: number | null };
  overlap: string;
  catchUp: string;
  paused: boolean;
  nextRunAt: string | null;
  nextRuns: string[];
  lastRuns: ScheduleRun[];
  inFlight: number;
}

/** A job a worker runs now (GET /workers). */
export interface RunningJob {
  id: string;
  type: string;
  queue: string;
  attempt: number;
  startedAt: number;
}

/** A live worker process (GET /workers). */
export interface WorkerProcess {
  name: string;
  hostname: string;
  pid: number;
  rssBytes: number;
  version: string;
  startedAt: number;
  seenAt: number;
  queues: string[];
  concurrency: number;
  draining: boolean;
  runningCount: number;
  running: RunningJob[];
}

/** One Redis node's health (GET /system). */
export interface RedisNode {
  name: string;
  role: string;
  version: string;
  usedMemoryBytes: number;
  maxMemoryBytes: number;
  maxMemoryPolicy: string;
  opsPerSecond: number;
  connectedClients: number;
  uptimeSeconds: number;
}

/** Backlog of the history on its way to PostgreSQL. */
export interface HistoryBacklog {
  backlog: number;
  lagMs: number;
  setAside: number;
}

/** GET /system. */
export interface SystemHealth {
  redis: { nodes: RedisNode[] };
  history: HistoryBacklog & { queues: Record<string, HistoryBacklog> };
}

/** Percentiles of durations in ms, as GET /stats/history gives them; null where nothing was timed. */
export interface Percentiles {
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

/** Counts and times of a step or a job type, as GET /stats/history and /stats/history/types give them. */
export interface MetricsTotals {
  completed: number;
  failed: number;
  dead: number;
  runMs: Percentiles;
  waitMs: Percentiles;
}

/** GET /stats/history's answer. */
export interface MetricsHistory {
  from: string;
  to: string;
  step: string;
  points: (MetricsTotals & { at: string; depth: number | null })[];
}

/** GET /stats/history/types's answer. */
export interface TypeBreakdown {
  from: string;
  to: string;
  types: (MetricsTotals & { type: string })[];
}
