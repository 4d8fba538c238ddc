import { clientFor, connectionOptions } from '../api-client.js';
import type { AddedJob, Job, ListedJob, Page } from '../api-views.js';
import { UsageError, flag, stringOption, type ParsedArgs } from '../command-line.js';
import { EXIT, type Command, type CommandContext } from '../command.js';
import { assertNoFilter, matchingOptions, runMatching, runOnIds } from './job-actions.js';
import { dateTimeValue, integerValue, jsonObjectValue } from '../option-values.js';
import { cell, printAnswer, table } from '../output.js';

const jobPath = (id: string, action = '') => `/jobs/${encodeURIComponent(id)}${action}`;

/** What `sluice jobs add` sends: POST /jobs's body from the options. */
function submissionOf(args: ParsedArgs): Record<string, unknown> {
  const delay = integerValue('delay-ms', stringOption(args, 'delay-ms'), 0);
  const runAt = dateTimeValue('run-at', stringOption(args, 'run-at'));
  if (delay !== undefined && runAt !== undefined) throw new UsageError('give --delay-ms or --run-at, not both');
  // Options not given stay undefined and so out of the JSON body.
  return {
    type: args.positionals[0],
    payload: jsonObjectValue('payload', stringOption(args, 'payload') ?? '{}'),
    queue: stringOption(args, 'queue'),
    delay,
    runAt,
    maxAttempts: integerValue('max-attempts', stringOption(args, 'max-attempts'), 1),
    priority: integerValue('priority', stringOption(args, 'priority')),
    idempotencyKey: stringOption(args, 'idempotency-key'),
    group: stringOption(args, 'group'),
  };
}

const when = (iso: string | null) => iso ?? '';

/** A job and its history as a person reads them. */
export function describeJob(job: Job): string {
  const fields: [string, string][] = [
    ['id', job.id],
    ['queue', job.queue],
    ['type', job.type],
    ['status', job.status],
    ['attempts', `${job.attempts} of ${job.maxAttempts}`],
    ['priority', String(job.priority)],
    ['run at', job.runAt],
    ['created', job.createdAt],
    ['updated', job.updatedAt],
    ['finished', when(job.finishedAt)],
    ['idempotency key', job.idempotencyKey ?? ''],
    ['group', job.group ?? ''],
    ['schedule', job.schedule ? `${job.schedule.name}, tick ${job.schedule.tick}` : ''],
    ['last error', job.lastError ?? ''],
    ['payload', JSON.stringify(job.payload)],
    ['result', job.result === null || job.result === undefined ? '' : JSON.stringify(job.result)],
    ['progress', job.progress === null || job.progress === undefined ? '' : JSON.stringify(job.progress)],
    ['waiting', job.waiting ? job.waiting.message : ''],
  ];
  const width = Math.max(...fields.map(([name]) => name.length));
  const history = table(
    ['AT', 'STATUS', 'ATTEMPT', 'WORKER', 'DETAIL'],
    job.history.map((event) => [event.at, event.status, event.attempt, event.worker ?? '', cell(event.error ?? event.reason ?? (event.nextAt ? `next at ${event.nextAt}` : ''), 80)]),
  );
  return `${fields.filter(([, value]) => value !== '').map(([name, value]) => `${name.padEnd(width)}  ${value}`).join('\n')}\n\nHistory\n${history}`;
}

/** Jobs as a table, with how to get the next page. */
export function listJobs(page: Page<ListedJob>, rerun: string): string {
  const rows = page.jobs.map((job) => [job.id, job.queue, job.type, job.status, `${job.attempts}/${job.maxAttempts}`, job.createdAt, cell(job.lastError, 50)]);
  const listing = rows.length === 0 ? 'No jobs match.\n' : table(['ID', 'QUEUE', 'TYPE', 'STATUS', 'ATTEMPTS', 'CREATED', 'LAST ERROR'], rows);
  return page.nextCursor ? `${listing}More: ${rerun} --cursor ${page.nextCursor}\n` : listing;
}

