import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { QueueKeys } from '@sluice/core';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { RunLogLine } from '../fixtures/soak-jobs';

/** One history event as the job's Redis hash holds it (field `h<seq>`). */
export interface HistoryEvent {
  seq: number;
  status: string;
  attempt: number;
  /** Milliseconds since the epoch. */
  at: number;
  worker?: string;
  error?: string;
  reason?: string;
}

/** A finished job as Redis held it. */
export interface RedisSnapshot {
  status: string;
  seq: number;
  finishedAt: number;
  events: HistoryEvent[];
  /** Numbers 1..seq with no `h<n>` field, and `h<n>` fields past seq. */
  missingSeqs: number[];
  extraSeqs: number[];
  seenAt: number;
  /** The job's seq and status at a second read a while later, if the hash was still there: a finished job must not move. */
  later?: { seq: number; status: string };
}

export const FINISHED = new Set(['completed', 'dead', 'cancelled']);
/** A second read of a finished job comes this long after the first. */
const RECHECK_AFTER_MS = 1000;
const READ_CHUNK = 500;

/** A job hash's history fields as events, oldest first, with the seq numbers that are missing or too many. */
export function historyOfHash(hash: Record<string, string>): Pick<RedisSnapshot, 'events' | 'missingSeqs' | 'extraSeqs' | 'seq'> {
  const seq = Number(hash.seq ?? 0);
  const events: HistoryEvent[] = [];
  for (const [field, line] of Object.entries(hash)) {
    if (!/^h\d+$/.test(field)) continue;
    const raw = JSON.parse(line) as Record<string, unknown>;
    events.push({
      seq: Number(field.slice(1)), status: String(raw.s), attempt: Number(raw.a), at: Number(raw.t),
      ...(raw.worker ? { worker: String(raw.worker) } : {}), ...(raw.error ? { error: String(raw.error) } : {}), ...(raw.reason ? { reason: String(raw.reason) } : {}),
    });
  }
  events.sort((a, b) => a.seq - b.seq);
  const present = new Set(events.map((event) => event.seq));
  const missingSeqs = Array.from({ length: seq }, (_, index) => index + 1).filter((n) => !present.has(n));
  return { seq, events, missingSeqs, extraSeqs: events.filter((event) => event.seq > seq).map((event) => event.seq) };
}

/**
 * Reads the soak's jobs from Redis over and over, keeping each one's history as Redis held it once
 * it finished: the retention is short, and PostgreSQL's history is compared with these later.
 */
export class RedisWatcher {
  readonly finished = new Map<string, RedisSnapshot>();
  /** Jobs whose hash was gone before they were seen finished. */
  readonly vanished = new Set<string>();
  private loop: Promise<void> | undefined;
  private stopping = false;

  constructor(
    private readonly redis: Redis,
    private readonly jobKey: (id: string) => string,
    /** The jobs to watch: those the API accepted. */
    private readonly jobs: ReadonlyMap<string, unknown>,
  ) {}

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.loop;
  }

  /** Jobs not yet seen finished (or gone). */
  unfinished(): number {
    return this.jobs.size - this.finished.size - this.vanished.size;
  }

  /** One pass over every job not yet seen finished, and every finished one due a second look. */
  async pass(): Promise<void> {
    const now = Date.now();
    const due: string[] = [];
    for (const id of this.jobs.keys()) {
      const seen = this.finished.get(id);
      if ((!seen && !this.vanished.has(id)) || (seen && !seen.later && now - seen.seenAt >= RECHECK_AFTER_MS)) due.push(id);
    }
    for (let offset = 0; offset < due.length; offset += READ_CHUNK) {
      const chunk = due.slice(offset, offset + READ_CHUNK);
      const pipeline = this.redis.pipeline();
      for (const id of chunk) pipeline.hgetall(this.jobKey(id));
      const replies = (await pipeline.exec()) ?? [];
      chunk.forEach((id, index) => {
        const [error, hash] = replies[index] ?? [new Error('no reply'), null];
        if (!error) this.observe(id, hash as Record<string, string>, Date.now());
      });
    }
  }

  private observe(id: string, hash: Record<string, string>, now: number): void {
    const seen = this.finished.get(id);
    const gone = hash.status === undefined;
    if (seen) {
      seen.later = gone ? { seq: seen.seq, status: seen.status } : { seq: Number(hash.seq ?? 0), status: hash.status ?? '' };
      return;
    }
    if (gone) {
      this.vanished.add(id);
      return;
    }
    if (!FINISHED.has(hash.status ?? '')) return;
    this.finished.set(id, { status: hash.status ?? '', finishedAt: Number(hash.finishedAt ?? 0), seenAt: now, ...historyOfHash(hash) });
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      // Redis may be down for a fault: the next pass reads again.
      await this.pass().catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
  }
}

