import { isDeepStrictEqual } from 'node:util';
import type { FaultKind, FaultWindow, TermExit } from './soak-faults';
import { FINISHED, type HandlerRun, type HistoryEvent, type RedisFootprint, type RedisSnapshot, type RunLogs, type StoredJob } from './soak-observe';
import type { AcceptedJob, Answer, Exchange, TrafficProblem } from './soak-traffic';

/** A job as GET /jobs/:id answered after the run. */
export interface FinalRead {
  status: Answer['status'];
  job?: { status: string; history: { status: string; attempt: number; worker?: string }[] };
}

/** How a worker process ended. */
export interface ProcessEnd {
  name: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The soak signalled it (a fault, or the final stop). */
  signalled: boolean;
  /** It logged that it stops to be recycled (handlers outliving their attempts). */
  recycled: boolean;
}

/** Everything the invariants are checked against. */
export interface Evidence {
  accepted: ReadonlyMap<string, AcceptedJob>;
  exchanges: readonly Exchange[];
  trafficProblems: readonly TrafficProblem[];
  windows: readonly FaultWindow[];
  finals: ReadonlyMap<string, FinalRead>;
  redis: ReadonlyMap<string, RedisSnapshot>;
  stored: ReadonlyMap<string, StoredJob>;
  setAside: { length: number; jobs: ReadonlySet<string> };
  runLogs: RunLogs;
  concurrency: number;
  memory: { baseline: RedisFootprint; end: RedisFootprint; slackBytes: number };
  processes: readonly ProcessEnd[];
  termExits: readonly TermExit[];
  termBoundMs: number;
  apiAlive: boolean;
  /** JOB_RETENTION_MS and DEAD_JOB_RETENTION_MS: how long a finished job stays readable from Redis. */
  retentionMs: number;
}

/** One row of the report. */
export interface Row {
  name: string;
  checked: number;
  violations: number;
  examples: string[];
}

const EXAMPLES = 3;
/** Longest example kept, so that one odd string cannot swamp the table. */
const EXAMPLE_CHARS = 300;
/** After Redis or PostgreSQL is back, how long clients may still see it missing: reconnect backoffs, pools. */
const RECOVERY_GRACE_MS = 5000;

class Tally implements Row {
  checked = 0;
  violations = 0;
  readonly examples: string[] = [];

  constructor(readonly name: string) {}

  /** Counts one check; a failed one counts as a violation, and its first few are kept as examples. */
  expect(ok: boolean, example: () => string): void {
    this.checked += 1;
    if (!ok) this.fail(example());
  }

  /** Counts a violation found outside a check of its own. */
  fail(example: string): void {
    this.violations += 1;
    if (this.examples.length < EXAMPLES) this.examples.push(example.length > EXAMPLE_CHARS ? `${example.slice(0, EXAMPLE_CHARS)}…` : example);
  }
}

/** How a job ended: as the API answered after the run, else as Redis last held it. */
function finalStatusOf(evidence: Evidence, id: string): string | undefined {
  return evidence.finals.get(id)?.job?.status ?? evidence.redis.get(id)?.status;
}

function inWindow(windows: readonly FaultWindow[], kinds: readonly FaultKind[], from: number, to: number): boolean {
  return windows.some((window) => kinds.includes(window.kind) && from <= window.endedAt + RECOVERY_GRACE_MS && to >= window.startedAt);
}

/** Whether `events` has anything after a final event (a dead job may only be sent back, as `pending`). */
function afterFinal(events: readonly { status: string }[]): string | undefined {
  for (let i = 0; i < events.length - 1; i += 1) {
    const status = events[i]?.status as string;
    const next = events[i + 1]?.status as string;
    if ((status === 'completed' || status === 'cancelled') || (status === 'dead' && next !== 'pending')) return `${status} then ${next}`;
  }
  return undefined;
}

function describe(event: HistoryEvent | undefined): string {
  if (!event) return 'nothing';
  return `${event.status}(attempt ${event.attempt}${event.worker ? `, ${event.worker}` : ''})`;
}

/** What each route may answer outside an outage: valid submissions are accepted, accepted jobs are readable. */
function answerAllowed(exchange: Exchange, status: number): boolean {
  const accepted = status === 200 || status === 202;
  const refused = status >= 400 && status < 500;
  switch (exchange.route) {
    case 'get':
      return status === 200;
    case 'cancel':
      // A 404 is for a job that had finished and left Redis; the cancel check looks at which.
      return status === 200 || status === 409 || status === 404;
    case 'hostile':
      return refused || (exchange.expect === 'any' && accepted);
    default:
      return accepted;
  }
}

