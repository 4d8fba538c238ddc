import { createRequire } from 'node:module';
import { apiCommand } from './commands/api.js';
import { dlqCommands } from './commands/dlq.js';
import { jobCommands } from './commands/jobs.js';
import { migrateCommand } from './commands/migrate.js';
import { queueCommands } from './commands/queues.js';
import { scheduleCommands } from './commands/schedules.js';
import { statsCommand } from './commands/stats.js';
import { typesCommand } from './commands/types.js';
import { workerCommand } from './commands/worker.js';
import { EXIT, processContext, runCommand, type Command, type CommandContext } from './command.js';
import { loadTestCommand } from './load-test.js';

const COMMANDS: readonly Command[] = [migrateCommand, apiCommand, workerCommand, ...jobCommands, ...dlqCommands, ...queueCommands, ...scheduleCommands, statsCommand, typesCommand, loadTestCommand];

/** Commands that are a word and a subcommand, e.g. `jobs add`. */
const GROUPS: Readonly<Record<string, string>> = {
  jobs: 'Submit jobs and follow them.',
  dlq: 'Read and retry the dead-letter streams.',
  queues: 'List, pause and resume queues.',
  schedules: 'Add, read, pause, resume, trigger and remove cron and repeatable schedules.',
};

const HELP_WORDS = new Set(['--help', '-h', 'help']);
const VERSION_WORDS = new Set(['--version', '-V']);

/** This package's version, as npm installed it. */
function version(): string {
  return (createRequire(import.meta.url)('../package.json') as { version: string }).version;
}

function commandList(commands: readonly Command[]): string {
  const label = (command: Command) => `${command.name}${command.arguments ? ` ${command.arguments}` : ''}`;
  const width = Math.max(...commands.map((command) => label(command).length));
  return commands.map((command) => `  ${label(command).padEnd(width)}  ${command.summary}`).join('\n');
}

const TOP_HELP = `Usage: sluice <command> [options]

Sluice, a background job queue on Redis Streams with its history in PostgreSQL.

Commands:
${commandList(COMMANDS)}

Every command takes --help, and --json for machine-readable output; sluice --version says which
version this is. Commands that talk to the API
find it at --url, else SLUICE_URL, else http://127.0.0.1:$PORT (PORT defaulting to 3000), and send
the key of --api-key, else SLUICE_API_KEY. Exit codes: 0 done, 1 the API refused or failed, 2 the
command line is wrong.

Example:
  sluice jobs add sleep --payload '{"ms": 100}' && sluice stats
`;

function groupHelp(group: string): string {
  return `Usage: sluice ${group} <command> [options]\n\n${GROUPS[group]}\n\nCommands:\n${commandList(COMMANDS.filter((command) => command.name.startsWith(`${group} `)))}\n\nRun "sluice ${group} <command> --help" for its options.\n`;
}

/** Answers a request for help (exit 0), or a missing or unknown command (exit 2, the help on stderr). */
function helpOrUsage(word: string | undefined, help: string, unknown: string, context: CommandContext): number {
  if (word !== undefined && HELP_WORDS.has(word)) {
    context.stdout.write(help);
    return EXIT.ok;
  }
  context.stderr.write(word === undefined ? help : `${unknown}\n`);
  return EXIT.usage;
}

/** Runs `sluice` with `argv` (the arguments after the program name) and returns its exit code. */
export async function runCli(argv: readonly string[], context: CommandContext = processContext()): Promise<number> {
  // `sluice help jobs` is `sluice jobs --help`, and `sluice help jobs add` is `sluice jobs add --help`.
  if (argv[0] === 'help' && argv.length > 1) return runCli([...argv.slice(1), '--help'], context);
  if (argv.length === 1 && VERSION_WORDS.has(argv[0] ?? '')) {
    context.stdout.write(`sluice ${version()}\n`);
    return EXIT.ok;
  }
  const [first, second] = argv;
  const single = COMMANDS.find((command) => command.name === first);
  if (single) return runCommand(single, argv.slice(1), context);
  if (first !== undefined && Object.hasOwn(GROUPS, first)) {
    const sub = COMMANDS.find((command) => command.name === `${first} ${second}`);
    if (sub) return runCommand(sub, argv.slice(2), context);
    return helpOrUsage(second, groupHelp(first), `sluice ${first}: unknown command "${second}" (see sluice ${first} --help)`, context);
  }
  return helpOrUsage(first, TOP_HELP, `sluice: unknown command "${first}" (see sluice --help)`, context);
}