const add: Command = {
  name: 'jobs add',
  summary: 'Submits a job (POST /jobs).',
  arguments: '<type>',
  positionals: { min: 1, max: 1 },
  options: {
    payload: { type: 'string', value: 'JSON', description: 'the job\'s input, a JSON object (default {})' },
    queue: { type: 'string', value: 'QUEUE', description: 'the queue to add it to (default: the API\'s first queue)' },
    'delay-ms': { type: 'string', value: 'N', description: 'milliseconds to wait before it may run' },
    'run-at': { type: 'string', value: 'ISO', description: 'when it may run, an ISO-8601 date-time (instead of --delay-ms)' },
    'max-attempts': { type: 'string', value: 'N', description: 'attempts before it is dead (default: its type\'s)' },
    priority: { type: 'string', value: 'N', description: 'priority, -1000 to 1000 (default 0; higher starts first, by band)' },
    'idempotency-key': { type: 'string', value: 'KEY', description: 'a repeat with the same key within the window adds nothing and answers the first job' },
    group: { type: 'string', value: 'GROUP', description: 'its fair group (a tenant): the queue takes its groups\' jobs in turn, at most its group concurrency of one at once' },
    ...connectionOptions,
  },
  examples: [
    'sluice jobs add email --payload \'{"to":"ada@example.com","subject":"Welcome"}\' --delay-ms 60000',
    'sluice jobs add noop --queue default --idempotency-key nightly-2026-12-01 --json',
    'sluice jobs add webhook --payload \'{"url":"https://example.com/hook"}\' --group customer-42',
  ],
  async run(args, context) {
    const added = await clientFor(args, context.env).post<AddedJob>('/jobs', submissionOf(args));
    printAnswer(context.stdout, flag(args, 'json'), added, (job) =>
      job.duplicate
        ? `Job ${job.id} already has this idempotency key (${job.type}, queue ${job.queue}): ${job.status}; nothing added.\n`
        : `Added job ${job.id} (${job.type}, queue ${job.queue}): ${job.status}\n`);
    return EXIT.ok;
  },
};

const get: Command = {
  name: 'jobs get',
  summary: 'Shows a job with its history (GET /jobs/:id).',
  arguments: '<id>',
  positionals: { min: 1, max: 1 },
  options: connectionOptions,
  examples: ['sluice jobs get 01936f0e-7d2c-7a4e-9f1b-2b8e5f0c1a77'],
  async run(args, context) {
    const job = await clientFor(args, context.env).get<Job>(jobPath(args.positionals[0] ?? ''));
    printAnswer(context.stdout, flag(args, 'json'), job, describeJob);
    return EXIT.ok;
  },
};

const LIST_FILTERS = ['status', 'type', 'queue', 'idempotency-key', 'group', 'payload', 'created-after', 'created-before', 'limit', 'cursor'] as const;

const list: Command = {
  name: 'jobs list',
  summary: 'Lists jobs from the history, newest first (GET /jobs).',
  positionals: { min: 0, max: 0 },
  options: {
    status: { type: 'string', value: 'STATUS', description: 'only jobs in this state: pending, scheduled, processing, retrying, completed, dead, cancelled, discarded' },
    type: { type: 'string', value: 'TYPE', description: 'only jobs of this type' },
    queue: { type: 'string', value: 'QUEUE', description: 'only jobs of this queue' },
    'idempotency-key': { type: 'string', value: 'KEY', description: 'only the job submitted with this key' },
    group: { type: 'string', value: 'GROUP', description: 'only jobs of this fair group' },
    payload: { type: 'string', value: 'JSON', description: 'only jobs whose payload contains this JSON object, such as \'{"userId":42}\'' },
    'created-after': { type: 'string', value: 'ISO', description: 'only jobs created at or after this time' },
    'created-before': { type: 'string', value: 'ISO', description: 'only jobs created before this time' },
    limit: { type: 'string', value: 'N', description: 'jobs per page, 1 to 100 (default 20)' },
    cursor: { type: 'string', value: 'CURSOR', description: 'the page after the one that printed this cursor' },
    ...connectionOptions,
  },
  examples: ['sluice jobs list --status dead --type email --limit 50', 'sluice jobs list --payload \'{"userId":42}\''],
  async run(args, context) {
    integerValue('limit', stringOption(args, 'limit'), 1);
    const query = Object.fromEntries(LIST_FILTERS.map((name) => [name.replace(/-(\w)/g, (_, letter: string) => letter.toUpperCase()), stringOption(args, name)]));
    const page = await clientFor(args, context.env).get<Page<ListedJob>>('/jobs', query);
    printAnswer(context.stdout, flag(args, 'json'), page, (listed) => listJobs(listed, 'sluice jobs list'));
    return EXIT.ok;
  },
};

