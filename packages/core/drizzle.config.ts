import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'postgresql',
  schema: './packages/core/src/history/schema.ts',
  out: './packages/core/drizzle',
});
