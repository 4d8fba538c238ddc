import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

/** The export condition under which the workspace packages resolve to their TypeScript sources. */
const SOURCE_CONDITION = 'sluice-source';

export default defineConfig({
  // Tests run in Vite's server environment: its conditions, not the browser's, pick a package's entry.
  // Not "module", which Node does not know: a package's "module" build (OpenTelemetry's) may import paths Node cannot load.
  ssr: { resolve: { conditions: [SOURCE_CONDITION, ...defaultServerConditions.filter((condition) => condition !== 'module')] } },
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Each project extends the settings above; its name prefixes its tests in every report.
    projects: [
      {
        extends: true,
        test: {
          name: 'single-node',
          include: ['packages/*/test/**/*.test.ts', 'apps/*/test/**/*.test.ts', 'test/**/*.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
        },
      },
      {
        // The core library's and the API's tests again, on a Redis Cluster of three masters and three replicas started for the run.
        extends: true,
        test: {
          name: 'cluster',
          include: ['packages/core/test/**/*.test.ts', 'apps/api/test/**/*.test.ts'],
          globalSetup: ['test/support/global-setup.ts', 'test/support/cluster-setup.ts'],
        },
      },
    ],
  },
});
