import { flag } from '../command-line.js';
import { EXIT, type Command } from '../command.js';
import { printAnswer } from '../output.js';

export const migrateCommand: Command = {
  name: 'migrate',
  summary: 'Applies the PostgreSQL migrations to DATABASE_URL, in the schema DATABASE_SCHEMA.',
  details: 'Safe to run again: applied migrations are skipped. Run it before the first start and after each upgrade.',
  positionals: { min: 0, max: 0 },
  options: {},
  jsonDescription: 'print {"schema", "upToDate"} as JSON',
  examples: ['DATABASE_URL=postgres://postgres@127.0.0.1:5432/sluice sluice migrate'],
  async run(args, context) {
    // Loaded here, not at the top: commands that only talk HTTP start without PostgreSQL's driver.
    const { applyMigrations, loadConfig } = await import('@sluice/core');
    const config = loadConfig(context.env);
    await applyMigrations(config.postgres);
    printAnswer(context.stdout, flag(args, 'json'), { schema: config.postgres.schema, upToDate: true }, ({ schema }) => `Schema "${schema}" is up to date.\n`);
    return EXIT.ok;
  },
};
