import { resolve } from 'node:path';
import { build } from 'vite';

/** The dashboard's Vite configuration; the build lands in apps/dashboard/dist, where the API serves it from. */
const CONFIG = resolve(import.meta.dirname, '../apps/dashboard/vite.config.ts');

/**
 * Builds the dashboard (about a second), so `npm test` and `npm start` never serve a missing or
 * stale one. Throws with Vite's own message when the build fails.
 */
export async function buildDashboard(): Promise<void> {
  await build({ configFile: CONFIG, logLevel: 'warn' });
}
