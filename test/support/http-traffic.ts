import { partitionIndexOfKey } from '@sluice/core';
import { waitFor } from './wait-for';

/** Longest a client waits for one answer: past it, the attempt counts as unanswered. */
const CLIENT_TIMEOUT_MS = 5000;
/** Partition keys tried per partition before giving up: FNV-1a spreads keys evenly, so a few dozen suffice. */
const KEY_SEARCH_LIMIT = 10_000;

/** One submission as the client saw it. Times are Date.now(). */
export interface Attempt {
  /** The lane's partition, or null for a bulk lane, whose jobs go to every partition. */
  partition: number | null;
  sentAt: number;
  answeredAt: number;
  status: number | 'timeout' | 'network-error';
  /** The error code of a refusal (REDIS_UNAVAILABLE, NOT_REPLICATED, …). */
  code?: string;
  /** Ids the API answered 2xx for. */
  ids: string[];
}

/** A run of answers without a 2xx, from the last 2xx before it (or its first attempt) to the next 2xx. */
export interface Outage {
  partition: number | null;
  ms: number;
  refusals: number;
  codes: string[];
}

export interface TrafficOptions {
  /** The API's address. */
  url: string;
  /** Partitions of the queue: one lane of single submissions keyed to each. */
  partitions: number;
  /** Lanes of bulk submissions, whose jobs the API spreads over every partition. */
  bulkLanes: number;
  bulkSize: number;
  /** Pause of each lane between its answers, which bounds the load on a machine other tests share. */
  pauseMs: number;
  /** The job each submission adds. */
  job: { type: string; payload: Record<string, unknown> };
}

/**
 * Lanes of HTTP submissions running until stopped: one per partition (POST /jobs with a partition key
 * of that partition, so a partition's refusals show on their own lane) and bulk lanes (POST
 * /jobs/bulk). Every answer is kept, to tell which jobs were accepted and how long refusals lasted.
 */
export class Traffic {
  readonly attempts: Attempt[] = [];
  private stopping = false;
  private readonly lanes: Promise<void>[];
  private readonly keys: string[];

  constructor(private readonly options: TrafficOptions) {
    this.keys = Array.from({ length: options.partitions }, (_, partition) => partitionKeyOf(partition, options.partitions));
    this.lanes = [
      ...this.keys.map((key, partition) => this.lane(partition, () => this.post('/jobs', { ...options.job, partitionKey: key }))),
      ...Array.from({ length: options.bulkLanes }, () => this.lane(null, () => this.post('/jobs/bulk', {
        jobs: Array.from({ length: options.bulkSize }, () => options.job),
      }))),
    ];
  }

  /** Ids of every job answered 2xx, each once. */
  accepted(): string[] {
    return [...new Set(this.attempts.flatMap((attempt) => attempt.ids))];
  }

  /** How many submissions were refused, by the status and error code they were answered with. */
  refusals(): Record<string, number> {
    const tally: Record<string, number> = {};
    for (const attempt of this.attempts.filter((candidate) => !isAccepted(candidate))) {
      const key = `${attempt.status}${attempt.code === undefined ? '' : ` ${attempt.code}`}`;
      tally[key] = (tally[key] ?? 0) + 1;
    }
    return tally;
  }

  /** Waits until every lane has had `count` 2xx answers sent after `since`: every partition takes jobs again. */
  async acceptingSince(since: number, count: number, timeoutMs: number): Promise<void> {
    await waitFor(`every lane of ${this.options.url} to have ${count} submissions accepted after ${new Date(since).toISOString()}`, () => {
      const behind = this.laneKeys().filter((partition) =>
        this.attempts.filter((attempt) => attempt.partition === partition && attempt.sentAt >= since && isAccepted(attempt)).length < count);
      if (behind.length === 0) return true;
      const last = behind.map((partition) => this.attempts.findLast((attempt) => attempt.partition === partition));
      throw new Error(`lanes ${behind.map((partition) => partition ?? 'bulk').join(', ')} behind; their last answers: ` +
        last.map((attempt) => (attempt ? `${attempt.status} ${attempt.code ?? ''}`.trim() : 'none')).join(', '));
    }, timeoutMs, 50);
  }

