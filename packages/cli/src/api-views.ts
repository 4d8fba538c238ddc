/** The parts of the API's answers the commands print (the API's OpenAPI document, GET /docs/json, has them whole). */

export interface AddedJob {
  id: string;
  queue: string;
  type: string;
  status: string;
  duplicate: boolean;
}

export interface JobEvent {
  status: string;
  attempt: number;
  at: string;
  worker?: string;
  error?: string;
  nextAt?: string;
  reason?: string;
}

/** A job as lists carry it. */
export interface ListedJob {
  id: string;
  queue: string;
  type: string;
  status: string;
  attempts: number;
  maxAttempts: number;
  priority: number;
  runAt: string;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
  lastError: string | null;
  idempotencyKey: string | null;
  payload: Record<string, unknown> | null;
  result: unknown;
  progress: unknown;
  /** The schedule and tick that made the job, if one did. */
  schedule: { name: string; tick: string } | null;
  /** Its fair group, if it has one. */
  group: string | null;
}

export interface Job extends ListedJob {
  history: JobEvent[];
  /** Why it is not running yet; null when it is not waiting. */
  waiting?: { reason: string; message: string; until?: string; depth?: number } | null;
}

export interface DeadJob extends ListedJob {
  reason: string;
  deadAt: string;
}

export interface Page<T> {
  jobs: T[];
  nextCursor: string | null;
}

export type Counts = Record<'pending' | 'scheduled' | 'processing' | 'retrying' | 'completed' | 'dead' | 'cancelled' | 'discarded', number>;

export interface QueueStats extends Counts {
  paused: boolean;
  consumers: { name: string; pending: number; idleMs: number }[];
  throughput: { completedLastMinute: number; failedLastMinute: number; completedPerSecond: number };
  /** Jobs per type waiting because no live worker serves their type. */
  waitingWithoutWorker: Record<string, number>;
  /** The queue per partition; one item for a queue of one partition. */
  partitions?: (Counts & { index: number; of: number; paused: boolean; consumers: number; completedLastMinute: number })[];
}

export interface Stats {
  queues: Record<string, QueueStats>;
}

export interface QueueSummary {
  name: string;
  paused: boolean;
  depth: number;
  counts: Partial<Counts>;
  limits: FlowLimitsView;
}

/** A queue's or a type's rate limit and concurrency cap (and a queue's cap per fair group), as the API shows them. */
export interface FlowLimitsView {
  rate?: { max: number; perMs: number };
  concurrency?: number;
  groupConcurrency?: number;
}

/** A job type as GET /job-types lists it. */
export interface JobTypeView {
  name: string;
  description: string | null;
  maxAttempts: number;
  timeoutMs: number;
  queues: string[];
  workers: number;
  declared: boolean;
  conflicts: { workers: string[] }[];
}

/** One run of a schedule. */
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

/** A schedule with its next ticks and newest runs (GET /schedules/:name). */
export interface ScheduleView {
  name: string;
  cron: string | null;
  everyMs: number | null;
  timezone: string;
  job: { type: string; payload: Record<string, unknown>; queue: string; priority: number; maxAttempts: number | null };
  overlap: string;
  catchUp: string;
  paused: boolean;
  createdAt: string;
  updatedAt: string;
  revision: number;
  nextRunAt: string | null;
  nextRuns: string[];
  lastRuns: ScheduleRun[];
  inFlight: number;
}
