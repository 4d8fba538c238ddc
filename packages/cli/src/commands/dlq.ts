import { ApiRefusal, clientFor, connectionOptions } from '../api-client.js';
import type { DeadJob, Job, Page } from '../api-views.js';
import { UsageError, flag, stringOption } from '../command-line.js';
import { EXIT, type Command } from '../command.js';
import { integerValue } from '../option-values.js';
import { assertNoFilter, confirmedByCount, runOnIds } from './job-actions.js';
import { cell, printAnswer, table, writeJson } from '../output.js';

/** Dead jobs as a table, with how to get the next page. */
function listDead(page: Page<DeadJob>): string {
  const rows = page.jobs.map((job) => [job.id, job.queue, job.type, job.reason, `${job.attempts}/${job.maxAttempts}`, job.deadAt, cell(job.lastError, 50)]);
  const listing = rows.length === 0 ? 'No dead jobs.\n' : table(['ID', 'QUEUE', 'TYPE', 'REASON', 'ATTEMPTS', 'DEAD AT', 'LAST ERROR'], rows);
  return page.nextCursor ? `${listing}More: sluice dlq list --cursor ${page.nextCursor}\n` : listing;
}

const filterOptions = {
  queue: { type: 'string', value: 'QUEUE', description: 'only dead jobs of this queue' },
  type: { type: 'string', value: 'TYPE', description: 'only dead jobs of this type' },
} as const;

const list: Command = {
  name: 'dlq list',
  summary: 'Lists the dead-letter streams, newest first (GET /jobs/dead).',
  positionals: { min: 0, max: 0 },
  options: {
    queue: filterOptions.queue,
    limit: { type: 'string', value: 'N', description: 'jobs per page, 1 to 100 (default 20)' },
    cursor: { type: 'string', value: 'CURSOR', description: 'the page after the one that printed this cursor' },
    ...connectionOptions,
  },
  examples: ['sluice dlq list --queue default --limit 50'],
  async run(args, context) {
    const limit = integerValue('limit', stringOption(args, 'limit'), 1);
    const page = await clientFor(args, context.env).get<Page<DeadJob>>('/jobs/dead', { queue: stringOption(args, 'queue'), limit, cursor: stringOption(args, 'cursor') });
    printAnswer(context.stdout, flag(args, 'json'), page, listDead);
    return EXIT.ok;
  },
};

const count: Command = {
  name: 'dlq count',
  summary: 'Counts the dead jobs a filter matches (GET /jobs/dead/count).',
  details: 'What `sluice dlq retry --all` or `sluice dlq discard --all` with the same filter would act on now.',
  positionals: { min: 0, max: 0 },
  options: { ...filterOptions, ...connectionOptions },
  examples: ['sluice dlq count --type webhook'],
  async run(args, context) {
    const answer = await clientFor(args, context.env).get<{ count: number }>('/jobs/dead/count', { queue: stringOption(args, 'queue'), type: stringOption(args, 'type') });
    printAnswer(context.stdout, flag(args, 'json'), answer, ({ count: dead }) => `${dead} dead job${dead === 1 ? '' : 's'}\n`);
    return EXIT.ok;
  },
};

