import { setTimeout as sleep } from 'node:timers/promises';
import { ApiRefusal, ApiUnreachable, clientFor, connectionOptions, type ApiClient } from '../api-client.js';
import type { Stats } from '../api-views.js';
import { UsageError, flag, stringOption } from '../command-line.js';
import { EXIT, type Command, type CommandContext } from '../command.js';
import { integerValue } from '../option-values.js';
import { printAnswer, table } from '../output.js';

const STATES = ['pending', 'scheduled', 'processing', 'retrying', 'completed', 'dead', 'cancelled', 'discarded'] as const;
/** Redrawing faster than this would cost the API more than a person can read. */
const MIN_INTERVAL_MS = 100;
/** Moves the cursor home and clears the screen. */
const CLEAR_SCREEN = '\u001b[H\u001b[2J';

/**
 * Each queue's counts, its state, its consumers and its rate, one row per queue; then the partitions
 * of queues that have several; then the job types no live worker serves.
 */
export function statsTable(stats: Stats): string {
  let rows = table(
    ['QUEUE', ...STATES.map((state) => state.toUpperCase()), 'STATE', 'CONSUMERS', 'DONE/S'],
    Object.entries(stats.queues).map(([name, queue]) => [
      name, ...STATES.map((state) => queue[state]), queue.paused ? 'paused' : 'running', queue.consumers.length, queue.throughput.completedPerSecond,
    ]),
  );
  const partitioned = Object.entries(stats.queues).flatMap(([name, queue]) =>
    (queue.partitions ?? []).length > 1
      ? (queue.partitions ?? []).map((partition) => [
        name, `${partition.index}/${partition.of}`, ...STATES.map((state) => partition[state]), partition.paused ? 'paused' : 'running', partition.consumers,
        partition.completedLastMinute,
      ])
      : [],
  );
  if (partitioned.length > 0) {
    rows += `
Partitions:
${table(['QUEUE', 'PARTITION', ...STATES.map((state) => state.toUpperCase()), 'STATE', 'CONSUMERS', 'DONE/MIN'], partitioned)}`;
  }
  const waiting = Object.entries(stats.queues).flatMap(([name, queue]) =>
    Object.entries(queue.waitingWithoutWorker ?? {}).map(([type, count]) => `  ${name}: ${type} (${count} waiting)`),
  );
  if (waiting.length === 0) return rows;
  return `${rows}\nNo live worker serves (dead-lettered as no-handler after NO_HANDLER_TIMEOUT_MS):\n${waiting.join('\n')}\n`;
}

/** Redraws the table every `intervalMs` until Ctrl-C (SIGINT) or SIGTERM; a failed read is shown in its place, and the next one tried. */
async function watch(client: ApiClient, intervalMs: number, json: boolean, context: CommandContext): Promise<number> {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const redraw = 'isTTY' in context.stdout && context.stdout.isTTY === true;
  try {
    while (!stop.signal.aborted) {
      let text: string;
      try {
        const stats = await client.get<Stats>('/stats');
        text = json ? `${JSON.stringify({ at: new Date().toISOString(), ...stats })}\n` : statsTable(stats);
      } catch (error) {
        if (!(error instanceof ApiRefusal || error instanceof ApiUnreachable)) throw error;
        text = json ? `${JSON.stringify({ at: new Date().toISOString(), error: { message: error.message } })}\n` : `${error.message}\n`;
      }
      if (json) context.stdout.write(text);
      else context.stdout.write(`${redraw ? CLEAR_SCREEN : '\n'}${client.connection.url}  ${new Date().toTimeString().slice(0, 8)}  (Ctrl-C to stop)\n\n${text}`);
      await sleep(intervalMs, undefined, { signal: stop.signal }).catch(() => undefined);
    }
    return EXIT.ok;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

export const statsCommand: Command = {
  name: 'stats',
  summary: 'Shows each queue\'s jobs per state, consumers and throughput (GET /stats).',
  positionals: { min: 0, max: 0 },
  options: {
    watch: { type: 'boolean', description: 'redraw the table until Ctrl-C' },
    'interval-ms': { type: 'string', value: 'N', description: `milliseconds between redraws with --watch (default 1000, at least ${MIN_INTERVAL_MS})` },
    ...connectionOptions,
  },
  jsonDescription: 'print the API\'s answer as JSON; with --watch, one line of JSON per read, with the time it was read',
  examples: ['sluice stats', 'sluice stats --watch --interval-ms 2000'],
  async run(args, context) {
    const interval = integerValue('interval-ms', stringOption(args, 'interval-ms'), MIN_INTERVAL_MS);
    const client = clientFor(args, context.env);
    const json = flag(args, 'json');
    if (flag(args, 'watch')) return watch(client, interval ?? 1000, json, context);
    if (interval !== undefined) throw new UsageError('--interval-ms goes with --watch');
    printAnswer(context.stdout, json, await client.get<Stats>('/stats'), statsTable);
    return EXIT.ok;
  },
};
