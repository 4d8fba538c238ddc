import { NORMAL_BAND, PRIORITY_BANDS } from './priority.js';

/**
 * The Redis keys of one queue. Every key carries the hash tag `{queue}` so one queue lives in one
 * cluster slot. Keys are made here only: the scripts touch no key they are not given.
 */
export interface QueueKeys {
  /** Streams of ready jobs, one per priority band, highest first (see PRIORITY_BANDS), each read by the workers' consumer group. */
  bands: readonly string[];
  /** The normal band's stream, `bands[NORMAL_BAND]`: that of every job of priority 0. */
  stream: string;
  /**
   * Stream of the grouped jobs running now (see AddJobOptions.group), one entry each, read only by the
   * step that starts the job (so its entry is in the pending list, for the reclaimer), and of the markers
   * that wake a worker's blocking read when grouped jobs wait.
   */
  grouped: string;
  /** The streams a worker's consumer group reads, `bands` then `grouped`; a started job's `band` indexes them. */
  streams: readonly string[];
  /** ZSET of the grouped jobs waiting their turn (`group|type|id`), scored by band, then by their fair-queueing tag. */
  fair: string;
  /** Hash of each waiting group's last tag (`g:<group>`) and count of waiting jobs (`n:<group>`), the virtual time (`*`), whether a wake marker is unread (`wake`), and which side the next odd slot goes to (`odd`). */
  fairTags: string;
  /**
   * ZSET of the handlers of grouped jobs still running after their attempts ended (timed out, ignoring
   * their signal), which their group's cap counts: member `group|id:attempt`, scored by when its lease ends.
   */
  groupOverruns: string;
  /** The keys every script that moves jobs between streams takes first: `streams`, `fair`, `fairTags`. */
  lanes: readonly string[];
  /** ZSET of scheduled jobs and retries waiting out their backoff, scored by due time in ms. */
  delayed: string;
  /** Dead-letter stream. */
  dlq: string;
  /** Stream of job transitions on their way to PostgreSQL. */
  events: string;
  /** Hash of job counts per state; the scripts keep it in step with every transition. */
  counts: string;
  /** Set while the queue is paused: workers take no new jobs from it. */
  paused: string;
  /** Lease of the history recorder that drains `events`. */
  recorderLease: string;
  /** Stream of events PostgreSQL refused for their content, set aside for an operator instead of retried forever. */
  historySetAside: string;
  /** Hash of job type -> jobs of that type waiting because no live worker serves the type. */
  unserved: string;
  /** Hash of one job's fields and history lines. */
  job(id: string): string;
  /** The id of the job an idempotency key names, while its window lasts. */
  idempotency(key: string): string;
  /**
   * Set when the outbox relay adds job `id`, deleted once its outbox row is gone: a relay that dies
   * between the two finds it and adds the job no second time, even once the job hash has expired.
   */
  outboxRelayed(id: string): string;
  /** Hash of the jobs completed and failed in the second of `ms` (epoch ms), kept 65 s. */
  throughput(ms: number): string;
  /** ZSET of the jobs of `type` waiting because no live worker serves it, scored by when they began to wait. */
  unservedOf(type: string): string;
  /** Hash of job type -> jobs of that type held back by its rate limit or concurrency cap. */
  limited: string;
  /** ZSET of the jobs of `type` held back by its limits, scored by band, then by when they began to wait (see parkLimited). */
  limitedOf(type: string): string;
  /** ZSET of the starts within the window of the rate limit of `type`, or of the queue's (null): member per start, scored by its time. */
  rateWindow(type: string | null): string;
  /**
   * ZSET of the handlers of `type` still running after their attempts ended (timed out, ignoring their
   * signal), which its concurrency cap counts: member per attempt, scored by when its lease ends.
   */
  overrunOf(type: string): string;
}

