import type { ApiClient } from '../api-client.js';
import { UsageError, flag, stringOption, type ParsedArgs } from '../command-line.js';
import { EXIT, type CommandContext } from '../command.js';
import { printAnswer, writeJson } from '../output.js';

/** What an action over many jobs tallies (POST /jobs/actions/:action). */
interface Tally {
  done: number;
  conflict: number;
  notFound: number;
}

interface ActionResults extends Tally {
  results: { id: string; outcome: 'done' | 'conflict' | 'not_found'; status?: string }[];
}

const plural = (count: number, noun: string) => `${count} ${noun}${count === 1 ? '' : 's'}`;
const tallyLine = ({ done, conflict, notFound }: Tally, verb: string) =>
  `${verb} ${plural(done, 'job')}; ${conflict} left alone for their state, ${notFound} not found.\n`;

/** The filter options of the --all forms of `jobs retry` and `jobs cancel`: those of `jobs list`. */
export const matchingOptions = {
  all: { type: 'boolean', description: 'every job matching the filter options instead of named ones: counted first, acted on with --yes' },
  status: { type: 'string', value: 'STATUS', description: 'with --all: only jobs in this state (one the action applies to)' },
  type: { type: 'string', value: 'TYPE', description: 'with --all: only jobs of this type' },
  queue: { type: 'string', value: 'QUEUE', description: 'with --all: only jobs of this queue' },
  group: { type: 'string', value: 'GROUP', description: 'with --all: only jobs of this fair group' },
  payload: { type: 'string', value: 'JSON', description: 'with --all: only jobs whose payload contains this JSON object' },
  'created-after': { type: 'string', value: 'ISO', description: 'with --all: only jobs created at or after this time' },
  'created-before': { type: 'string', value: 'ISO', description: 'with --all: only jobs created before this time' },
  yes: { type: 'boolean', description: 'with --all: act without stopping at the count' },
} as const;

const FILTERS = ['status', 'type', 'queue', 'group', 'payload', 'created-after', 'created-before'] as const;

/** The JSON body of a filter from the options; options not given stay out of it. */
export function filterOf(args: ParsedArgs, names: readonly string[] = FILTERS): Record<string, string | undefined> {
  return Object.fromEntries(names.map((name) => [name.replace(/-(\w)/g, (_, letter: string) => letter.toUpperCase()), stringOption(args, name)]));
}

/** Refuses filter options next to named jobs: they only narrow --all. */
export function assertNoFilter(args: ParsedArgs, names: readonly string[] = FILTERS): void {
  const given = names.filter((name) => stringOption(args, name) !== undefined || (name === 'yes' && flag(args, 'yes')));
  if (given.length > 0) throw new UsageError(`${given.map((name) => `--${name}`).join(', ')} narrow --all; named jobs need none`);
}

/**
 * Counts what `countFirst` says the filter holds; without --yes, prints the count and how to go on,
 * and exits 1, having changed nothing; with it, runs `act`.
 */
export async function confirmedByCount(
  args: ParsedArgs,
  context: CommandContext,
  what: string,
  count: () => Promise<number>,
  act: () => Promise<number>,
): Promise<number> {
  const matched = await count();
  if (!flag(args, 'yes')) {
    const answer = { matched, done: 0 };
    printAnswer(context.stdout, flag(args, 'json'), answer, () => `${plural(matched, 'job')} match. Nothing changed: run it again with --yes to ${what} them.\n`);
    return matched === 0 ? EXIT.ok : EXIT.failed;
  }
  return act();
}

/** Runs `action` over every job matching the filter, a bounded call at a time, until the API says the run is over. */
export async function runMatching(client: ApiClient, args: ParsedArgs, context: CommandContext, action: 'retry' | 'cancel', verb: string): Promise<number> {
  const filter = filterOf(args);
  return confirmedByCount(args, context, action,
    async () => (await client.post<{ count: number }>(`/jobs/actions/${action}/matching/count`, filter)).count,
    async () => {
      const total: Tally = { done: 0, conflict: 0, notFound: 0 };
      let cursor: string | undefined;
      do {
        const run = await client.post<Tally & { nextCursor: string | null }>(`/jobs/actions/${action}/matching`, { ...filter, cursor });
        total.done += run.done;
        total.conflict += run.conflict;
        total.notFound += run.notFound;
        cursor = run.nextCursor ?? undefined;
      } while (cursor !== undefined);
      printAnswer(context.stdout, flag(args, 'json'), total, (tally) => tallyLine(tally, verb));
      return EXIT.ok;
    });
}

/** Runs `action` on the named jobs in one call (POST /jobs/actions/:action); exits 1 when any was refused or not found. */
export async function runOnIds(client: ApiClient, args: ParsedArgs, context: CommandContext, action: 'retry' | 'cancel' | 'discard', verb: string): Promise<number> {
  const answer = await client.post<ActionResults>(`/jobs/actions/${action}`, { ids: args.positionals });
  if (flag(args, 'json')) writeJson(context.stdout, answer);
  else {
    for (const result of answer.results) {
      if (result.outcome === 'conflict') context.stderr.write(`sluice: ${result.id}: left alone, it is ${result.status ?? 'in another state'}\n`);
      if (result.outcome === 'not_found') context.stderr.write(`sluice: ${result.id}: no such job\n`);
    }
    context.stdout.write(tallyLine(answer, verb));
  }
  return answer.done === answer.results.length ? EXIT.ok : EXIT.failed;
}
