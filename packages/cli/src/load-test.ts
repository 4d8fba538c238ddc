import { writeFileSync } from 'node:fs';
import { Console } from 'node:console';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import { ApiRefusal, clientFor, connectionOptions, type ApiClient } from './api-client.js';
import type { Job, Stats } from './api-views.js';
import { UsageError, stringOption, type ParsedArgs } from './command-line.js';
import { EXIT, processContext, runCommand, type Command, type CommandContext } from './command.js';
import { integerValue, jsonObjectValue, secondsValue } from './option-values.js';

/** What one load test does, from its command line. */
interface LoadTest {
  client: ApiClient;
  connections: number;
  /** A number of requests, or seconds of sending. */
  extent: { amount: number } | { duration: number };
  /** The body of every POST /jobs. */
  body: string;
  /** Where the figures go as JSON: a file, `-` for stdout (instead of the table), or nowhere. */
  jsonTo: string | undefined;
  drainTimeoutMs: number;
}

function loadTestOf(args: ParsedArgs, env: NodeJS.ProcessEnv): LoadTest {
  const jobs = integerValue('jobs', stringOption(args, 'jobs'), 1);
  const duration = secondsValue('duration', stringOption(args, 'duration'));
  if (jobs !== undefined && duration !== undefined) throw new UsageError('give --jobs or --duration, not both');
  const payload = jsonObjectValue('payload', stringOption(args, 'payload') ?? '{}');
  const payloadBytes = integerValue('payload-bytes', stringOption(args, 'payload-bytes'), 0) ?? 0;
  if (payloadBytes > 0) payload.padding = 'x'.repeat(payloadBytes);
  const json = args.values.json;
  return {
    client: clientFor(args, env),
    connections: integerValue('connections', stringOption(args, 'connections'), 1) ?? 100,
    extent: duration === undefined ? { amount: jobs ?? 1000 } : { duration },
    body: JSON.stringify({ type: stringOption(args, 'type') ?? 'noop', payload }),
    jsonTo: json === true ? '-' : json,
    drainTimeoutMs: (secondsValue('drain-timeout', stringOption(args, 'drain-timeout')) ?? 300) * 1000,
  };
}

