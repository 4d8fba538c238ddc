import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJobRegistry } from '@sluice/jobs';
import type { AppFixture } from '../../../apps/api/test/fixture';
import { isolatedConfig, waitFor } from '../../../test/support/context';
import { startInProcess, type InProcess } from '../../../test/support/in-process';
import { expectOneLineError, listeningApp, sluice } from './support';

const config = isolatedConfig('cli-operator', { QUEUES: 'default:2' });
let fixture: AppFixture;
let worker: InProcess;
let env: Record<string, string>;

beforeAll(async () => {
  const started = await listeningApp(config);
  fixture = started.fixture;
  env = { SLUICE_URL: started.url };
  worker = await startInProcess(config, createJobRegistry(), {
    noop: () => undefined,
    fail: () => {
      throw new Error('downstream refused');
    },
  }, { pool: fixture.database.pool });
});

afterAll(async () => {
  await worker?.close();
  await fixture?.close();
});

const UNKNOWN = '01900000-0000-7000-8000-000000000000';

async function deadJobs(count: number): Promise<string[]> {
  const ids = await Promise.all(Array.from({ length: count }, () => fixture.submit({ type: 'fail', payload: {}, maxAttempts: 1 })));
  await waitFor('the jobs to be dead', async () => (await Promise.all(ids.map((id) => fixture.statusOf(id)))).every((status) => status === 'dead'));
  return ids;
}

describe('sluice jobs run-now', () => {
  it('runs a scheduled job now, after `jobs get` said when it was due', async () => {
    const id = await fixture.submit({ type: 'noop', payload: {}, delay: 3_600_000 });
    const shown = await sluice(['jobs', 'get', id], env);
    expect(shown.stdout).toMatch(/^waiting +Scheduled to run at \d{4}-\d{2}-\d{2}T[\d:.]+Z\.$/m);
    const ran = await sluice(['jobs', 'run-now', id], env);
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stdout).toMatch(new RegExp(`^Job ${id} is (pending|processing|completed): it no longer waits for its due time\\.$`, 'm'));
    await waitFor('the job to complete', async () => (await fixture.statusOf(id)) === 'completed');
    expectOneLineError(await sluice(['jobs', 'run-now', id], env), 1, 'INVALID_STATE');
  });
});

describe('sluice dlq discard', () => {
  it('--all counts first and changes nothing without --yes, then discards with it', async () => {
    const ids = await deadJobs(3);
    const counted = await sluice(['dlq', 'discard', '--all', '--type', 'fail'], env);
    expect(counted.code).toBe(1);
    expect(counted.stdout).toBe('3 jobs match. Nothing changed: run it again with --yes to discard them.\n');
    for (const id of ids) expect(await fixture.statusOf(id)).toBe('dead');
    const discarded = await sluice(['dlq', 'discard', '--all', '--type', 'fail', '--queue', 'default', '--yes'], env);
    expect(discarded.code, discarded.stderr).toBe(0);
    expect(discarded.stdout).toBe('Discarded 3 dead jobs.\n');
    for (const id of ids) expect(await fixture.statusOf(id)).toBe('discarded');
  });

  it('discards named jobs and reports the ones it could not', async () => {
    const [one, two] = (await deadJobs(2)) as [string, string];
    const single = await sluice(['dlq', 'discard', one], env);
    expect(single.stdout).toBe(`Job ${one} is discarded.\n`);
    const several = await sluice(['dlq', 'discard', two, one, UNKNOWN], env);
    expect(several.code).toBe(1);
    expect(several.stdout).toBe('Discarded 1 job; 1 left alone for their state, 1 not found.\n');
    expect(several.stderr).toContain(`${one}: left alone, it is discarded`);
    expect(several.stderr).toContain(`${UNKNOWN}: no such job`);
    expectOneLineError(await sluice(['dlq', 'discard', one, '--type', 'fail'], env), 2, '--type');
  });
});

describe('sluice jobs cancel and retry, many at once', () => {
  it('cancels every job matching a filter once told --yes, the count first', async () => {
    const ids = await Promise.all(Array.from({ length: 3 }, () => fixture.submit({ type: 'sleep', payload: { ms: 1 }, delay: 3_600_000 })));
    await waitFor('the history to have them', async () => {
      const { rows } = await fixture.database.pool.query<{ count: string }>("SELECT count(*) FROM jobs WHERE type = 'sleep' AND status = 'scheduled'");
      return Number(rows[0]?.count) === 3;
    });
    const counted = await sluice(['jobs', 'cancel', '--all', '--type', 'sleep', '--status', 'scheduled'], env);
    expect(counted.stdout).toBe('3 jobs match. Nothing changed: run it again with --yes to cancel them.\n');
    const cancelled = await sluice(['jobs', 'cancel', '--all', '--type', 'sleep', '--status', 'scheduled', '--yes'], env);
    expect(cancelled.code, cancelled.stderr).toBe(0);
    expect(cancelled.stdout).toBe('Cancelled 3 jobs; 0 left alone for their state, 0 not found.\n');
    for (const id of ids) expect(await fixture.statusOf(id)).toBe('cancelled');
  });

  it('retries several named dead jobs in one call', async () => {
    const ids = await deadJobs(2);
    const retried = await sluice(['jobs', 'retry', ...ids], env);
    expect(retried.code, retried.stderr).toBe(0);
    expect(retried.stdout).toBe('Sent back 2 jobs; 0 left alone for their state, 0 not found.\n');
    expectOneLineError(await sluice(['jobs', 'retry', '--all', ...ids], env), 2, '--all');
  });
});