  /** Stops every lane after its submission under way is answered. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.lanes);
  }

  /** The runs of answers without a 2xx, per lane, longest first. */
  outages(): Outage[] {
    const outages: Outage[] = [];
    for (const partition of this.laneKeys()) {
      let lastAccepted: number | undefined;
      let run: Attempt[] = [];
      for (const attempt of this.attempts.filter((candidate) => candidate.partition === partition)) {
        if (!isAccepted(attempt)) {
          run.push(attempt);
          continue;
        }
        if (run.length > 0) {
          outages.push({
            partition,
            ms: attempt.answeredAt - (lastAccepted ?? (run[0] as Attempt).sentAt),
            refusals: run.length,
            codes: [...new Set(run.map((refusal) => refusal.code ?? String(refusal.status)))],
          });
        }
        run = [];
        lastAccepted = attempt.answeredAt;
      }
      // A lane stopped mid-run has an outage with no end: it counts up to its last answer.
      if (run.length > 0) {
        outages.push({
          partition,
          ms: (run.at(-1) as Attempt).answeredAt - (lastAccepted ?? (run[0] as Attempt).sentAt),
          refusals: run.length,
          codes: [...new Set(run.map((refusal) => refusal.code ?? String(refusal.status)))],
        });
      }
    }
    return outages.sort((a, b) => b.ms - a.ms);
  }

  private laneKeys(): (number | null)[] {
    return [...this.keys.map((_, partition) => partition), ...(this.options.bulkLanes > 0 ? [null] : [])];
  }

  private async lane(partition: number | null, submit: () => Promise<Omit<Attempt, 'partition'>>): Promise<void> {
    while (!this.stopping) {
      this.attempts.push({ partition, ...(await submit()) });
      await new Promise((resolve) => setTimeout(resolve, this.options.pauseMs));
    }
  }

  private async post(path: string, body: unknown): Promise<Omit<Attempt, 'partition'>> {
    const sentAt = Date.now();
    try {
      const response = await fetch(`${this.options.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS),
      });
      const answer = (await response.json()) as { id?: string; jobs?: { id: string }[]; error?: { code?: string } };
      const ids = !response.ok ? [] : answer.jobs?.map((job) => job.id) ?? (answer.id === undefined ? [] : [answer.id]);
      return { sentAt, answeredAt: Date.now(), status: response.status, ids, ...(answer.error?.code !== undefined && { code: answer.error.code }) };
    } catch (error) {
      return { sentAt, answeredAt: Date.now(), status: (error as Error).name === 'TimeoutError' ? 'timeout' : 'network-error', ids: [] };
    }
  }
}

function isAccepted(attempt: Attempt): boolean {
  return typeof attempt.status === 'number' && attempt.status >= 200 && attempt.status < 300;
}

/** A partition key whose jobs go to `partition` of `count`. */
export function partitionKeyOf(partition: number, count: number): string {
  for (let n = 0; n < KEY_SEARCH_LIMIT; n += 1) {
    const key = `lane-${partition}-${n}`;
    if (partitionIndexOfKey(key, count) === partition) return key;
  }
  throw new Error(`no partition key of partition ${partition} of ${count} among ${KEY_SEARCH_LIMIT} tried`);
}

/** Bulk submissions take this many jobs each: MAX_BULK_JOBS allows more, but a smaller body keeps each answer quick. */
const BULK_SIZE = 100;
/** Single submissions under way at once. */
const SINGLE_CONCURRENCY = 8;

/**
 * Submits `count` jobs over HTTP, half in bulk and half one by one, and returns their ids; any
 * answer but 202 fails it, for a stack with no fault under way.
 */
export async function submitOverHttp(url: string, count: number, job: { type: string; payload: Record<string, unknown> }): Promise<string[]> {
  const post = async (path: string, body: unknown): Promise<string[]> => {
    const response = await fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS),
    });
    const answer = (await response.json()) as { id?: string; jobs?: { id: string }[] };
    if (response.status !== 202) throw new Error(`POST ${path} answered ${response.status}: ${JSON.stringify(answer)}`);
    return answer.jobs?.map((added) => added.id) ?? [answer.id as string];
  };
  const inBulk = Math.floor(count / 2);
  const ids: string[] = [];
  for (let offset = 0; offset < inBulk; offset += BULK_SIZE) {
    ids.push(...(await post('/jobs/bulk', { jobs: Array.from({ length: Math.min(BULK_SIZE, inBulk - offset) }, () => job) })));
  }
  let next = inBulk;
  await Promise.all(Array.from({ length: SINGLE_CONCURRENCY }, async () => {
    while (next < count) {
      next += 1;
      ids.push(...(await post('/jobs', job)));
    }
  }));
  return ids;
}
