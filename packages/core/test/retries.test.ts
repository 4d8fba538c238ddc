import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Type } from 'typebox';
import { defineJobType, JobTypeRegistry, queueKeys, type Job, type Queue, type ScriptedRedis } from '@sluice/core';
import { isolatedConfig, waitFor } from '../../../test/support/context';
import { startInProcess, type InProcess } from '../../../test/support/in-process';

const policy = { maxAttempts: 4, immediateRetries: 1, baseDelayMs: 200, maxDelayMs: 300 };
const config = isolatedConfig('retries', { CONCURRENCY: '4' });
const registry = new JobTypeRegistry([
  defineJobType({ name: 'flaky', payload: Type.Object({ failures: Type.Integer() }), retry: policy }),
  defineJobType({ name: 'slow', payload: Type.Object({ ms: Type.Integer() }), timeoutMs: 150, retry: { maxAttempts: 1 } }),
]);
let aborted = false;
const handlers = {
  flaky: ({ payload, attempt }: { payload: { failures: number }; attempt: number }) => {
    if (attempt <= payload.failures) throw new Error(`failure ${attempt}`);
    return { attempt };
  },
  slow: ({ payload, signal }: { payload: { ms: number }; signal: AbortSignal }) =>
    new Promise((resolve) => {
      signal.addEventListener('abort', () => (aborted = true));
      setTimeout(resolve, payload.ms);
    }),
};

let system: InProcess;
let redis: ScriptedRedis;
let queue: Queue;

beforeAll(async () => {
  system = await startInProcess(config, registry, handlers);
  ({ redis, queue } = system);
});

afterAll(async () => {
  await system?.close();
});

async function finished(id: string): Promise<Job> {
  return waitFor(`job ${id} to finish`, async () => {
    const job = await queue.getJob(id);
    return job && ['completed', 'dead'].includes(job.status) ? job : null;
  }, 10_000);
}

const ms = (iso: string | undefined) => Date.parse(iso ?? '');

describe('retries', () => {
  it('retries once at once, then with growing, jittered, capped backoff through the delayed set, and completes', async () => {
    const { id } = await queue.add('flaky', { failures: 3 });
    const job = await finished(id);
    expect(job.status).toBe('completed');
    expect(job.attempts).toBe(4);
    expect(job.result).toEqual({ attempt: 4 });

    const failed = job.history.filter((event) => event.status === 'failed');
    const started = job.history.filter((event) => event.status === 'processing');
    expect(failed.map((event) => event.error)).toEqual(['failure 1', 'failure 2', 'failure 3']);
    // The first failure is retried at once, the others wait in the delayed set.
    expect(job.history.map((event) => event.status)).toEqual([
      'pending', 'processing', 'failed', 'pending', 'processing', 'failed', 'retrying', 'pending', 'processing', 'failed', 'retrying', 'pending', 'processing', 'completed',
    ]);
    const waits = job.history.filter((event) => event.status === 'retrying').map((event, index) => ms(event.nextAt) - ms(failed[index + 1]?.at));
    // Equal jitter: after the 2nd failure the wait lies in [100, 200] ms; after the 3rd in [150, 300] (capped at 300).
    expect(waits[0]).toBeGreaterThanOrEqual(100);
    expect(waits[0]).toBeLessThanOrEqual(200);
    expect(waits[1]).toBeGreaterThanOrEqual(150);
    expect(waits[1]).toBeLessThanOrEqual(300);
    // No attempt started before it was due.
    const retrying = job.history.filter((event) => event.status === 'retrying');
    expect(ms(started[2]?.at)).toBeGreaterThanOrEqual(ms(retrying[0]?.nextAt));
    expect(ms(started[3]?.at)).toBeGreaterThanOrEqual(ms(retrying[1]?.nextAt));
    const gaps = started.slice(1).map((event, index) => ms(event.at) - ms(failed[index]?.at));
    expect(gaps[1]).toBeGreaterThanOrEqual(gaps[0] ?? 0);
  });

  it('dead-letters a job out of attempts with the reason "exhausted"', async () => {
    const { id } = await queue.add('flaky', { failures: 10 }, { maxAttempts: 2 });
    const job = await finished(id);
    expect(job.status).toBe('dead');
    expect(job.attempts).toBe(2);
    expect(job.lastError).toBe('failure 2');
    expect(job.history.at(-1)).toMatchObject({ status: 'dead', reason: 'exhausted', error: 'failure 2' });
    const dlq = await redis.xrange(queueKeys(config.redis.prefix, 'default').dlq, '-', '+');
    expect(dlq.some(([, fields]) => fields[1] === id && fields[3] === 'exhausted')).toBe(true);
  });

  it('aborts a handler past its timeout and counts the attempt as failed', async () => {
    const { id } = await queue.add('slow', { ms: 1000 });
    const job = await finished(id);
    expect(job.status).toBe('dead');
    expect(job.lastError).toBe('timed out after 150 ms');
    expect(aborted).toBe(true);
  });

  it('runs a job with delay 2000 no sooner than 2 s after it was submitted', async () => {
    const submitted = Date.now();
    const { id, status } = await queue.add('flaky', { failures: 0 }, { delay: 2000 });
    expect(status).toBe('scheduled');
    const job = await finished(id);
    const started = job.history.find((event) => event.status === 'processing');
    expect(ms(started?.at)).toBeGreaterThanOrEqual(submitted + 2000);
    expect(ms(started?.at)).toBeGreaterThanOrEqual(ms(job.runAt));
  });

  it('makes exactly one job of 50 concurrent submissions with one idempotency key', async () => {
    const results = await Promise.all(Array.from({ length: 50 }, () => queue.add('flaky', { failures: 0 }, { idempotencyKey: 'same-key' })));
    expect(new Set(results.map((result) => result.id)).size).toBe(1);
    expect(results.filter((result) => !result.duplicate)).toHaveLength(1);
  });
});
