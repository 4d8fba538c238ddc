import { describe, expect, it } from 'vitest';
import * as api from '@sluice/api';
import * as core from '@sluice/core';
import * as jobs from '@sluice/jobs';
import * as jobHandlers from '@sluice/jobs/handlers';
import * as apiSource from '../../apps/api/src/index';
import * as coreSource from '../../packages/core/src/index';
import * as jobHandlersSource from '../../packages/jobs/src/handlers/index';
import * as jobsSource from '../../packages/jobs/src/index';

/**
 * Inside this repository the workspace packages resolve to their TypeScript sources (the
 * `sluice-source` export condition), so tests never run a stale or missing build: importing a
 * package by name gives the very module its source path gives, not a copy compiled to dist/.
 */
describe('workspace packages under test', () => {
  it.each([
    ['@sluice/core', core.Queue, coreSource.Queue],
    ['@sluice/jobs', jobs.createJobRegistry, jobsSource.createJobRegistry],
    ['@sluice/jobs/handlers', jobHandlers.createHandlers, jobHandlersSource.createHandlers],
    ['@sluice/api', api.buildApp, apiSource.buildApp],
  ])('%s resolves to its source', (_name, byName, bySource) => {
    expect(byName).toBe(bySource);
  });
});
