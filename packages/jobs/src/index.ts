import { JobTypeRegistry } from '@sluice/core';
import { builtinJobTypes } from './definitions.js';

export * from './config.js';
export * from './definitions.js';

/** The registry of every job type this deployment knows. Add your own types' definitions here. */
export function createJobRegistry(): JobTypeRegistry {
  return new JobTypeRegistry(builtinJobTypes);
}
