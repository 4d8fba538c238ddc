import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Type } from 'typebox';
import { defineJobType, JobTypeRegistry, MAX_RESULT_BYTES, type JobContext, type Queue } from '@sluice/core';
import { isolatedConfig, waitFor } from '../../../test/support/context';
import { startInProcess, type InProcess } from '../../../test/support/in-process';

const config = isolatedConfig('results');
const registry = new JobTypeRegistry([
  defineJobType({ name: 'steps', payload: Type.Object({}) }),
  defineJobType({ name: 'huge', payload: Type.Object({}) }),
  defineJobType({ name: 'chatty', payload: Type.Object({}) }),
]);
let release: () => void = () => undefined;
let progressError: unknown;
const handlers = {
  steps: async ({ progress }: JobContext) => {
    // Armed before the progress report: the test may see the report and release at once.
    const released = new Promise<void>((resolve) => (release = resolve));
    await progress({ done: 1, of: 2 });
    await released;
    return { total: 2 };
  },
  huge: () => 'x'.repeat(MAX_RESULT_BYTES + 1),
  chatty: async ({ progress }: JobContext) => {
    try {
      await progress('y'.repeat(5000));
    } catch (error) {
      progressError = error;
    }
    return 'ok';
  },
};

let system: InProcess;
let queue: Queue;

beforeAll(async () => {
  system = await startInProcess(config, registry, handlers);
  queue = system.queue;
});
afterAll(async () => {
  release();
  await system?.close();
});

describe('results and progress', () => {
  it('shows a running job\'s progress, then stores its result', async () => {
    const { id } = await queue.add('steps', {});
    const running = await waitFor('progress to show', async () => {
      const job = await queue.getJob(id);
      return job?.progress ? job : null;
    });
    expect(running.status).toBe('processing');
    expect(running.progress).toEqual({ done: 1, of: 2 });
    release();
    const done = await waitFor('the job to complete', async () => {
      const job = await queue.getJob(id);
      return job?.status === 'completed' ? job : null;
    });
    expect(done.result).toEqual({ total: 2 });
  });

  it('refuses a result past the cap with a clear, permanent error', async () => {
    const { id } = await queue.add('huge', {});
    const job = await waitFor('the job to be dead', async () => {
      const current = await queue.getJob(id);
      return current?.status === 'dead' ? current : null;
    });
    expect(job.attempts).toBe(1);
    expect(job.lastError).toBe(`the handler's result is ${MAX_RESULT_BYTES + 3} bytes of JSON; at most ${MAX_RESULT_BYTES} are stored`);
    expect(job.result).toBeNull();
  });

  it('refuses a progress report past its cap, which the handler can catch', async () => {
    const { id } = await queue.add('chatty', {});
    await waitFor('the job to complete', async () => (await queue.getJob(id))?.status === 'completed');
    expect(progressError).toBeInstanceOf(RangeError);
    expect((progressError as Error).message).toBe('progress is 5002 bytes of JSON; at most 4096 are stored');
  });
});
