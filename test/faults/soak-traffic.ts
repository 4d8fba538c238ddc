import { setTimeout as sleep } from 'node:timers/promises';
import type { SeededRandom } from '../support/seeded-random';

/** What a soak job is made to do; the soak worker reads it from the payload (see soak-jobs.ts). */
export type JobKind =
  | 'quick' | 'slow' | 'retry-then-succeed' | 'always-fail' | 'permanent' | 'timeout' | 'stubborn' | 'odd-result' | 'odd-error'
  | 'odd-payload' | 'hostile-accepted';

/** One HTTP request; `json` is sent with JSON.stringify, `raw` as it is. */
export interface RequestSpec {
  method: 'GET' | 'POST';
  path: string;
  json?: unknown;
  raw?: string | Buffer;
  contentType?: string;
  headers?: Record<string, string>;
}

/** How a request was answered. Times are Date.now(). */
export interface Answer {
  status: number | 'timeout' | 'network-error';
  body: unknown;
  sentAt: number;
  answeredAt: number;
}

export type Route = 'submit' | 'bulk' | 'repeat' | 'probe' | 'cancel' | 'get' | 'hostile';

/** One request and its answer, as the contract checks read them. */
export interface Exchange {
  route: Route;
  /** The hostile case's name, or the route's. */
  label: string;
  status: Answer['status'];
  sentAt: number;
  answeredAt: number;
  /** For hostile requests: `refused` must get a 4xx; `any` may be accepted too, never a 5xx. */
  expect?: 'refused' | 'any';
  /** For a hostile request the server may refuse by closing the connection (see HostileCase.closeRefuses). */
  closeRefuses?: boolean;
  /** Answered from Redis: a 503 while Redis is down is right. */
  needsRedis: boolean;
  /** Answered from PostgreSQL for jobs gone from Redis: a 503 while PostgreSQL is down is right. */
  mayNeedPostgres: boolean;
  jobId?: string;
}

/** A job the API accepted with a 2xx, as the soak tracks it. */
export interface AcceptedJob {
  id: string;
  kind: JobKind;
  acceptedAt: number;
  /** The payload the job must hold, as JSON carries it; undefined when the soak cannot tell. */
  payload: unknown;
  /** Answers to POST /jobs/:id/cancel for this job. */
  cancels: { status: Answer['status']; sentAt: number; answeredAt: number }[];
}

/** A contract break seen while the traffic ran, named by the check it breaks. */
export interface TrafficProblem {
  check: string;
  example: string;
}

/** A thin fetch wrapper that never throws: a timeout or a refused connection is an answer too. */
export class ApiClient {
  constructor(
    private readonly baseUrl: string,
    private readonly timeoutMs: number,
  ) {}

  async send(spec: RequestSpec): Promise<Answer> {
    const sentAt = Date.now();
    const headers: Record<string, string> = { ...spec.headers };
    let body: string | Buffer | undefined;
    if (spec.json !== undefined) {
      body = JSON.stringify(spec.json);
      headers['content-type'] = 'application/json';
    } else if (spec.raw !== undefined) {
      body = spec.raw;
      headers['content-type'] = spec.contentType ?? 'application/json';
    }
    try {
      const response = await fetch(this.baseUrl + spec.path, { method: spec.method, headers, body, signal: AbortSignal.timeout(this.timeoutMs) });
      const text = await response.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // Not JSON: kept as text for the report.
      }
      return { status: response.status, body: parsed, sentAt, answeredAt: Date.now() };
    } catch (error) {
      return { status: (error as Error).name === 'TimeoutError' ? 'timeout' : 'network-error', body: null, sentAt, answeredAt: Date.now() };
    }
  }
}

/** A submission's body: POST /jobs, or an item of POST /jobs/bulk. */
interface Submission {
  type: string;
  payload: Record<string, unknown>;
  maxAttempts?: number;
  delay?: number;
  runAt?: string;
  priority?: number;
  idempotencyKey?: string;
}