const retry: Command = {
  name: 'dlq retry',
  summary: 'Sends dead jobs back to their queues, attempts reset: the ones named, or --all.',
  arguments: '<id>...',
  positionals: { min: 0, max: Number.POSITIVE_INFINITY },
  options: {
    all: { type: 'boolean', description: 'every dead job (of --queue and --type when given) instead of named ones (POST /jobs/dead/retry)' },
    ...filterOptions,
    ...connectionOptions,
  },
  jsonDescription: 'print the API\'s answers as JSON: {retried} with --all, else an array of the jobs (or the API\'s error for an id it refused)',
  details: [
    'Named jobs go back one by one (POST /jobs/:id/retry); one the API refuses is reported and the others still go.',
    'Exits 1 if any was refused. With --all, every dead job matching --queue and --type goes back (POST /jobs/dead/retry).',
  ].join('\n'),
  examples: ['sluice dlq retry 01936f0e-7d2c-7a4e-9f1b-2b8e5f0c1a77 01936f0e-8a11-7c3e-8d2a-0e4f5b6c7d80', 'sluice dlq retry --all --queue default --type webhook'],
  async run(args, context) {
    const client = clientFor(args, context.env);
    const json = flag(args, 'json');
    if (flag(args, 'all')) {
      if (args.positionals.length > 0) throw new UsageError('give job ids or --all, not both');
      // Fields left undefined are left out of the JSON body: no filter on them.
      const answer = await client.post<{ retried: number }>('/jobs/dead/retry', { queue: stringOption(args, 'queue'), type: stringOption(args, 'type') });
      printAnswer(context.stdout, json, answer, ({ retried }) => `Sent back ${retried} dead job${retried === 1 ? '' : 's'}.\n`);
      return EXIT.ok;
    }
    if (args.positionals.length === 0) throw new UsageError('missing <id>... (or --all)');
    if (stringOption(args, 'queue') !== undefined || stringOption(args, 'type') !== undefined) throw new UsageError('--queue and --type filter --all; named jobs need neither');
    const answers: unknown[] = [];
    let refused = 0;
    for (const id of args.positionals) {
      try {
        const job = await client.post<Job>(`/jobs/${encodeURIComponent(id)}/retry`);
        answers.push(job);
        if (!json) context.stdout.write(`Sent job ${job.id} back to queue ${job.queue}, its attempts reset.\n`);
      } catch (error) {
        if (!(error instanceof ApiRefusal)) throw error;
        refused += 1;
        answers.push(error.body);
        context.stderr.write(`sluice dlq retry: ${id}: ${error.message} (${error.code}, HTTP ${error.status})\n`);
      }
    }
    if (json) writeJson(context.stdout, answers);
    return refused === 0 ? EXIT.ok : EXIT.failed;
  },
};

const discard: Command = {
  name: 'dlq discard',
  summary: 'Discards dead jobs: out of the dead-letter stream for good, recorded as discarded. The ones named, or --all.',
  arguments: '<id>...',
  positionals: { min: 0, max: Number.POSITIVE_INFINITY },
  options: {
    all: { type: 'boolean', description: 'every dead job (of --queue and --type when given) instead of named ones: counted first, discarded with --yes' },
    ...filterOptions,
    yes: { type: 'boolean', description: 'with --all: discard without stopping at the count' },
    ...connectionOptions,
  },
  details: [
    'One job: POST /jobs/:id/discard. Several: POST /jobs/actions/discard, each reported; exits 1 if any was left alone or not found.',
    '--all: GET /jobs/dead/count first, which is printed, and nothing changes (exit 1) unless --yes is given; then POST /jobs/dead/discard.',
  ].join('\n'),
  examples: ['sluice dlq discard 01936f0e-7d2c-7a4e-9f1b-2b8e5f0c1a77', 'sluice dlq discard --all --queue default --type webhook --yes'],
  async run(args, context) {
    const client = clientFor(args, context.env);
    const filter = { queue: stringOption(args, 'queue'), type: stringOption(args, 'type') };
    if (flag(args, 'all')) {
      if (args.positionals.length > 0) throw new UsageError('give job ids or --all, not both');
      return confirmedByCount(args, context, 'discard',
        async () => (await client.get<{ count: number }>('/jobs/dead/count', filter)).count,
        async () => {
          const answer = await client.post<{ discarded: number }>('/jobs/dead/discard', filter);
          printAnswer(context.stdout, flag(args, 'json'), answer, ({ discarded }) => `Discarded ${discarded} dead job${discarded === 1 ? '' : 's'}.\n`);
          return EXIT.ok;
        });
    }
    if (args.positionals.length === 0) throw new UsageError('missing <id>... (or --all)');
    assertNoFilter(args, ['queue', 'type', 'yes']);
    if (args.positionals.length > 1) return runOnIds(client, args, context, 'discard', 'Discarded');
    const job = await client.post<Job>(`/jobs/${encodeURIComponent(args.positionals[0] ?? '')}/discard`);
    printAnswer(context.stdout, flag(args, 'json'), job, (discarded) => `Job ${discarded.id} is ${discarded.status}.\n`);
    return EXIT.ok;
  },
};

export const dlqCommands: readonly Command[] = [list, count, retry, discard];