/**
 * When a job finished: as Redis held it, else as PostgreSQL recorded it (a hash can expire unseen,
 * e.g. while Redis is down, since Redis expires keys by the clock when it loads its AOF).
 */
function finishedAtOf(evidence: Evidence, id: string): number | undefined {
  return evidence.redis.get(id)?.finishedAt ?? evidence.stored.get(id)?.events.findLast((event) => FINISHED.has(event.status))?.at;
}

/** Whether a job had been finished for its retention by `at`, so that it may have left Redis. */
function pastRetention(evidence: Evidence, id: string, at: number): boolean {
  const finishedAt = finishedAtOf(evidence, id);
  return finishedAt !== undefined && at >= finishedAt + evidence.retentionMs - 100;
}

/**
 * A read answered 404 for a job that had left Redis by its retention before the recorder wrote it to
 * PostgreSQL. The soak's retention is shorter than the recorder's lease (10 s), so this is a
 * consequence of its settings, reported apart rather than counted (see the summary).
 */
export function isExpiredRead(evidence: Evidence, exchange: Exchange): boolean {
  return exchange.route === 'get' && exchange.status === 404 && exchange.jobId !== undefined && pastRetention(evidence, exchange.jobId, exchange.answeredAt);
}

function checkContract(evidence: Evidence): Tally {
  const row = new Tally('0. HTTP: valid input accepted, hostile refused with a 4xx; no 5xx but 503 in an outage; no hang; keys hold');
  for (const exchange of evidence.exchanges) {
    const { status, sentAt, answeredAt } = exchange;
    const what = (): string => `${exchange.label}${exchange.jobId ? ` ${exchange.jobId}` : ''} → ${status} at ${new Date(sentAt).toISOString()}`;
    if (typeof status !== 'number') {
      row.expect(status === 'network-error' && exchange.closeRefuses === true, what);
    } else if (status === 503) {
      const outage = (exchange.needsRedis && inWindow(evidence.windows, ['redis-restart'], sentAt, answeredAt))
        || (exchange.mayNeedPostgres && inWindow(evidence.windows, ['postgres-outage'], sentAt, answeredAt));
      row.expect(outage, what);
    } else {
      row.expect(answerAllowed(exchange, status) || isExpiredRead(evidence, exchange), what);
    }
  }
  for (const problem of evidence.trafficProblems) row.fail(`${problem.check}: ${problem.example}`);
  return row;
}

function checkFinished(evidence: Evidence): Tally {
  const row = new Tally('1. every job answered 2xx ended completed, dead or cancelled (GET /jobs/:id)');
  for (const [id, job] of evidence.accepted) {
    const read = evidence.finals.get(id);
    row.expect(read?.status === 200 && FINISHED.has(read.job?.status ?? ''), () => `${id} (${job.kind}): ${read?.status === 200 ? read.job?.status : `HTTP ${read?.status}`}`);
  }
  return row;
}

function checkHistories(evidence: Evidence): Tally {
  const row = new Tally('2. nothing follows a final event; seq gap-free and duplicate-free (Redis, PostgreSQL, API)');
  for (const id of evidence.accepted.keys()) {
    const problems: string[] = [];
    const snapshot = evidence.redis.get(id);
    if (snapshot) {
      if (snapshot.missingSeqs.length > 0 || snapshot.extraSeqs.length > 0) problems.push(`Redis seq ${snapshot.seq}, missing ${snapshot.missingSeqs.join(',')} extra ${snapshot.extraSeqs.join(',')}`);
      const after = afterFinal(snapshot.events);
      if (after) problems.push(`Redis: ${after}`);
      if (snapshot.later && (snapshot.later.seq !== snapshot.seq || snapshot.later.status !== snapshot.status)) {
        problems.push(`Redis moved after ${snapshot.status}: seq ${snapshot.seq} → ${snapshot.later.seq}, now ${snapshot.later.status}`);
      }
    }
    const stored = evidence.stored.get(id);
    if (stored) {
      const seqs = stored.events.map((event) => event.seq);
      if (!seqs.every((seq, index) => seq === index + 1) || stored.lastSeq !== seqs.length) problems.push(`PostgreSQL seqs ${seqs.join(',')}, last_seq ${stored.lastSeq}`);
      const after = afterFinal(stored.events);
      if (after) problems.push(`PostgreSQL: ${after}`);
    }
    const served = evidence.finals.get(id)?.job?.history;
    if (served) {
      const after = afterFinal(served);
      if (after) problems.push(`GET /jobs/:id: ${after}`);
    }
    if (snapshot || stored || served) row.expect(problems.length === 0, () => `${id}: ${problems.join('; ')}`);
  }
  return row;
}

