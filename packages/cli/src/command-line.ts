import { parseArgs } from 'node:util';

/** A command line that cannot be run as written: the command exits 2 with this one-line message. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** One option of a command: how it parses and what its help says. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  /** What a string option's value is, in help and errors: `N`, `JSON`, `QUEUE`. */
  value?: string;
  /** A boolean option that may also take the argument right after it as its value (`--json` or `--json FILE`). */
  optionalValue?: string;
  short?: string;
  description: string;
}

export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

/** What a command line says: option values by name (a string, or true for a flag) and the positionals in order. */
export interface ParsedArgs {
  values: Readonly<Record<string, string | true | undefined>>;
  positionals: readonly string[];
}

/**
 * Parses `argv` against `options`. parseArgs runs in its lenient mode so that every mistake can be
 * reported in one line of our own words (its strict errors are paragraphs); the checks it would have
 * made are made here: unknown options, missing values, values given to flags, options given twice.
 */
export function parseCommandLine(argv: readonly string[], options: OptionSpecs): ParsedArgs {
  const { tokens } = parseArgs({
    args: [...argv],
    options: Object.fromEntries(Object.entries(options).map(([name, spec]) => [name, { type: spec.type, ...(spec.short && { short: spec.short }) }])),
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const values: Record<string, string | true> = {};
  const positionals: string[] = [];
  // An option that takes an optional value, and where it stood: the positional right after it is its value.
  let open: { name: string; index: number } | undefined;
  for (const token of tokens) {
    if (token.kind === 'option-terminator') continue;
    if (token.kind === 'positional') {
      if (open && token.index === open.index + 1) values[open.name] = token.value;
      else positionals.push(token.value);
      open = undefined;
      continue;
    }
    open = undefined;
    const spec = options[token.name];
    if (!spec) throw new UsageError(`unknown option ${token.rawName}`);
    const display = `--${token.name}`;
    if (token.name in values) throw new UsageError(`${display} is given twice`);
    if (spec.type === 'boolean') {
      if (token.inlineValue && !spec.optionalValue) throw new UsageError(`${display} takes no value`);
      values[token.name] = token.inlineValue && token.value !== undefined ? token.value : true;
      if (spec.optionalValue && !token.inlineValue) open = { name: token.name, index: token.index };
      continue;
    }
    // Lenient parseArgs takes the next argument as the value even when it is another option.
    if (token.value === undefined || (!token.inlineValue && token.value.startsWith('--'))) {
      throw new UsageError(`${display} needs a value (${spec.value ?? 'text'})`);
    }
    values[token.name] = token.value;
  }
  return { values, positionals };
}

/** The string value of option `name`, or undefined when it was not given. */
export function stringOption(args: ParsedArgs, name: string): string | undefined {
  const value = args.values[name];
  return typeof value === 'string' ? value : undefined;
}

/** Whether flag `name` was given. */
export function flag(args: ParsedArgs, name: string): boolean {
  return args.values[name] !== undefined;
}