/** One id: the action's own route and answer; several: one call for all of them; --all: every job matching the filter. */
async function actOnJobs(args: ParsedArgs, context: CommandContext, action: 'retry' | 'cancel', one: (job: Job) => string, verb: string): Promise<number> {
  const client = clientFor(args, context.env);
  if (flag(args, 'all')) {
    if (args.positionals.length > 0) throw new UsageError('give job ids or --all, not both');
    return runMatching(client, args, context, action, verb);
  }
  if (args.positionals.length === 0) throw new UsageError('missing <id>... (or --all)');
  assertNoFilter(args, [...Object.keys(matchingOptions).filter((name) => name !== 'all')]);
  if (args.positionals.length > 1) return runOnIds(client, args, context, action, verb);
  const job = await client.post<Job>(jobPath(args.positionals[0] ?? '', `/${action}`));
  printAnswer(context.stdout, flag(args, 'json'), job, one);
  return EXIT.ok;
}

const bulkDetails = (action: string, states: string) => [
  `One job: POST /jobs/:id/${action}. Several: POST /jobs/actions/${action}, each reported; exits 1 if any was left alone or not found.`,
  `--all: every ${states} job matching the filter options, as GET /jobs filters them: POST /jobs/actions/${action}/matching/count first,`,
  `which is printed, and nothing changes (exit 1) unless --yes is given; then POST /jobs/actions/${action}/matching until the run is over.`,
].join('\n');

const retry: Command = {
  name: 'jobs retry',
  summary: 'Sends dead jobs back to their queues with their attempts reset: the ones named, or --all matching a filter.',
  arguments: '<id>...',
  positionals: { min: 0, max: Number.POSITIVE_INFINITY },
  options: { ...matchingOptions, ...connectionOptions },
  details: bulkDetails('retry', 'dead'),
  examples: ['sluice jobs retry 01936f0e-7d2c-7a4e-9f1b-2b8e5f0c1a77', 'sluice jobs retry --all --type webhook --created-after 2026-12-01T00:00:00Z --yes'],
  run: (args, context) => actOnJobs(args, context, 'retry', (retried) => `Sent job ${retried.id} back to queue ${retried.queue}, its attempts reset.\n`, 'Sent back'),
};

const cancel: Command = {
  name: 'jobs cancel',
  summary: 'Cancels jobs that have not started: the ones named, or --all matching a filter.',
  arguments: '<id>...',
  positionals: { min: 0, max: Number.POSITIVE_INFINITY },
  options: { ...matchingOptions, ...connectionOptions },
  details: bulkDetails('cancel', 'pending, scheduled or retrying'),
  examples: ['sluice jobs cancel 01936f0e-7d2c-7a4e-9f1b-2b8e5f0c1a77', 'sluice jobs cancel --all --status scheduled --queue default --yes'],
  run: (args, context) => actOnJobs(args, context, 'cancel', (cancelled) => `Job ${cancelled.id} is ${cancelled.status}.\n`, 'Cancelled'),
};

const runNow: Command = {
  name: 'jobs run-now',
  summary: 'Runs a scheduled job or a retry now instead of at its due time (POST /jobs/:id/run-now).',
  arguments: '<id>',
  positionals: { min: 1, max: 1 },
  options: connectionOptions,
  examples: ['sluice jobs run-now 01936f0e-7d2c-7a4e-9f1b-2b8e5f0c1a77'],
  async run(args, context) {
    const job = await clientFor(args, context.env).post<Job>(jobPath(args.positionals[0] ?? '', '/run-now'));
    printAnswer(context.stdout, flag(args, 'json'), job, (ran) => `Job ${ran.id} is ${ran.status}: it no longer waits for its due time.\n`);
    return EXIT.ok;
  },
};

export const jobCommands: readonly Command[] = [add, get, list, retry, cancel, runNow];