const percentile = (sorted: readonly number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;

/** Jobs per state, summed over every queue. */
async function totals(client: ApiClient): Promise<Record<string, number>> {
  const sum: Record<string, number> = {};
  for (const queue of Object.values((await client.get<Stats>('/stats')).queues)) {
    for (const [state, count] of Object.entries(queue)) if (typeof count === 'number') sum[state] = (sum[state] ?? 0) + count;
  }
  return sum;
}

/** The job, or null when the API does not have it. */
async function readBack(client: ApiClient, id: string): Promise<Job | null> {
  try {
    return await client.get<Job>(`/jobs/${id}`);
  } catch (error) {
    if (error instanceof ApiRefusal) return null;
    throw error;
  }
}

async function run(test: LoadTest, context: CommandContext): Promise<number> {
  const { client } = test;
  const url = client.connection.url;
  const headers: Record<string, string> = { 'content-type': 'application/json', ...(client.connection.apiKey && { authorization: `Bearer ${client.connection.apiKey}` }) };
  // With the figures on stdout, progress goes to stderr so stdout stays JSON.
  const progressTo = test.jsonTo === '-' ? context.stderr : context.stdout;

  const before = await totals(client);
  const accepted: string[] = [];
  let submitted = 0;
  let firstRefusal: string | undefined;
  const progress = setInterval(() => {
    void totals(client).then((now) => {
      const done = (now.completed ?? 0) - (before.completed ?? 0);
      const failed = (now.dead ?? 0) - (before.dead ?? 0);
      progressTo.write(`\rsubmitted ${submitted}  accepted ${accepted.length}  completed ${done}  dead ${failed}  queue depth ${now.pending ?? 0}   `);
    }, () => undefined);
  }, 500);

  const started = performance.now();
  let http: autocannon.Result;
  try {
    http = await autocannon({
      url: `${url}/jobs`,
      connections: test.connections,
      ...test.extent,
      requests: [
        {
          method: 'POST',
          headers,
          body: test.body,
          onResponse: (status: number, responseBody: string) => {
            submitted += 1;
            if (status === 202) accepted.push((JSON.parse(responseBody) as { id: string }).id);
            else firstRefusal ??= `${status} ${responseBody.slice(0, 300)}`;
          },
        },
      ],
    });

    const deadline = Date.now() + test.drainTimeoutMs;
    for (;;) {
      const now = await totals(client);
      const finished = (now.completed ?? 0) - (before.completed ?? 0) + (now.dead ?? 0) - (before.dead ?? 0);
      if (finished >= accepted.length || Date.now() > deadline) break;
      await sleep(200);
    }
  } finally {
    clearInterval(progress);
  }
  const drainedAt = performance.now();
  progressTo.write('\n');

  // Every accepted job, read back: nothing missing, and its latencies from its own history.
  const toStart: number[] = [];
  const toFinish: number[] = [];
  const missing: string[] = [];
  for (let i = 0; i < accepted.length; i += 50) {
    await Promise.all(
      accepted.slice(i, i + 50).map(async (id) => {
        const job = await readBack(client, id);
        if (!job || !['completed', 'dead'].includes(job.status)) return void missing.push(id);
        const firstStart = job.history.find((event) => event.status === 'processing');
        if (firstStart) toStart.push(Date.parse(firstStart.at) - Date.parse(job.createdAt));
        if (job.finishedAt) toFinish.push(Date.parse(job.finishedAt) - Date.parse(job.createdAt));
      }),
    );
  }
  toStart.sort((a, b) => a - b);
  toFinish.sort((a, b) => a - b);

  const seconds = (drainedAt - started) / 1000;
  const figures = {
    requests: http.requests.total,
    requestsPerSecond: Math.round(http.requests.average),
    httpLatencyMs: { p50: http.latency.p50, p90: http.latency.p90, p99: http.latency.p99, max: http.latency.max },
    non2xx: http.non2xx,
    errors: http.errors,
    accepted: accepted.length,
    missing: missing.length,
    endToEndJobsPerSecond: Math.round(accepted.length / seconds),
    drainSeconds: Math.round(((drainedAt - started) / 1000 - http.duration) * 100) / 100,
    enqueueToStartMs: { p50: percentile(toStart, 50), p90: percentile(toStart, 90), p99: percentile(toStart, 99), max: toStart.at(-1) ?? null },
    enqueueToFinishMs: { p50: percentile(toFinish, 50), p90: percentile(toFinish, 90), p99: percentile(toFinish, 99), max: toFinish.at(-1) ?? null },
  };

  if (test.jsonTo === '-') {
    context.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
  } else {
    new Console(context.stdout).table({
      'HTTP requests/s': figures.requestsPerSecond,
      'HTTP latency p50 / p90 / p99 / max (ms)': Object.values(figures.httpLatencyMs).join(' / '),
      'non-2xx answers': figures.non2xx,
      'jobs accepted': figures.accepted,
      'jobs missing or unfinished': figures.missing,
      'end to end (jobs/s)': figures.endToEndJobsPerSecond,
      'time to drain after the last request (s)': figures.drainSeconds,
      'enqueue → start p50 / p90 / p99 / max (ms)': Object.values(figures.enqueueToStartMs).join(' / '),
      'enqueue → finish p50 / p90 / p99 / max (ms)': Object.values(figures.enqueueToFinishMs).join(' / '),
    });
    if (test.jsonTo) writeFileSync(test.jsonTo, `${JSON.stringify(figures, null, 2)}\n`);
  }
  if (missing.length > 0) {
    context.stderr.write(`${missing.length} accepted jobs are missing or unfinished, e.g. ${missing.slice(0, 5).join(', ')}\n`);
    return EXIT.failed;
  }
  if (accepted.length === 0) {
    context.stderr.write(`no job was accepted; the API answered ${firstRefusal ?? `nothing (${http.errors} connection errors)`}\n`);
    return EXIT.failed;
  }
  return EXIT.ok;
}

export const loadTestCommand: Command = {
  name: 'load-test',
  summary: 'Floods POST /jobs and reports throughput and latencies once every job has finished.',
  details: [
    'It drives POST /jobs with autocannon, shows progress (submitted, completed, dead, queue depth), waits',
    'until every accepted job has finished, reads each one back, and prints HTTP requests/s and latency,',
    'non-2xx answers, end-to-end jobs/s, time to drain, and enqueue→start and enqueue→finish percentiles',
    'from the jobs\' histories. Exits 1 if an accepted job is missing or unfinished at the end, or if no job',
    'was accepted. A worker must be running for the type.',
  ].join('\n'),
  positionals: { min: 0, max: 0 },
  options: {
    jobs: { type: 'string', value: 'N', description: 'jobs to submit (default 1000)' },
    duration: { type: 'string', value: 'SECONDS', description: 'submit for this long instead of a number of jobs' },
    connections: { type: 'string', value: 'N', description: 'concurrent HTTP connections (default 100)' },
    type: { type: 'string', value: 'TYPE', description: 'job type (default noop)' },
    payload: { type: 'string', value: 'JSON', description: 'each job\'s payload, a JSON object (default {})' },
    'payload-bytes': { type: 'string', value: 'N', description: 'pad each payload with this many bytes (default 0)' },
    'drain-timeout': { type: 'string', value: 'SECONDS', description: 'how long to wait for the accepted jobs to finish (default 300)' },
    json: { type: 'boolean', optionalValue: 'FILE', description: 'write the figures as JSON to FILE, or without FILE to stdout instead of the table' },
    ...connectionOptions,
  },
  examples: [
    'sluice load-test --jobs 20000 --connections 200 --type sleep --payload \'{"ms":10}\'',
    'sluice load-test --duration 30 --url http://host:3000 --api-key "$KEY" --json results.json',
  ],
  run: (args, context) => run(loadTestOf(args, context.env), context),
};

/** Runs the load test with `argv` (its options) and returns its exit code. */
export function runLoadTest(argv: readonly string[], context: CommandContext = processContext()): Promise<number> {
  return runCommand(loadTestCommand, argv, context);
}
