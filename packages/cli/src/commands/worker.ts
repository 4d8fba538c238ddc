import { flag } from '../command-line.js';
import { EXIT, type Command } from '../command.js';
import { messageOf } from '../message-of.js';
import { loadWorkerModule } from '../worker-module.js';

export const workerCommand: Command = {
  name: 'worker',
  summary: 'Runs a worker for the job types your module declares.',
  arguments: '<module>',
  details: [
    'The module (a path from the current directory) exports `types`, an array of defineJobType(...) definitions',
    'from @sluice/core, and `handlers`, a handler function per type name; as named exports or as a default',
    'export { types, handlers }. The worker publishes its types, so the API accepts jobs of them. Configured by',
    'the environment like the stock worker: REDIS_URL, DATABASE_URL, QUEUES, CONCURRENCY and the rest (see the',
    'README\'s Configuration). Stops gracefully on SIGTERM or Ctrl-C.',
  ].join('\n'),
  positionals: { min: 1, max: 1 },
  options: {},
  jsonDescription: 'log JSON lines even when LOG_PRETTY is set',
  examples: ['CONCURRENCY=20 sluice worker ./jobs.js'],
  async run(args, context) {
    const { types, handlers } = await loadWorkerModule(args.positionals[0] ?? '', context.cwd);
    // runWorkerProcess reads its configuration from the process's environment.
    if (flag(args, 'json')) context.env.LOG_PRETTY = '0';
    const { runWorkerProcess } = await import('@sluice/worker');
    try {
      await runWorkerProcess({ name: 'worker', types, handlers });
    } catch (error) {
      throw new Error(`cannot start: ${messageOf(error)}`, { cause: error });
    }
    // The worker runs on; its signal handlers end the process.
    return EXIT.ok;
  },
};
