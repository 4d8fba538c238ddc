import { clientFor, connectionOptions } from '../api-client.js';
import type { FlowLimitsView, QueueSummary } from '../api-views.js';
import { flag, stringOption, UsageError } from '../command-line.js';
import { integerValue } from '../option-values.js';
import { EXIT, type Command } from '../command.js';
import { printAnswer, table } from '../output.js';

const STATES = ['scheduled', 'processing', 'retrying', 'completed', 'dead', 'cancelled', 'discarded'] as const;

const list: Command = {
  name: 'queues list',
  summary: 'Lists the queues the API serves, with their depth and counts (GET /queues).',
  positionals: { min: 0, max: 0 },
  options: connectionOptions,
  examples: ['sluice queues list'],
  async run(args, context) {
    const answer = await clientFor(args, context.env).get<{ queues: QueueSummary[] }>('/queues');
    printAnswer(context.stdout, flag(args, 'json'), answer, ({ queues }) =>
      table(
        ['QUEUE', 'STATE', 'DEPTH', ...STATES.map((state) => state.toUpperCase()), 'LIMITS'],
        queues.map((queue) => [queue.name, queue.paused ? 'paused' : 'running', queue.depth, ...STATES.map((state) => queue.counts[state] ?? 0), limitsText(queue.limits ?? {})]),
      ));
    return EXIT.ok;
  },
};

function pauseCommand(action: 'pause' | 'resume'): Command {
  return {
    name: `queues ${action}`,
    summary: action === 'pause' ? 'Stops workers taking new jobs from a queue (POST /queues/:name/pause).' : 'Lets workers take jobs from a paused queue again (POST /queues/:name/resume).',
    ...(action === 'pause' && { details: 'Jobs already running finish, and the queue still accepts submissions. The pause is kept in Redis: it outlives worker restarts.' }),
    arguments: '<queue>',
    positionals: { min: 1, max: 1 },
    options: connectionOptions,
    examples: [`sluice queues ${action} default`],
    async run(args, context) {
      const answer = await clientFor(args, context.env).post<{ name: string; paused: boolean }>(`/queues/${encodeURIComponent(args.positionals[0] ?? '')}/${action}`);
      printAnswer(context.stdout, flag(args, 'json'), answer, ({ name, paused }) =>
        paused ? `Queue ${name} is paused: workers take no new jobs from it.\n` : `Queue ${name} is running: workers take its jobs.\n`);
      return EXIT.ok;
    },
  };
}

const DURATION = /^(\d+)(ms|s|m|h)?$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `--rate MAX/WINDOW`, the window in ms or with a unit: 100/1s, 5/250ms, 1000/1m. */
function rateValue(text: string): { max: number; perMs: number } {
  const [max = '', window = ''] = text.split('/');
  const duration = DURATION.exec(window);
  if (!/^\d+$/.test(max) || !duration) throw new UsageError(`--rate takes MAX/WINDOW such as 100/1s, 5/250ms or 1000/1m, got "${text}"`);
  return { max: Number(max), perMs: Number(duration[1]) * (UNIT_MS[duration[2] ?? 'ms'] ?? 1) };
}

/** Limits in a few words: "100 per 1000 ms, 5 at once, 2 per group", or "none". */
export function limitsText({ rate, concurrency, groupConcurrency }: FlowLimitsView): string {
  const parts = [
    rate && `${rate.max} per ${rate.perMs} ms`, concurrency !== undefined && `${concurrency} at once`, groupConcurrency !== undefined && `${groupConcurrency} per group`,
  ].filter(Boolean);
  return parts.length > 0 ? parts.join(', ') : 'none';
}

const limits: Command = {
  name: 'queues limits',
  summary: 'Shows or sets a queue\'s rate limit, concurrency cap and cap per fair group (GET /queues/:name, PUT /queues/:name/limits).',
  details:
    'With neither --rate, --concurrency, --group-concurrency nor --clear it shows them. Setting replaces them all: what is not given is lifted. Workers take them up within a second or so, each partition of a partitioned queue its share of the rate and the concurrency (a group\'s jobs share one partition, so its cap is not divided).',
  arguments: '<queue>',
  positionals: { min: 1, max: 1 },
  options: {
    rate: { type: 'string', value: 'MAX/WINDOW', description: 'at most MAX jobs start in any WINDOW (100/1s, 5/250ms, 1000/1m)' },
    concurrency: { type: 'string', value: 'N', description: 'at most N jobs run at once, across every worker' },
    'group-concurrency': { type: 'string', value: 'N', description: 'at most N jobs of one fair group run at once, across every worker' },
    clear: { type: 'boolean', description: 'lifts them all' },
    ...connectionOptions,
  },
  examples: [
    'sluice queues limits default', 'sluice queues limits default --rate 100/1s --concurrency 20', 'sluice queues limits default --group-concurrency 2', 'sluice queues limits default --clear',
  ],
  async run(args, context) {
    const client = clientFor(args, context.env);
    const path = `/queues/${encodeURIComponent(args.positionals[0] ?? '')}`;
    const rate = stringOption(args, 'rate');
    const concurrency = integerValue('concurrency', stringOption(args, 'concurrency'), 1);
    const groupConcurrency = integerValue('group-concurrency', stringOption(args, 'group-concurrency'), 1);
    const setting = rate !== undefined || concurrency !== undefined || groupConcurrency !== undefined;
    if (flag(args, 'clear') && setting) throw new UsageError('--clear lifts every limit: give it alone');
    const answer = !setting && !flag(args, 'clear')
      ? { name: args.positionals[0] ?? '', limits: (await client.get<{ limits: FlowLimitsView }>(path)).limits }
      : await client.put<{ name: string; limits: FlowLimitsView }>(`${path}/limits`, {
        ...(rate !== undefined && { rate: rateValue(rate) }), ...(concurrency !== undefined && { concurrency }), ...(groupConcurrency !== undefined && { groupConcurrency }),
      });
    printAnswer(context.stdout, flag(args, 'json'), answer, ({ name, limits: set }) => `Queue ${name}: ${limitsText(set)}.\n`);
    return EXIT.ok;
  },
};

export const queueCommands: readonly Command[] = [list, pauseCommand('pause'), pauseCommand('resume'), limits];
