import type { LogConfig } from './config.js';
import { pino, type Logger } from 'pino';

/** The process's logger: JSON lines, or readable ones when LOG_PRETTY is set. */
export function createLogger(config: LogConfig, name: string): Logger {
  return pino({
    name,
    level: config.level,
    ...(config.pretty && { transport: { target: 'pino-pretty', options: { colorize: true, ignore: 'pid,hostname' } } }),
  });
}
