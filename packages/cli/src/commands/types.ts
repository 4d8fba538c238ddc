import { clientFor, connectionOptions } from '../api-client.js';
import type { JobTypeView } from '../api-views.js';
import { flag } from '../command-line.js';
import { EXIT, type Command } from '../command.js';
import { printAnswer, table } from '../output.js';

/** What a type's row says of where it comes from: live workers, a declaration, both, or a conflict. */
function sourceOf(type: JobTypeView): string {
  const from = type.workers > 0 ? `${type.workers} ${type.workers === 1 ? 'worker' : 'workers'}` : 'no worker';
  const declared = type.declared ? ', declared' : '';
  return type.conflicts.length > 0 ? `${from}${declared}, CONFLICT (${type.conflicts.length} definitions)` : `${from}${declared}`;
}

export const typesCommand: Command = {
  name: 'types',
  summary: 'Lists the job types the API accepts: those live workers publish, and any declared (GET /job-types).',
  details: 'A type no live worker serves and none declares is refused by the API. Use --json for the payload schemas.',
  positionals: { min: 0, max: 0 },
  options: connectionOptions,
  jsonDescription: 'print the API\'s answer, payload schemas and conflicting definitions included',
  examples: ['sluice types', 'sluice types --json'],
  async run(args, context) {
    const answer = await clientFor(args, context.env).get<{ types: JobTypeView[] }>('/job-types');
    printAnswer(context.stdout, flag(args, 'json'), answer, ({ types }) =>
      table(
        ['TYPE', 'QUEUES', 'SERVED BY', 'ATTEMPTS', 'TIMEOUT MS', 'DESCRIPTION'],
        types.map((type) => [type.name, type.queues.join(',') || '-', sourceOf(type), type.maxAttempts, type.timeoutMs, type.description ?? '']),
      ));
    return EXIT.ok;
  },
};