const KIND_WEIGHTS: readonly (readonly [JobKind, number])[] = [
  ['quick', 26], ['slow', 14], ['retry-then-succeed', 12], ['always-fail', 6], ['permanent', 3], ['timeout', 5], ['stubborn', 4],
  ['odd-result', 6], ['odd-error', 6], ['odd-payload', 8],
];

/** Strings that look dangerous but that PostgreSQL stores as they are: they must be accepted and kept verbatim. */
const STORABLE_ODDITIES = [
  '\u{1F600}\u{1F469}\u200D\u{1F4BB}',
  'e\u0301\u0327 combining marks',
  '\u202Eright-to-left override\u202C',
  'line\u2028and paragraph\u2029separators',
  'noncharacters \uFFFF \uFFFE \uFDD0',
  'controls \u0001\u0008\u001F\u007F',
  '\\u0000 written out, not a NUL',
  '\\ud800 written out, not a surrogate',
  '"quotes", \\ backslashes, \' and `ticks`',
  '{"json":"inside a string"}',
  "'; DROP TABLE jobs; --",
  '%s%n%x',
  '   \t\n\r',
  '\u{1F600}'.repeat(500),
  'x'.repeat(20_000),
];
const ODD_KEYS = ['', ' ', 'h1', 'seq', 'status', 'constructor', '$where', '\u{1F600}', 'a.b', 'a"b', 'toString'];