/**
 * Fencing, from the history against the run logs: every outcome a worker recorded belongs to the
 * attempt that was current (the latest `processing` event), every completion to a handler run that
 * succeeded, every handler run shows in the history, and a job that did not complete had no
 * handler succeed while its attempt was still current.
 */
function checkFencing(evidence: Evidence, runsByJob: ReadonlyMap<string, HandlerRun[]>): Tally {
  const row = new Tally('3. no stale attempt is recorded, and no current success is dropped for one (history vs run logs)');
  for (const [id, job] of evidence.accepted) {
    const events = evidence.stored.get(id)?.events ?? evidence.redis.get(id)?.events;
    if (!events) continue;
    const runs = runsByJob.get(id) ?? [];
    const problems: string[] = [];
    let current: HistoryEvent | undefined;
    for (const event of events) {
      if (event.status === 'processing') {
        current = event;
        continue;
      }
      if (!event.worker || !['completed', 'failed', 'pending'].includes(event.status)) continue;
      // A release (pending) counts the interrupted attempt back, so only its worker is compared.
      const sameAttempt = event.status === 'pending' || event.attempt === current?.attempt;
      if (!current || event.worker !== current.worker || !sameAttempt) problems.push(`${describe(event)} while ${describe(current)} was current`);
      if (event.status === 'completed' && !runs.some((run) => run.attempt === event.attempt && run.worker === event.worker && run.outcome === 'ok' && !run.aborted)) {
        problems.push(`${describe(event)} without a successful handler run of that attempt`);
      }
    }
    for (const run of runs) {
      const at = events.findIndex((event) => event.status === 'processing' && event.attempt === run.attempt && event.worker === run.worker);
      if (at < 0) {
        problems.push(`handler run of attempt ${run.attempt} on ${run.worker} missing from the history`);
        continue;
      }
      const next = events[at + 1];
      const takenOver = next?.status === 'processing' || (next?.status === 'failed' && !next.worker);
      if (run.outcome === 'ok' && !run.aborted && finalStatusOf(evidence, id) !== 'completed' && !takenOver) {
        problems.push(`attempt ${run.attempt} on ${run.worker} succeeded while current, yet the history goes on with ${describe(next)}`);
      }
    }
    row.expect(problems.length === 0, () => `${id} (${job.kind}): ${problems.slice(0, 2).join('; ')}`);
  }
  return row;
}

function sameEvent(a: HistoryEvent, b: HistoryEvent): boolean {
  return a.status === b.status && a.attempt === b.attempt && a.worker === b.worker && a.error === b.error && a.reason === b.reason && Math.abs(a.at - b.at) <= 1;
}

function checkPostgres(evidence: Evidence): Tally {
  const row = new Tally(`4. PostgreSQL holds every 2xx job, as Redis held it (set aside: ${evidence.setAside.length})`);
  for (const [id, job] of evidence.accepted) {
    if (evidence.setAside.jobs.has(id)) continue;
    const stored = evidence.stored.get(id);
    const snapshot = evidence.redis.get(id);
    // Redis's final word, or the API's for a job that left Redis unseen.
    const finalStatus = snapshot?.status ?? evidence.finals.get(id)?.job?.status;
    const problems: string[] = [];
    if (!stored) {
      problems.push('not in PostgreSQL');
    } else {
      if (stored.status !== finalStatus) problems.push(`status ${stored.status}, not ${finalStatus}`);
      if (snapshot) {
        const differs = stored.events.findIndex((event, index) => !snapshot.events[index] || !sameEvent(event, snapshot.events[index] as HistoryEvent));
        if (differs >= 0 || stored.events.length !== snapshot.events.length) {
          const at = differs >= 0 ? differs : Math.min(stored.events.length, snapshot.events.length);
          problems.push(`event ${at + 1}: PostgreSQL ${describe(stored.events[at])}, Redis ${describe(snapshot.events[at])}`);
        }
      }
      if (job.payload !== undefined && !isDeepStrictEqual(stored.payload, job.payload)) problems.push('payload differs from the one submitted');
    }
    row.expect(problems.length === 0, () => `${id} (${job.kind}): ${problems.join('; ')}`);
  }
  if (evidence.setAside.length > 0) row.fail(`${evidence.setAside.length} events set aside, of jobs ${[...evidence.setAside.jobs].slice(0, 3).join(', ')}`);
  return row;
}

