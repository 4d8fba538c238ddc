import { clientFor, connectionOptions } from '../api-client.js';
import type { QueueSummary } from '../api-views.js';
import { flag } from '../command-line.js';
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
        ['QUEUE', 'STATE', 'DEPTH', ...STATES.map((state) => state.toUpperCase())],
        queues.map((queue) => [queue.name, queue.paused ? 'paused' : 'running', queue.depth, ...STATES.map((state) => queue.counts[state] ?? 0)]),
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

export const queueCommands: readonly Command[] = [list, pauseCommand('pause'), pauseCommand('resume')];