/** A UUID drawn from `rng`, so that even the ids a run makes up replay with its seed. */
function seededUuid(rng: SeededRandom): string {
  const hex = Array.from({ length: 32 }, () => rng.int(0, 15).toString(16)).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20)}`;
}

/** `leaf` wrapped in `depth` objects. */
function nest(depth: number, leaf: unknown): unknown {
  let value = leaf;
  for (let level = 0; level < depth; level += 1) value = { a: value };
  return value;
}

function oddPayload(rng: SeededRandom): Record<string, unknown> {
  return {
    soak: 'quick',
    text: rng.pick(STORABLE_ODDITIES),
    [rng.pick(ODD_KEYS)]: rng.pick(STORABLE_ODDITIES),
    list: [rng.pick(STORABLE_ODDITIES), rng.int(-1e9, 1e9), rng.next(), null, true],
    nested: nest(rng.int(1, PAYLOAD_MAX_DEPTH - 1), rng.pick(STORABLE_ODDITIES)),
  };
}

/** A job of `kind` with the attempts it gets. */
function jobOf(kind: JobKind, rng: SeededRandom): Submission {
  switch (kind) {
    case 'slow':
      return { type: 'sleep', payload: { ms: rng.int(50, 900) }, maxAttempts: 3 };
    case 'retry-then-succeed': {
      const times = rng.int(1, 2);
      return { type: 'fail', payload: { times }, maxAttempts: times + rng.int(1, 2) };
    }
    case 'always-fail':
      return { type: 'fail', payload: rng.chance(0.5) ? {} : { message: rng.pick(STORABLE_ODDITIES).slice(0, 1000) }, maxAttempts: rng.int(1, 3) };
    case 'permanent':
      return { type: 'fail', payload: { permanent: true }, maxAttempts: 3 };
    case 'timeout':
      return { type: 'sleep', payload: { ms: rng.int(1300, 2500) }, maxAttempts: rng.int(1, 2) };
    case 'stubborn':
      return { type: 'noop', payload: { soak: 'stubborn', ms: rng.int(700, 1400) }, maxAttempts: rng.int(1, 2) };
    case 'odd-result':
      return { type: 'noop', payload: { soak: 'odd' }, maxAttempts: 2 };
    case 'odd-error': {
      const failTimes = rng.int(1, 2);
      return { type: 'noop', payload: { soak: 'odd', failTimes }, maxAttempts: failTimes + rng.int(0, 1) };
    }
    case 'odd-payload':
      return { type: 'noop', payload: oddPayload(rng), maxAttempts: 3 };
    default:
      // Without maxAttempts now and then, so the type's default is used too.
      return rng.chance(0.3) ? { type: 'noop', payload: { soak: 'quick' } } : { type: 'noop', payload: { soak: 'quick' }, maxAttempts: 3 };
  }
}

/** A job of a random kind, sometimes delayed, scheduled or prioritized. */
function randomJob(rng: SeededRandom): { kind: JobKind; job: Submission } {
  const kind = rng.weighted(KIND_WEIGHTS);
  const job = jobOf(kind, rng);
  const timing = rng.weighted([['now', 87], ['delay', 10], ['runAt', 3]] as const);
  if (timing === 'delay') job.delay = rng.int(100, 3000);
  if (timing === 'runAt') job.runAt = new Date(Date.now() + rng.int(-2000, 2500)).toISOString();
  if (rng.chance(0.2)) job.priority = rng.int(-1000, 1000);
  return { kind, job };
}

/** A hostile request, and what the API must do with it. */
interface HostileCase {
  name: string;
  /** `refused`: a 4xx. `any`: a 2xx (the job is then tracked like any other) or a 4xx; never a 5xx. */
  expect: 'refused' | 'any';
  /**
   * A body over BODY_LIMIT is answered 413 before it is read, and Node then closes the connection: a
   * client still sending sees the close, not the 413 (HTTP lets a server close on a body it refuses).
   * The 413 itself is checked in apps/api/test/submit.test.ts.
   */
  closeRefuses?: boolean;
  /** Answered from Redis: a 503 while Redis is down is right. Default: when it may be accepted. */
  needsRedis?: boolean;
  /** Looked up in PostgreSQL once Redis does not have it: a 503 while PostgreSQL is down is right. */
  mayNeedPostgres?: boolean;
  request(rng: SeededRandom): RequestSpec;
}

/** The soak sets PAYLOAD_MAX_DEPTH to this, so the hostile requests know where the limit lies. */
export const PAYLOAD_MAX_DEPTH = 100;

const post = (json: unknown): RequestSpec => ({ method: 'POST', path: '/jobs', json });
const noopWith = (payload: unknown, extra: Record<string, unknown> = {}): RequestSpec => post({ type: 'noop', payload, ...extra });
const rawJob = (raw: string | Buffer): RequestSpec => ({ method: 'POST', path: '/jobs', raw });

/** Requests a client must not be able to turn into a 5xx, a hang, or a job PostgreSQL cannot record. */
const HOSTILE: readonly HostileCase[] = [
  { name: 'NUL in a value', expect: 'refused', request: () => noopWith({ s: 'a\u0000b' }) },
  { name: 'NUL in a key', expect: 'refused', request: () => noopWith({ 'k\u0000': 1 }) },
  { name: 'lone high surrogate', expect: 'refused', request: () => noopWith({ s: 'x\ud800' }) },
  { name: 'lone low surrogate in a key', expect: 'refused', request: () => noopWith({ '\udc00': 1 }) },
  { name: 'NUL deep down', expect: 'refused', request: (rng) => noopWith(nest(rng.int(2, PAYLOAD_MAX_DEPTH - 2), ['ok', 'not\u0000ok'])) },
  { name: 'nested past the limit', expect: 'refused', request: (rng) => noopWith(nest(PAYLOAD_MAX_DEPTH + rng.int(1, 100), 1)) },
  { name: 'nested 50,000 deep', expect: 'refused', request: () => rawJob(`{"type":"noop","payload":${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}}`) },
  { name: 'NUL in the idempotency key', expect: 'refused', request: () => noopWith({}, { idempotencyKey: 'key\u0000' }) },
  { name: 'lone surrogate in the idempotency key', expect: 'refused', request: () => noopWith({}, { idempotencyKey: 'key\ud800' }) },
  { name: 'idempotency key of 256 characters', expect: 'refused', request: () => noopWith({}, { idempotencyKey: 'k'.repeat(256) }) },
  { name: 'empty idempotency key', expect: 'refused', request: () => noopWith({}, { idempotencyKey: '' }) },
  {
    name: 'header and body keys differ',
    expect: 'refused',
    request: (rng) => ({ ...noopWith({}, { idempotencyKey: `body-${seededUuid(rng)}` }), headers: { 'idempotency-key': `header-${seededUuid(rng)}` } }),
  },
  { name: 'number as a string', expect: 'refused', request: () => post({ type: 'sleep', payload: { ms: '100' } }) },
  { name: 'sleep longer than an hour', expect: 'refused', request: () => post({ type: 'sleep', payload: { ms: 3_600_001 } }) },
  { name: 'negative delay', expect: 'refused', request: () => noopWith({}, { delay: -1 }) },
  { name: 'fractional delay', expect: 'refused', request: () => noopWith({}, { delay: 1.5 }) },
  { name: 'delay past a year', expect: 'refused', request: () => noopWith({}, { delay: 366 * 24 * 3_600_000 }) },
  { name: 'runAt not a date', expect: 'refused', request: () => noopWith({}, { runAt: 'tomorrow' }) },
  { name: 'runAt two years ahead', expect: 'refused', request: () => noopWith({}, { runAt: new Date(Date.now() + 2 * 366 * 86_400_000).toISOString() }) },
  { name: 'maxAttempts 0', expect: 'refused', request: () => noopWith({}, { maxAttempts: 0 }) },
  { name: 'maxAttempts 101', expect: 'refused', request: () => noopWith({}, { maxAttempts: 101 }) },
  { name: 'priority out of range', expect: 'refused', request: () => noopWith({}, { priority: 1001 }) },
  { name: 'unknown top-level field', expect: 'refused', request: () => noopWith({}, { extra: true }) },
  // Whether a worker serves a type the API has not heard of, only Redis can tell: in an outage, a 503.
  { name: 'unknown type', expect: 'refused', needsRedis: true, request: () => post({ type: 'no-such-type', payload: {} }) },
  { name: 'type name with spaces', expect: 'refused', request: () => post({ type: 'a b/c', payload: {} }) },
  { name: 'unknown queue', expect: 'refused', request: () => noopWith({}, { queue: 'elsewhere' }) },
  { name: 'payload an array', expect: 'refused', request: () => noopWith([]) },
  { name: 'payload null', expect: 'refused', request: () => noopWith(null) },
  { name: 'body an array', expect: 'refused', request: () => post([]) },
  { name: 'fail times past its limit', expect: 'refused', request: () => post({ type: 'fail', payload: { times: 101 } }) },
  { name: 'fail with an unknown field', expect: 'refused', request: () => post({ type: 'fail', payload: { times: 1, extra: 1 } }) },
  { name: 'invalid JSON', expect: 'refused', request: () => rawJob('{"type": "noop", "payload": {') },
  { name: 'empty body', expect: 'refused', request: () => rawJob('') },
  { name: 'text/plain body', expect: 'refused', request: () => ({ method: 'POST', path: '/jobs', raw: 'hello', contentType: 'text/plain' }) },
  { name: 'body over the size limit', expect: 'refused', closeRefuses: true, request: () => noopWith({ big: 'x'.repeat(1_100_000) }) },
  { name: '__proto__ key', expect: 'refused', request: () => rawJob('{"type":"noop","payload":{"__proto__":{"polluted":1}}}') },
  { name: 'constructor.prototype key', expect: 'refused', request: () => rawJob('{"type":"noop","payload":{"constructor":{"prototype":{"polluted":1}}}}') },
  { name: 'bulk of none', expect: 'refused', request: () => ({ method: 'POST', path: '/jobs/bulk', json: { jobs: [] } }) },
  { name: 'bulk of 1001', expect: 'refused', request: () => ({ method: 'POST', path: '/jobs/bulk', json: { jobs: Array.from({ length: 1001 }, () => ({ type: 'noop', payload: {} })) } }) },
  { name: 'bulk jobs not a list', expect: 'refused', request: () => ({ method: 'POST', path: '/jobs/bulk', json: { jobs: {} } }) },
  { name: 'malformed job id', expect: 'refused', request: () => ({ method: 'GET', path: '/jobs/not-a-uuid' }) },
  { name: 'unknown job id', expect: 'refused', needsRedis: true, mayNeedPostgres: true, request: (rng) => ({ method: 'GET', path: `/jobs/${seededUuid(rng)}` }) },
  { name: 'cancel of an unknown job', expect: 'refused', needsRedis: true, request: (rng) => ({ method: 'POST', path: `/jobs/${seededUuid(rng)}/cancel` }) },
  { name: 'cancel of a malformed id', expect: 'refused', request: () => ({ method: 'POST', path: '/jobs/%00%ff/cancel' }) },
  { name: 'overlong path', expect: 'refused', request: () => ({ method: 'GET', path: `/jobs/${'a'.repeat(5000)}` }) },
  { name: 'invalid UTF-8 in a string', expect: 'any', request: () => rawJob(Buffer.concat([Buffer.from('{"type":"noop","payload":{"s":"'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('"}}')])) },
  { name: 'number past double range', expect: 'any', request: () => rawJob('{"type":"noop","payload":{"n":1e400,"m":-1e400}}') },
  { name: 'duplicate keys', expect: 'any', request: () => rawJob('{"type":"noop","payload":{"a":1,"a":2}}') },
  { name: 'nested just within the limit', expect: 'any', request: () => noopWith(nest(PAYLOAD_MAX_DEPTH, 'deep')) },
  { name: 'half a MiB of payload', expect: 'any', request: () => noopWith({ big: '\u{1F600}'.repeat(130_000) }) },
];

/**
 * The payload a request asks for, as the server reads it: raw bytes decoded as UTF-8 (bad bytes
 * become U+FFFD), then JSON; undefined when it cannot be written back (nested too deep for
 * JSON.stringify's stack).
 */
function payloadOf(spec: RequestSpec): unknown {
  const text = spec.raw !== undefined ? spec.raw.toString() : JSON.stringify(spec.json);
  try {
    return JSON.parse(JSON.stringify((JSON.parse(text) as { payload: unknown }).payload));
  } catch {
    return undefined;
  }
}

/** A key a lane submitted with, and the job it named when last answered. */
interface KeyUse {
  key: string;
  kind: JobKind;
  request: RequestSpec;
  id: string;
  sentAt: number;
  answeredAt: number;
}

const LANE_ACTIONS = [['submit', 60], ['bulk', 8], ['hostile', 12], ['cancel', 8], ['get', 6], ['repeat', 6]] as const;

/** What the lanes need from the soak. */
export interface TrafficOptions {
  client: ApiClient;
  /** IDEMPOTENCY_TTL_MS of the API: a key repeated within it names the first job. */
  idempotencyTtlMs: number;
  /** Accepted jobs not yet finished above which lanes hold back, so a run drains in bounded time. */
  maxUnfinished: number;
  unfinished: () => number;
}

/**
 * The producers: lanes that each draw from their own seeded generator and submit jobs (single and
 * bulk, some delayed, some with idempotency keys), repeat keys, cancel and read jobs, and send
 * hostile requests, recording every answer.
 */
export class Traffic {
  readonly exchanges: Exchange[] = [];
  readonly problems: TrafficProblem[] = [];
  private readonly recent: string[] = [];
  private readonly all: string[] = [];

  constructor(
    private readonly options: TrafficOptions,
    /** Where accepted jobs are recorded, by id. */
    readonly accepted: Map<string, AcceptedJob>,
  ) {}

  /** Runs one lane until `until` (Date.now()) or `signal`. */
  async lane(index: number, rng: SeededRandom, until: number, signal: AbortSignal): Promise<void> {
    const keys: KeyUse[] = [];
    let keyCount = 0;
    const newKey = (): string => `lane${index}-key${(keyCount += 1)}-${rng.int(0, 1e9)}`;
    while (Date.now() < until && !signal.aborted) {
      if (this.options.unfinished() > this.options.maxUnfinished) {
        await sleep(200);
        continue;
      }
      const action = rng.weighted(LANE_ACTIONS);
      if (action === 'submit' || (action === 'repeat' && keys.length === 0)) await this.submit(rng, keys, newKey);
      else if (action === 'repeat') await this.repeat(rng.pick(keys));
      else if (action === 'bulk') await this.bulk(rng);
      else if (action === 'hostile') await this.hostile(rng, newKey);
      else if (action === 'cancel' && this.recent.length > 0) await this.cancel(rng.pick(this.recent));
      // Older jobs too: those that finished and left Redis are read from PostgreSQL.
      else if (action === 'get' && this.recent.length > 0) await this.get(rng.pick(rng.chance(0.3) ? this.all : this.recent));
      await sleep(rng.int(40, 200));
    }
  }

  private async submit(rng: SeededRandom, keys: KeyUse[], newKey: () => string): Promise<void> {
    const { kind, job } = randomJob(rng);
    if (rng.chance(0.1)) job.idempotencyKey = newKey();
    const request = post(job);
    const answer = await this.exchange('submit', 'submit', request, { needsRedis: true });
    if (answer.status === 200) {
      this.problem('idempotency', `a key never used before (${job.idempotencyKey}) was answered as a duplicate of ${idOf(answer)}`);
    }
    if (answer.status !== 202) return;
    const id = this.track(answer, kind, job.payload);
    if (job.idempotencyKey) keys.push({ key: job.idempotencyKey, kind, request, id, sentAt: answer.sentAt, answeredAt: answer.answeredAt });
  }

  /** Sends a keyed submission again: within the window it must name the job the key last named, past it a new one. */
  private async repeat(use: KeyUse): Promise<void> {
    const { idempotencyTtlMs } = this.options;
    const answer = await this.exchange('repeat', 'repeat', use.request, { needsRedis: true });
    if (answer.status === 200) {
      const body = answer.body as { id?: string; duplicate?: boolean };
      if (body.id !== use.id || body.duplicate !== true) {
        this.problem('idempotency', `key ${use.key} named ${use.id}, but its repeat was answered ${JSON.stringify(body)}`);
      } else if (answer.sentAt > use.answeredAt + idempotencyTtlMs + 1500) {
        this.problem('idempotency', `key ${use.key} still named ${use.id} ${answer.sentAt - use.answeredAt} ms after it was set (window ${idempotencyTtlMs} ms)`);
      }
    } else if (answer.status === 202) {
      if (answer.sentAt < use.sentAt + idempotencyTtlMs - 300) {
        this.problem('idempotency', `key ${use.key} named ${use.id} ${answer.sentAt - use.sentAt} ms before, yet its repeat added ${idOf(answer)}`);
      }
      Object.assign(use, { id: this.track(answer, use.kind, payloadOf(use.request)), sentAt: answer.sentAt, answeredAt: answer.answeredAt });
    }
  }

  private async bulk(rng: SeededRandom): Promise<void> {
    const drawn = Array.from({ length: rng.int(2, 12) }, () => randomJob(rng));
    const request: RequestSpec = { method: 'POST', path: '/jobs/bulk', json: { jobs: drawn.map(({ job }) => job) } };
    const answer = await this.exchange('bulk', 'bulk', request, { needsRedis: true });
    if (answer.status !== 202) return;
    const jobs = (answer.body as { jobs?: { id: string }[] }).jobs ?? [];
    if (jobs.length !== drawn.length) this.problem('bulk', `a bulk of ${drawn.length} was answered with ${jobs.length} jobs`);
    jobs.forEach((added, index) => {
      const submitted = drawn[index];
      if (submitted) this.trackId(added.id, answer.answeredAt, submitted.kind, submitted.job.payload);
    });
  }

  private async hostile(rng: SeededRandom, newKey: () => string): Promise<void> {
    if (rng.chance(0.1)) return this.badBulk(rng, newKey);
    const hostileCase = rng.pick(HOSTILE);
    const request = hostileCase.request(rng);
    // What may be accepted is enqueued, so it needs Redis like any submission.
    const needsRedis = hostileCase.needsRedis ?? hostileCase.expect === 'any';
    const answer = await this.exchange('hostile', hostileCase.name, request, { needsRedis, mayNeedPostgres: hostileCase.mayNeedPostgres ?? false, expect: hostileCase.expect, closeRefuses: hostileCase.closeRefuses ?? false });
    this.trackAccepted(answer, request);
  }

  /** Tracks what a hostile request got accepted, rightly or not: then it must not be lost either. */
  private trackAccepted(answer: Answer, request: RequestSpec): void {
    if (answer.status !== 200 && answer.status !== 202) return;
    const body = answer.body as { id?: string; jobs?: { id: string }[] };
    if (!body.jobs) {
      this.track(answer, 'hostile-accepted', payloadOf(request));
      return;
    }
    const submitted = (request.json as { jobs: { payload: unknown }[] }).jobs;
    body.jobs.forEach(({ id }, index) => this.trackId(id, answer.answeredAt, 'hostile-accepted', submitted[index]?.payload));
  }

  /**
   * A bulk whose one bad job must keep every job out, checked by submitting one of its good jobs'
   * idempotency keys afterwards: it must add a new job, not name one the refused bulk left behind.
   */
  private async badBulk(rng: SeededRandom, newKey: () => string): Promise<void> {
    const good = Array.from({ length: rng.int(2, 6) }, () => ({ type: 'noop', payload: { soak: 'quick' }, idempotencyKey: newKey() }));
    const jobs: unknown[] = [...good];
    jobs.splice(rng.int(0, good.length), 0, { type: 'noop', payload: { s: 'bad\u0000' } });
    const request: RequestSpec = { method: 'POST', path: '/jobs/bulk', json: { jobs } };
    const answer = await this.exchange('hostile', 'bulk with one bad job', request, { needsRedis: false, expect: 'refused' });
    this.trackAccepted(answer, request);
    if (typeof answer.status !== 'number' || answer.status < 400 || answer.status >= 500) return;
    const probe = rng.pick(good);
    const probed = await this.exchange('probe', 'probe', post(probe), { needsRedis: true });
    if (probed.status === 200) this.problem('bulk', `a refused bulk left job ${idOf(probed)} behind under key ${probe.idempotencyKey}`);
    if (probed.status === 202) this.track(probed, 'quick', probe.payload);
  }

  private async cancel(id: string): Promise<void> {
    const answer = await this.exchange('cancel', 'cancel', { method: 'POST', path: `/jobs/${id}/cancel` }, { needsRedis: true, mayNeedPostgres: true, jobId: id });
    this.accepted.get(id)?.cancels.push({ status: answer.status, sentAt: answer.sentAt, answeredAt: answer.answeredAt });
  }

  private async get(id: string): Promise<void> {
    const answer = await this.exchange('get', 'get', { method: 'GET', path: `/jobs/${id}` }, { needsRedis: true, mayNeedPostgres: true, jobId: id });
    if (answer.status === 200 && idOf(answer) !== id) this.problem('read', `GET /jobs/${id} answered job ${idOf(answer)}`);
  }

  private async exchange(
    route: Route,
    label: string,
    request: RequestSpec,
    details: { needsRedis: boolean; mayNeedPostgres?: boolean; expect?: 'refused' | 'any'; closeRefuses?: boolean; jobId?: string },
  ): Promise<Answer> {
    const answer = await this.options.client.send(request);
    this.exchanges.push({
      route, label, status: answer.status, sentAt: answer.sentAt, answeredAt: answer.answeredAt, needsRedis: details.needsRedis,
      mayNeedPostgres: details.mayNeedPostgres ?? false, ...(details.expect && { expect: details.expect }), ...(details.closeRefuses && { closeRefuses: true }),
      ...(details.jobId && { jobId: details.jobId }),
    });
    return answer;
  }

  private track(answer: Answer, kind: JobKind, payload: unknown): string {
    const id = idOf(answer);
    this.trackId(id, answer.answeredAt, kind, payload);
    return id;
  }

  private trackId(id: string, acceptedAt: number, kind: JobKind, payload: unknown): void {
    if (this.accepted.has(id)) return;
    this.accepted.set(id, { id, kind, acceptedAt, payload: payload === undefined ? undefined : JSON.parse(JSON.stringify(payload)), cancels: [] });
    this.all.push(id);
    this.recent.push(id);
    if (this.recent.length > 60) this.recent.shift();
  }

  private problem(check: string, example: string): void {
    this.problems.push({ check, example });
  }
}

function idOf(answer: Answer): string {
  return String((answer.body as { id?: unknown } | null)?.id);
}
