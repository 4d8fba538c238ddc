import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Type } from 'typebox';
import { defineJobType, JobTypeRegistry } from '@sluice/core';
import { isolatedConfig, waitFor } from '../../../test/support/context';
import { startInProcess, type InProcess } from '../../../test/support/in-process';

// Entries a worker reads in one call may start in its next (see takeJobs); a stall in between must
// not leave them looking abandoned to the reclaimer, which would start a second attempt beside the first.
const config = isolatedConfig('read-then-start', { VISIBILITY_TIMEOUT_MS: '1000', CONCURRENCY: '4' });
const registry = new JobTypeRegistry([
  defineJobType({ name: 'stall', payload: Type.Object({}) }),
  defineJobType({ name: 'slow', payload: Type.Object({}) }),
]);
const slowAttempts: number[] = [];
const handlers = {
  // Blocks the event loop past the visibility timeout, as a long GC pause or a CPU-bound handler would.
  stall: () => {
    const until = Date.now() + 1500;
    while (Date.now() < until);
  },
  slow: async ({ attempt }: { attempt: number }) => {
    slowAttempts.push(attempt);
    await new Promise((resolve) => setTimeout(resolve, 1500));
  },
};

let system: InProcess;

beforeAll(async () => {
  system = await startInProcess(config, registry, handlers);
});
afterAll(async () => {
  await system?.close();
});

describe('an entry read in one call and started in the next', () => {
  it('runs once when the worker stalls in between: its start makes it fresh again', async () => {
    // The idle worker's blocking read takes the first; the call that starts it reads the second.
    const [, slow] = await system.queue.addBulk([{ type: 'stall', payload: {} }, { type: 'slow', payload: {} }]);
    await waitFor('the slow job to complete', async () => (await system.queue.getJob(slow?.id ?? ''))?.status === 'completed', 15_000);
    expect(slowAttempts).toEqual([1]);
  });
});
