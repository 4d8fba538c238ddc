/**
 * What tracing adds to each job where it runs: the submission's send span (producer) and the
 * attempt's process span with its handler run inside it (worker), CPU nanoseconds per job, with no
 * OpenTelemetry SDK registered (the API's no-op tracer), against the same steps without tracing in
 * the same process. Then, for scale, the same with an SDK registered (spans made, none exported).
 * The producer's part is not in bench/cpu-per-job.ts, whose jobs are added by the benchmark itself.
 *
 *   npx tsx --conditions=sluice-source bench/tracing-steps.ts [--jobs 2000000] [--rounds 5]
 */
import { parseArgs } from 'node:util';
import { trace } from '@opentelemetry/api';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { endAttemptSpan, finishSendSpan, startAttemptSpan, startSendSpan, withSpan } from '../packages/core/src/tracing/spans';
import { percentile } from './percentile';

const { values: options } = parseArgs({ options: { jobs: { type: 'string', default: '2000000' }, rounds: { type: 'string', default: '5' } } });
const JOBS = Number(options.jobs);
const ROUNDS = Number(options.rounds);

const job = { id: '019ad3c4-0000-7000-8000-000000000000', queue: 'default', type: 'noop', attempt: 1, traceparent: null, tracestate: null };
const added = { status: 'fulfilled', value: { id: job.id, duplicate: false } } as const;
const handler = (): number => 1;
let sink = 0;

/** What the worker and the producer do per job without tracing: run the handler, pass the added job on. */
function untraced(): void {
  sink += handler();
  void added;
}

/** The same with the tracing steps Queue.add and Worker.run take (Queue.add ends its span once Redis answers, as here). */
function traced(): void {
  const { span: send } = startSendSpan(job);
  finishSendSpan(send, added);
  const attempt = startAttemptSpan(job, 0);
  sink += withSpan(attempt, handler);
  endAttemptSpan(attempt, 'completed');
}

/** CPU ns per call of `step`, the median of ROUNDS rounds of JOBS calls. */
function nsPerJob(step: () => void): number {
  const rounds: number[] = [];
  for (let round = 0; round < ROUNDS; round += 1) {
    const before = process.cpuUsage();
    for (let i = 0; i < JOBS; i += 1) step();
    const used = process.cpuUsage(before);
    rounds.push(((used.user + used.system) * 1000) / JOBS);
  }
  return percentile(rounds.sort((a, b) => a - b), 50);
}

// Warm up both, so that neither pays for compilation in its measured rounds.
for (let i = 0; i < JOBS / 4; i += 1) {
  untraced();
  traced();
}
const base = nsPerJob(untraced);
const noSdk = nsPerJob(traced);
console.log(`${JOBS} jobs × ${ROUNDS} rounds, CPU ns per job (median round)`);
console.log(`without tracing ${base.toFixed(1)}; with tracing, no SDK ${noSdk.toFixed(1)}: ${(noSdk - base).toFixed(1)} ns more per job`);

const provider = new BasicTracerProvider();
trace.setGlobalTracerProvider(provider);
const withSdk = nsPerJob(traced);
console.log(`with an SDK registered (spans made, none exported) ${withSdk.toFixed(1)}: ${(withSdk - base).toFixed(1)} ns more per job`);
console.log(sink > 0 ? '' : 'no job ran');
await provider.shutdown();
