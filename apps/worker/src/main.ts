#!/usr/bin/env node
import { InvalidConfigError, loadConfig, messageOf, type Env } from '@sluice/core';
import { builtinJobTypes, loadBuiltinJobsConfig, type BuiltinJobsConfig } from '@sluice/jobs';
import { createHandlers } from '@sluice/jobs/handlers';
import { runWorkerProcess } from './worker-process.js';

/** The problems `load` finds in the environment: none when it loads. */
function problemsOf(load: () => unknown): readonly string[] {
  try {
    load();
    return [];
  } catch (error) {
    if (error instanceof InvalidConfigError) return error.problems;
    throw error;
  }
}

/** The job types' settings, once Sluice's own are good too: every problem of both is listed at once. */
function loadJobsConfig(env: Env): BuiltinJobsConfig {
  const problems = [...problemsOf(() => loadConfig(env)), ...problemsOf(() => loadBuiltinJobsConfig(env))];
  if (problems.length > 0) throw new InvalidConfigError(problems);
  return loadBuiltinJobsConfig(env);
}

/** The stock worker process: the built-in job types of @sluice/jobs. */
try {
  const jobsConfig = loadJobsConfig(process.env);
  await runWorkerProcess({
    name: 'worker',
    types: builtinJobTypes,
    handlers: (_config, logger) => createHandlers({ ...jobsConfig, logger }),
  });
} catch (error) {
  console.error(`worker: cannot start: ${messageOf(error)}`);
  process.exit(1);
}
