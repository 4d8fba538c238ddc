/**
 * Drives a running Sluice through its HTTP producer with autocannon, then follows the queue until every
 * accepted job has finished, and prints what it saw.
 *
 *   npm run load-test                                   # 1,000 noop jobs over 100 connections
 *   npm run load-test -- --jobs 20000 --connections 200 --type sleep --payload '{"ms":10}'
 *   npm run load-test -- --duration 30 --api-key "$KEY" --json results.json
 *
 * Exits 1 if an accepted job is missing or unfinished at the end.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string', default: process.env.SLUICE_URL ?? 'http://127.0.0.1:3000' },
    connections: { type: 'string', default: '100' },
    jobs: { type: 'string', default: '1000' },
    duration: { type: 'string' },
    type: { type: 'string', default: 'noop' },
    payload: { type: 'string', default: '{}' },
    'payload-bytes': { type: 'string', default: '0' },
    'api-key': { type: 'string', default: process.env.SLUICE_API_KEY },
    json: { type: 'string' },
    'drain-timeout': { type: 'string', default: '300' },
  },
});

const headers: Record<string, string> = { 'content-type': 'application/json', ...(args['api-key'] && { authorization: `Bearer ${args['api-key']}` }) };
const payload = JSON.parse(args.payload) as Record<string, unknown>;
if (Number(args['payload-bytes']) > 0) payload.padding = 'x'.repeat(Number(args['payload-bytes']));
const body = JSON.stringify({ type: args.type, payload });
const percentile = (sorted: readonly number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function api<T>(path: string): Promise<T> {
  const response = await fetch(`${args.url}${path}`, { headers });
  if (!response.ok) throw new Error(`GET ${path} answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as T;
}

type Stats = { queues: Record<string, Record<string, number>> };
const totals = async (): Promise<Record<string, number>> => {
  const sum: Record<string, number> = {};
  for (const queue of Object.values((await api<Stats>('/stats')).queues)) {
    for (const state of ['pending', 'scheduled', 'processing', 'retrying', 'completed', 'dead', 'cancelled']) sum[state] = (sum[state] ?? 0) + (queue[state] ?? 0);
  }
  return sum;
};

const before = await totals();
const accepted: string[] = [];
let submitted = 0;
const progress = setInterval(() => {
  void totals().then((now) => {
    const done = (now.completed ?? 0) - (before.completed ?? 0);
    const failed = (now.dead ?? 0) - (before.dead ?? 0);
    process.stdout.write(`\rsubmitted ${submitted}  accepted ${accepted.length}  completed ${done}  dead ${failed}  queue depth ${now.pending ?? 0}   `);
  }, () => undefined);
}, 500);

const started = performance.now();
const http = await autocannon({
  url: `${args.url}/jobs`,
  connections: Number(args.connections),
  ...(args.duration ? { duration: Number(args.duration) } : { amount: Number(args.jobs) }),
  requests: [
    {
      method: 'POST',
      headers,
      body,
      onResponse: (status: number, responseBody: string) => {
        submitted += 1;
        if (status === 202) accepted.push((JSON.parse(responseBody) as { id: string }).id);
      },
    },
  ],
});

const deadline = Date.now() + Number(args['drain-timeout']) * 1000;
for (;;) {
  const now = await totals();
  const finished = (now.completed ?? 0) - (before.completed ?? 0) + (now.dead ?? 0) - (before.dead ?? 0);
  if (finished >= accepted.length || Date.now() > deadline) break;
  await sleep(200);
}
const drainedAt = performance.now();
clearInterval(progress);
process.stdout.write('\n');

// Every accepted job, read back: nothing missing, and its latencies from its own history.
const toStart: number[] = [];
const toFinish: number[] = [];
const missing: string[] = [];
for (let i = 0; i < accepted.length; i += 50) {
  await Promise.all(
    accepted.slice(i, i + 50).map(async (id) => {
      const response = await fetch(`${args.url}/jobs/${id}`, { headers });
      const job = response.ok ? ((await response.json()) as { status: string; createdAt: string; finishedAt: string | null; history: { status: string; at: string }[] }) : null;
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

console.table({
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
if (args.json) writeFileSync(args.json, `${JSON.stringify(figures, null, 2)}\n`);
if (missing.length > 0) {
  console.error(`${missing.length} accepted jobs are missing or unfinished, e.g. ${missing.slice(0, 5).join(', ')}`);
  process.exit(1);
}
