import { applyMigrations, loadConfig, messageOf } from '@sluice/core';

/** `npm run migrate`: applies the committed migrations to DATABASE_URL / DATABASE_SCHEMA. */
try {
  const config = loadConfig(process.env);
  await applyMigrations(config.postgres);
  console.log(`migrate: schema "${config.postgres.schema}" is up to date`);
} catch (error) {
  console.error(`migrate: ${messageOf(error)}`);
  process.exit(1);
}