/** Builds every key of `queue` under `prefix`; the only place key names are made. */
export function queueKeys(prefix: string, queue: string): QueueKeys {
  const base = `${prefix}:{${queue}}:`;
  // The normal band keeps the name the one stream had before bands, so its jobs are where they were.
  const bands = PRIORITY_BANDS.map((band, index) => (index === NORMAL_BAND ? `${base}stream` : `${base}stream:${band.name}`));
  const grouped = `${base}stream:grouped`;
  const streams = [...bands, grouped];
  const fair = `${base}fair`;
  const fairTags = `${base}fair-tags`;
  return {
    bands,
    stream: bands[NORMAL_BAND] as string,
    grouped,
    streams,
    fair,
    fairTags,
    groupOverruns: `${base}group-overruns`,
    lanes: [...streams, fair, fairTags],
    delayed: `${base}delayed`,
    dlq: `${base}dlq`,
    events: `${base}events`,
    counts: `${base}counts`,
    paused: `${base}paused`,
    recorderLease: `${base}recorder`,
    historySetAside: `${base}history-set-aside`,
    unserved: `${base}unserved`,
    job: (id) => `${base}job:${id}`,
    idempotency: (key) => `${base}idem:${key}`,
    outboxRelayed: (id) => `${base}outbox-relayed:${id}`,
    throughput: (ms) => `${base}throughput:${Math.floor(ms / 1000)}`,
    unservedOf: (type) => `${base}unserved:${type}`,
    limited: `${base}limited`,
    limitedOf: (type) => `${base}limited:${type}`,
    rateWindow: (type) => (type === null ? `${base}rate` : `${base}rate:${type}`),
    overrunOf: (type) => `${base}overrun:${type}`,
  };
}

/** The consumer group every worker of a queue joins. */
export const WORKER_GROUP = 'workers';

/** Hash of queue name -> the JSON of its FlowLimits, set through the API (see QueueLimits); one slot for all queues. */
export function queueLimitsKey(prefix: string): string {
  return `${prefix}:{queue-limits}`;
}

/** The keys of the job types workers publish; one hash tag, so one cluster slot holds them all. */
export interface CatalogKeys {
  /** Hash of worker name -> the JSON of what it serves (see WorkerPublication). */
  publications: string;
  /** ZSET of worker name -> when it last published (ms): a worker silent for long is not live. */
  seen: string;
  /** Counter bumped whenever a publication changes, so readers rebuild only then. */
  version: string;
  /** Hash of worker name -> the JSON of its process report (see WorkerProcessReport), written with its publication. */
  processes: string;
}

/** Builds the catalog's keys under `prefix`. */
export function catalogKeys(prefix: string): CatalogKeys {
  const base = `${prefix}:{job-types}:`;
  return { publications: `${base}publications`, seen: `${base}seen`, version: `${base}version`, processes: `${base}processes` };
}

/**
 * The keys of the schedules; one hash tag, so one cluster slot holds them all and each step on a
 * schedule is one script. Their number is bounded by MAX_SCHEDULES, each run list by RUNS_KEPT.
 */
export interface ScheduleKeys {
  /** Hash of schedule name -> the JSON of its definition (see StoredSchedule). */
  definitions: string;
  /** Hash of schedule name -> its revision, bumped by every change: a claim computed from an older one is refused. */
  revisions: string;
  /** ZSET of the schedules that are not paused, scored by their next tick (ms). */
  due: string;
  /** Hash of schedule name -> the newest tick decided (run, skipped or missed): no tick at or before it is ever due again. */
  decided: string;
  /** ZSET of claimed runs (`name|tick|kind`) whose job is being added, scored by when their lease ends. */
  claims: string;
  /** Hash of schedule name -> how many of its claims are in flight. */
  inflight: string;
  /** Hash of schedule name -> the id of the newest job its runs made. */
  lastJobs: string;
  /** List of a schedule's newest runs, newest first, capped. */
  runs(name: string): string;
}

/** Builds the schedules' keys under `prefix`. */
export function scheduleKeys(prefix: string): ScheduleKeys {
  const base = `${prefix}:{schedules}:`;
  return {
    definitions: `${base}definitions`,
    revisions: `${base}revisions`,
    due: `${base}due`,
    decided: `${base}decided`,
    claims: `${base}claims`,
    inflight: `${base}inflight`,
    lastJobs: `${base}last-jobs`,
    runs: (name) => `${base}runs:${name}`,
  };
}

/**
 * Stream of the outbox rows the relay could not read (written by hand or by another version), set
 * aside with why rather than left to block every row behind them; capped at OUTBOX_SET_ASIDE_MAX_ENTRIES.
 * One key for all queues, as such a row's queue may itself be what is wrong.
 */
export function outboxSetAsideKey(prefix: string): string {
  return `${prefix}:{outbox}:set-aside`;
}