function checkMemory(evidence: Evidence): Tally {
  const { baseline, end, slackBytes } = evidence.memory;
  const row = new Tally(`5. Redis back near its baseline after retention (used_memory ${mib(baseline.usedMemory)} → ${mib(end.usedMemory)})`);
  for (const kind of ['job', 'idem']) row.expect((end.keys[kind] ?? 0) === 0, () => `${end.keys[kind]} ${kind} keys left`);
  for (const [name, length] of Object.entries(end.lengths)) row.expect(length === 0, () => `${name} holds ${length}`);
  row.expect(end.usedMemory <= baseline.usedMemory + slackBytes, () => `used_memory ${end.usedMemory} > baseline ${baseline.usedMemory} + ${slackBytes}`);
  return row;
}

function checkConcurrency(evidence: Evidence): Tally {
  const row = new Tally(`6. no worker ran more handlers at once than CONCURRENCY=${evidence.concurrency} (run logs)`);
  for (const [worker, peak] of evidence.runLogs.peakRunning) row.expect(peak <= evidence.concurrency, () => `${worker} ran ${peak} at once`);
  return row;
}

function checkCancels(evidence: Evidence, runsByJob: ReadonlyMap<string, HandlerRun[]>): Tally {
  const row = new Tally('7. a job cancelled with 200 ends cancelled and never runs afterwards');
  for (const [id, job] of evidence.accepted) {
    for (const cancel of job.cancels) {
      if (cancel.status === 200) {
        const final = finalStatusOf(evidence, id);
        const late = (runsByJob.get(id) ?? []).find((run) => run.start > cancel.answeredAt);
        row.expect(final === 'cancelled' && !late, () => `${id} (${job.kind}): cancelled, then ${late ? `run at +${late.start - cancel.answeredAt} ms by ${late.worker}` : `ended ${final}`}`);
      } else if (cancel.status === 404) {
        // Only a job that had finished, and then left Redis by its retention, may be unknown to a cancel.
        row.expect(pastRetention(evidence, id, cancel.answeredAt), () => `${id} (${job.kind}): cancel answered 404 within its retention (finished at ${finishedAtOf(evidence, id)})`);
      }
    }
  }
  return row;
}

function checkProcesses(evidence: Evidence): Tally {
  const row = new Tally('8. SIGTERMed workers exit 0 in time; no worker dies unasked but to be recycled; the API lives');
  for (const exit of evidence.termExits) {
    row.expect(exit.code === 0 && exit.tookMs <= evidence.termBoundMs, () => `${exit.name} exited ${exit.code ?? exit.signal} ${exit.tookMs} ms after SIGTERM`);
  }
  for (const end of evidence.processes) {
    if (end.signalled) continue;
    row.expect(end.code === 0 && end.recycled, () => `${end.name} exited ${end.code ?? end.signal} unasked`);
  }
  row.expect(evidence.apiAlive, () => 'the API process exited during the run');
  return row;
}

function mib(bytes: number): string {
  return `${(bytes / 1_048_576).toFixed(2)} MiB`;
}

/** Every invariant, checked against the evidence, one row each. */
export function checkInvariants(evidence: Evidence): Row[] {
  const runsByJob = new Map<string, HandlerRun[]>();
  for (const run of evidence.runLogs.runs) {
    const runs = runsByJob.get(run.job) ?? [];
    runs.push(run);
    runsByJob.set(run.job, runs);
  }
  return [
    checkContract(evidence), checkFinished(evidence), checkHistories(evidence), checkFencing(evidence, runsByJob), checkPostgres(evidence),
    checkMemory(evidence), checkConcurrency(evidence), checkCancels(evidence, runsByJob), checkProcesses(evidence),
  ];
}

/** The rows as a plain-text table: invariant, checked, violations, examples. */
export function formatTable(rows: readonly Row[]): string {
  const header = ['invariant', 'checked', 'violations', 'examples'];
  const cells = rows.map((row) => [row.name, String(row.checked), String(row.violations), row.examples.join(' | ') || '-']);
  const widths = [0, 1, 2].map((column) => Math.max(header[column]?.length ?? 0, ...cells.map((cell) => cell[column]?.length ?? 0)));
  const line = (cell: readonly string[]): string =>
    `${(cell[0] ?? '').padEnd(widths[0] ?? 0)}  ${(cell[1] ?? '').padStart(widths[1] ?? 0)}  ${(cell[2] ?? '').padStart(widths[2] ?? 0)}  ${cell[3] ?? ''}`;
  return [line(header), line(widths.map((width) => '-'.repeat(width)).concat('-'.repeat(8))), ...cells.map(line)].join('\n');
}
