import { createRequire } from 'node:module';
import { pino, type Logger } from 'pino';
import type { LogConfig } from './config.js';
import { InvalidConfigError } from './errors.js';

/** pino's transport for readable lines: a development tool, so an optional install beside Sluice. */
const PRETTY_TRANSPORT = 'pino-pretty';

/** The process's logger: JSON lines, or readable ones when LOG_PRETTY is set. */
export function createLogger(config: LogConfig, name: string): Logger {
  if (config.pretty) assertInstalled(PRETTY_TRANSPORT);
  return pino({
    name,
    level: config.level,
    ...(config.pretty && { transport: { target: PRETTY_TRANSPORT, options: { colorize: true, ignore: 'pid,hostname' } } }),
  });
}

function assertInstalled(packageName: string): void {
  try {
    createRequire(import.meta.url).resolve(packageName);
  } catch {
    throw new InvalidConfigError([`LOG_PRETTY needs the ${packageName} package: install it (npm install ${packageName}) or unset LOG_PRETTY`]);
  }
}
