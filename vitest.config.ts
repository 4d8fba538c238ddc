import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

/** The export condition under which the workspace packages resolve to their TypeScript sources. */
const SOURCE_CONDITION = 'sluice-source';

export default defineConfig({
  // Tests run in Vite's server environment: its conditions, not the browser's, pick a package's entry.
  ssr: { resolve: { conditions: [SOURCE_CONDITION, ...defaultServerConditions] } },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'apps/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    globalSetup: ['test/support/global-setup.ts'],
  },
});
