import { parseCommandLine, UsageError, type OptionSpec, type OptionSpecs, type ParsedArgs } from './command-line.js';
import { ApiRefusal, ApiUnreachable } from './api-client.js';
import { messageOf } from './message-of.js';

/** What a command reads and writes besides its arguments, so that a test or an embedding program can supply its own. */
export interface CommandContext {
  env: NodeJS.ProcessEnv;
  cwd: string;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

/** The context of the running process. */
export function processContext(): CommandContext {
  return { env: process.env, cwd: process.cwd(), stdout: process.stdout, stderr: process.stderr };
}

/** Exit codes: 0 done, 1 the API (or a service) refused or failed, 2 the command line is wrong. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** One command of `sluice`, e.g. `jobs add`. */
export interface Command {
  /** The words after `sluice`: `stats`, `jobs add`. */
  name: string;
  /** One line, for the command lists. */
  summary: string;
  /** Positionals as the usage line shows them: `<type>`, `<id>...`. */
  arguments?: string;
  /** How many positionals it takes. */
  positionals: { min: number; max: number };
  /** What --json prints, when that is not the API's answer. */
  jsonDescription?: string;
  options: OptionSpecs;
  /** More about what it does, shown under the usage line. */
  details?: string;
  examples: readonly string[];
  run(args: ParsedArgs, context: CommandContext): Promise<number>;
}

const HELP_OPTION: OptionSpec = { type: 'boolean', short: 'h', description: 'show this help' };

/** The options a command takes: its own, --json, and --help. */
function optionsOf(command: Command): OptionSpecs {
  return {
    ...command.options,
    json: command.options.json ?? { type: 'boolean', description: command.jsonDescription ?? 'print the API\'s answer as JSON' },
    help: HELP_OPTION,
  };
}

function optionLabel(name: string, spec: OptionSpec): string {
  const long = `--${name}${spec.type === 'string' ? ` ${spec.value ?? 'VALUE'}` : spec.optionalValue ? ` [${spec.optionalValue}]` : ''}`;
  return spec.short ? `-${spec.short}, ${long}` : long;
}

/** The help of a command: usage, what it does, options and examples. */
export function helpOf(command: Command): string {
  const options = Object.entries(optionsOf(command));
  const width = Math.max(...options.map(([name, spec]) => optionLabel(name, spec).length));
  return [
    `Usage: sluice ${command.name}${command.arguments ? ` ${command.arguments}` : ''} [options]`,
    '',
    command.summary,
    ...(command.details ? ['', command.details] : []),
    '',
    'Options:',
    ...options.map(([name, spec]) => `  ${optionLabel(name, spec).padEnd(width)}  ${spec.description}`),
    '',
    command.examples.length > 1 ? 'Examples:' : 'Example:',
    ...command.examples.map((example) => `  ${example}`),
    '',
  ].join('\n');
}

/** A message as one line: what a person reads first, and what scripts grep. */
function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, ' ');
}

/** Prints an error the way every command does and returns its exit code; never a stack trace. */
function reportError(command: Command, error: unknown, json: boolean, context: CommandContext): number {
  const prefix = `sluice ${command.name}`;
  if (error instanceof UsageError) {
    context.stderr.write(`${prefix}: ${oneLine(error.message)} (see sluice ${command.name} --help)\n`);
    return EXIT.usage;
  }
  if (error instanceof ApiRefusal) {
    if (json) context.stdout.write(`${JSON.stringify(error.body, null, 2)}\n`);
    context.stderr.write(`${prefix}: ${oneLine(error.message)} (${error.code}, HTTP ${error.status})\n`);
    return EXIT.failed;
  }
  if (error instanceof ApiUnreachable) {
    context.stderr.write(`${prefix}: ${error.message}\n`);
    return EXIT.failed;
  }
  context.stderr.write(`${prefix}: ${messageOf(error)}\n`);
  return EXIT.failed;
}

/** Parses `argv` for `command`, answers --help, checks the positionals, runs it, and turns its errors into exit codes. */
export async function runCommand(command: Command, argv: readonly string[], context: CommandContext): Promise<number> {
  let args: ParsedArgs | undefined;
  try {
    args = parseCommandLine(argv, optionsOf(command));
    if (args.values.help) {
      context.stdout.write(helpOf(command));
      return EXIT.ok;
    }
    const count = args.positionals.length;
    const { min, max } = command.positionals;
    if (count < min) throw new UsageError(`missing ${command.arguments ?? 'argument'}`);
    if (count > max) throw new UsageError(max === 0 ? `takes no arguments, got "${args.positionals[0]}"` : `unexpected argument "${args.positionals[max]}"`);
    return await command.run(args, context);
  } catch (error) {
    return reportError(command, error, args?.values.json === true, context);
  }
}
