import { flag } from '../command-line.js';
import { EXIT, type Command } from '../command.js';
import { messageOf } from '../message-of.js';

export const apiCommand: Command = {
  name: 'api',
  summary: 'Runs the HTTP API, and the dashboard when there is one to serve (DASHBOARD_DIR).',
  details: [
    'Configured by the environment like the stock API: PORT, HOST, REDIS_URL, DATABASE_URL, QUEUES, API_KEYS and the rest',
    '(see the README\'s Configuration). Stops gracefully on SIGTERM or Ctrl-C.',
  ].join('\n'),
  positionals: { min: 0, max: 0 },
  options: {},
  jsonDescription: 'log JSON lines even when LOG_PRETTY is set',
  examples: ['PORT=3000 API_KEYS=$(openssl rand -hex 24) sluice api'],
  async run(args, context) {
    const { runApiServer } = await import('@sluice/api');
    try {
      await runApiServer(flag(args, 'json') ? { ...context.env, LOG_PRETTY: '0' } : context.env);
    } catch (error) {
      throw new Error(`cannot start: ${messageOf(error)}`, { cause: error });
    }
    // The server runs on; its signal handlers end the process.
    return EXIT.ok;
  },
};