/** One handler run from the workers' run logs. */
export interface HandlerRun {
  job: string;
  attempt: number;
  worker: string;
  start: number;
  /** Absent when the process died while the handler ran. */
  end?: number;
  outcome?: 'ok' | 'error';
  aborted?: boolean;
}

/** What the run logs say: every handler run, and the most handlers each process ran at once. */
export interface RunLogs {
  runs: HandlerRun[];
  peakRunning: Map<string, number>;
  /** Lines that did not parse (a write cut short), per file. */
  unreadable: number;
}

/** Reads every worker's run log in `dir`. */
export async function readRunLogs(dir: string): Promise<RunLogs> {
  const runs = new Map<string, HandlerRun>();
  const peakRunning = new Map<string, number>();
  let unreadable = 0;
  for (const file of (await readdir(dir)).filter((name) => name.endsWith('.jsonl')).sort()) {
    for (const text of (await readFile(join(dir, file), 'utf8')).split('\n')) {
      if (text === '') continue;
      let line: RunLogLine;
      try {
        line = JSON.parse(text) as RunLogLine;
      } catch {
        unreadable += 1;
        continue;
      }
      const key = `${line.job} ${line.attempt} ${line.worker}`;
      if (line.e === 'start') {
        runs.set(key, { job: line.job, attempt: line.attempt, worker: line.worker, start: line.t });
        peakRunning.set(line.worker, Math.max(peakRunning.get(line.worker) ?? 0, line.running));
      } else {
        runs.set(key, { job: line.job, attempt: line.attempt, worker: line.worker, start: line.start, end: line.t, outcome: line.outcome, aborted: line.aborted });
      }
    }
  }
  return { runs: [...runs.values()], peakRunning, unreadable };
}

/** A job as PostgreSQL holds it: its row and its events, oldest first. */
export interface StoredJob {
  status: string;
  attempts: number;
  lastSeq: number;
  payload: unknown;
  events: HistoryEvent[];
}

/** Reads `ids` from the history in PostgreSQL, a chunk at a time. */
export async function readHistory(pool: pg.Pool, ids: readonly string[]): Promise<Map<string, StoredJob>> {
  const stored = new Map<string, StoredJob>();
  for (let offset = 0; offset < ids.length; offset += 2000) {
    const chunk = ids.slice(offset, offset + 2000);
    const { rows: jobs } = await pool.query<{ id: string; status: string; attempts: number; last_seq: number; payload: unknown }>(
      'SELECT id::text, status, attempts, last_seq, payload FROM jobs WHERE id = ANY($1::uuid[])', [chunk],
    );
    for (const row of jobs) stored.set(row.id, { status: row.status, attempts: row.attempts, lastSeq: row.last_seq, payload: row.payload, events: [] });
    const { rows: events } = await pool.query<{ job_id: string; seq: number; status: string; attempt: number; at: Date; worker: string | null; error: string | null; reason: string | null }>(
      'SELECT job_id::text, seq, status, attempt, at, worker, error, reason FROM job_events WHERE job_id = ANY($1::uuid[]) ORDER BY job_id, seq', [chunk],
    );
    for (const row of events) {
      const job = stored.get(row.job_id);
      // Events without a job row are counted by the checks through the job's absence.
      job?.events.push({
        seq: row.seq, status: row.status, attempt: row.attempt, at: row.at.getTime(),
        ...(row.worker !== null && { worker: row.worker }), ...(row.error !== null && { error: row.error }), ...(row.reason !== null && { reason: row.reason }),
      });
    }
  }
  return stored;
}

/** Redis's memory and the soak's keys in it, by kind. */
export interface RedisFootprint {
  usedMemory: number;
  keys: Record<string, number>;
  lengths: Record<string, number>;
}

/** Reads Redis's used_memory and counts the keys under `prefix` by kind (job, idem, throughput, or the key's own name). */
export async function redisFootprint(redis: Redis, prefix: string, queue: QueueKeys): Promise<RedisFootprint> {
  const info = await redis.info('memory');
  const usedMemory = Number(/used_memory:(\d+)/.exec(info)?.[1] ?? Number.NaN);
  const keys: Record<string, number> = {};
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    for (const key of found) {
      const kind = /\}:(job|idem|throughput):/.exec(key)?.[1] ?? key.slice(key.indexOf('}:') + 2);
      keys[kind] = (keys[kind] ?? 0) + 1;
    }
  } while (cursor !== '0');
  const lengths: Record<string, number> = {
    stream: await redis.xlen(queue.stream),
    events: await redis.xlen(queue.events),
    dlq: await redis.xlen(queue.dlq),
    delayed: await redis.zcard(queue.delayed),
  };
  return { usedMemory, keys, lengths };
}
