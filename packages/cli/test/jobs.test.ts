import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queueKeys } from '@sluice/core';
import { createJobRegistry } from '@sluice/jobs';
import { Redis } from 'ioredis';
import type { AppFixture } from '../../../apps/api/test/fixture';
import { isolatedConfig, waitFor } from '../../../test/support/context';
import { startInProcess, type InProcess } from '../../../test/support/in-process';
import { expectOneLineError, jsonOf, listeningApp, sluice } from './support';

const config = isolatedConfig('cli-jobs', { QUEUES: 'default,emails' });
let fixture: AppFixture;
let worker: InProcess;
let env: Record<string, string>;
/** While true, `fail` jobs fail: the test repairs their downstream to retry them. */
let brokenDownstream = true;

beforeAll(async () => {
  const started = await listeningApp(config);
  fixture = started.fixture;
  env = { SLUICE_URL: started.url };
  worker = await startInProcess(config, createJobRegistry(), {
    noop: () => undefined,
    fail: () => {
      if (brokenDownstream) throw new Error('downstream refused');
      return 'delivered';
    },
  }, { pool: fixture.database.pool });
});

afterAll(async () => {
  await worker?.close();
  await fixture?.close();
});

interface JobJson {
  id: string;
  status: string;
  queue: string;
  type: string;
  priority: number;
  maxAttempts: number;
  payload: Record<string, unknown>;
  history: { status: string }[];
}
const getJob = async (id: string) => jsonOf<JobJson>(await sluice(['jobs', 'get', id, '--json'], env));
/** Waits until PostgreSQL's history, which GET /jobs reads, has caught up with job `id`'s `status`. */
const waitForHistory = (id: string, status: string) =>
  waitFor(`job ${id} ${status} in the history`, async () => {
    const { rows } = await fixture.database.pool.query<{ status: string }>('SELECT status FROM jobs WHERE id = $1', [id]);
    return rows[0]?.status === status;
  });

describe('sluice jobs', () => {
  it('adds a job, shows it with its history, and prints the API\'s JSON with --json', async () => {
    const added = await sluice(['jobs', 'add', 'noop', '--payload', '{"n":1}'], env);
    expect(added.code, added.stderr).toBe(0);
    const id = /^Added job ([0-9a-f-]{36}) \(noop, queue default\): pending$/m.exec(added.stdout)?.[1];
    expect(id, added.stdout).toBeDefined();
    await waitFor('the job to complete', async () => (await fixture.statusOf(id ?? '')) === 'completed');

    const shown = await sluice(['jobs', 'get', id ?? ''], env);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/^status\s+completed$/m);
    expect(shown.stdout).toMatch(/^payload\s+\{"n":1\}$/m);
    expect(shown.stdout).toContain('History');
    expect(shown.stdout).toMatch(/ processing +1 /);

    const job = await getJob(id ?? '');
    expect(job).toMatchObject({ id, status: 'completed', type: 'noop', payload: { n: 1 } });
    expect(job.history.map((event) => event.status)).toEqual(['pending', 'processing', 'completed']);
  });

  it('sends every option of jobs add to the API', async () => {
    const runAt = new Date(Date.now() + 3_600_000).toISOString();
    const added = jsonOf<{ id: string; status: string; queue: string; duplicate: boolean }>(await sluice([
      'jobs', 'add', 'noop', '--queue', 'emails', '--run-at', runAt, '--max-attempts', '7', '--priority', '-5', '--idempotency-key', 'cli-once', '--json',
    ], env));
    expect(added).toMatchObject({ status: 'scheduled', queue: 'emails', duplicate: false });
    expect(await getJob(added.id)).toMatchObject({ maxAttempts: 7, priority: -5, queue: 'emails', status: 'scheduled' });

    const again = await sluice(['jobs', 'add', 'noop', '--queue', 'emails', '--idempotency-key', 'cli-once'], env);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`Job ${added.id} already has this idempotency key`);

    const delayed = jsonOf<{ status: string }>(await sluice(['jobs', 'add', 'noop', '--delay-ms', '3600000', '--json'], env));
    expect(delayed.status).toBe('scheduled');
  });

  it('cancels a job that has not started, and reports the API\'s refusal to cancel it twice with exit 1', async () => {
    const { id } = jsonOf<{ id: string }>(await sluice(['jobs', 'add', 'noop', '--delay-ms', '3600000', '--json'], env));
    const cancelled = await sluice(['jobs', 'cancel', id], env);
    expect(cancelled.code).toBe(0);
    expect(cancelled.stdout).toBe(`Job ${id} is cancelled.\n`);

    const twice = await sluice(['jobs', 'cancel', id], env);
    expectOneLineError(twice, 1, 'sluice jobs cancel:', `Job ${id} is cancelled; only pending, scheduled or retrying jobs can be cancelled.`, 'INVALID_STATE', 'HTTP 409');
    expect(twice.stdout).toBe('');
  });

  it('prints the API\'s message and code for a refusal, with its error body under --json', async () => {
    const refused = await sluice(['jobs', 'add', 'noop', '--queue', 'elsewhere'], env);
    expectOneLineError(refused, 1, 'Queue "elsewhere" is not served here. Known queues: default, emails.', 'UNKNOWN_QUEUE', 'HTTP 404');

    const asJson = await sluice(['jobs', 'add', 'noop', '--queue', 'elsewhere', '--json'], env);
    expect(asJson.code).toBe(1);
    expect(JSON.parse(asJson.stdout)).toEqual({ error: { code: 'UNKNOWN_QUEUE', message: 'Queue "elsewhere" is not served here. Known queues: default, emails.' } });

    const unknown = await sluice(['jobs', 'get', '01900000-0000-7000-8000-000000000000'], env);
    expectOneLineError(unknown, 1, 'No job has the id 01900000-0000-7000-8000-000000000000.', 'JOB_NOT_FOUND');
  });

  it('lists jobs with the API\'s filters, page by page', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i += 1) ids.push(jsonOf<{ id: string }>(await sluice(['jobs', 'add', 'noop', '--queue', 'emails', '--payload', `{"page":${i}}`, '--json'], env)).id);
    for (const id of ids) await waitForHistory(id, 'completed');

    const first = await sluice(['jobs', 'list', '--queue', 'emails', '--status', 'completed', '--limit', '2'], env);
    expect(first.code, first.stderr).toBe(0);
    const cursor = /^More: sluice jobs list --cursor (\S+)$/m.exec(first.stdout)?.[1];
    expect(cursor, first.stdout).toBeDefined();
    expect(first.stdout).toContain(ids[2]);
    expect(first.stdout).toContain(ids[1]);
    expect(first.stdout.split('\n')[0]).toMatch(/^ID +QUEUE +TYPE +STATUS +ATTEMPTS +CREATED/);

    const second = jsonOf<{ jobs: { id: string }[]; nextCursor: string | null }>(
      await sluice(['jobs', 'list', '--queue', 'emails', '--status', 'completed', '--limit', '2', '--cursor', cursor ?? '', '--json'], env),
    );
    expect(second.jobs.map((job) => job.id)).toEqual([ids[0]]);
    expect(second.nextCursor).toBeNull();

    const none = await sluice(['jobs', 'list', '--type', 'fail', '--status', 'cancelled'], env);
    expect(none.stdout).toBe('No jobs match.\n');
  });
});

describe('a job\'s fair group in sluice jobs', () => {
  it('sends --group with jobs add, and prints the API\'s refusal of a malformed one with exit 1', async () => {
    const added = await sluice(['jobs', 'add', 'noop', '--delay-ms', '3600000', '--group', 'tenant/acme', '--json'], env);
    expect(added.code, added.stderr).toBe(0);
    const refused = await sluice(['jobs', 'add', 'noop', '--group', 'tenant acme'], env);
    expectOneLineError(refused, 1, 'group must match pattern', 'VALIDATION_ERROR', 'HTTP 400');
  });

  it('prints the group in jobs get, and nothing for a job without one', async () => {
    const { id, queue } = jsonOf<{ id: string; queue: string }>(await sluice(['jobs', 'add', 'noop', '--delay-ms', '3600000', '--json'], env));
    expect((await sluice(['jobs', 'get', id], env)).stdout).not.toMatch(/^group /m);
    // As the queue stores a grouped job's group in its hash.
    const redis = new Redis(config.redis.url);
    await redis.hset(queueKeys(config.redis.prefix, queue).job(id), 'group', 'tenant/acme').finally(() => redis.disconnect());
    expect((await sluice(['jobs', 'get', id], env)).stdout).toMatch(/^group\s+tenant\/acme$/m);
  });

  it('lists the jobs whose payload contains some JSON with jobs list --payload, and counts them for an action with --all --payload', async () => {
    const ids = ['019a0000-0000-7000-8000-00000000d001', '019a0000-0000-7000-8000-00000000d002', '019a0000-0000-7000-8000-00000000d003'];
    await fixture.database.pool.query(
      `INSERT INTO jobs (id, queue, type, payload, status, max_attempts, run_at, created_at, updated_at)
       SELECT id, 'emails', 'noop', jsonb_build_object('userId', CASE WHEN n < 3 THEN 4242 ELSE 7 END), 'dead', 3, now(), now(), now()
       FROM unnest($1::uuid[]) WITH ORDINALITY AS t(id, n)`,
      [ids],
    );
    const listed = jsonOf<{ jobs: { id: string }[] }>(await sluice(['jobs', 'list', '--payload', '{"userId":4242}', '--json'], env));
    expect(listed.jobs.map((job) => job.id)).toEqual([ids[1], ids[0]]);
    const counted = await sluice(['jobs', 'retry', '--all', '--payload', '{"userId":4242}'], env);
    expect(counted).toMatchObject({ code: 1, stdout: '2 jobs match. Nothing changed: run it again with --yes to retry them.\n' });
    const refused = await sluice(['jobs', 'list', '--payload', '4242'], env);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('payload must be a JSON object');
  });

  it('lists a group\'s jobs with jobs list --group, and counts them for an action with --all --group', async () => {
    const ids = ['019a0000-0000-7000-8000-00000000c001', '019a0000-0000-7000-8000-00000000c002'];
    await fixture.database.pool.query(
      `INSERT INTO jobs (id, queue, type, payload, status, max_attempts, run_at, created_at, updated_at, "group")
       SELECT id, 'emails', 'noop', '{}', 'dead', 3, now(), now(), now(), 'globex' FROM unnest($1::uuid[]) AS id`,
      [ids],
    );
    const listed = jsonOf<{ jobs: { id: string; group: string }[] }>(await sluice(['jobs', 'list', '--group', 'globex', '--json'], env));
    expect(listed.jobs.map((job) => [job.id, job.group])).toEqual([[ids[1], 'globex'], [ids[0], 'globex']]);
    const counted = await sluice(['jobs', 'retry', '--all', '--group', 'globex'], env);
    expect(counted).toMatchObject({ code: 1, stdout: '2 jobs match. Nothing changed: run it again with --yes to retry them.\n' });
    expect((await sluice(['jobs', 'list', '--group', 'initech'], env)).stdout).toBe('No jobs match.\n');
  });
});

describe('sluice dlq and jobs retry', () => {
  it('lists, counts and sends back dead jobs, one by one or all at once', async () => {
    const dead: string[] = [];
    for (let i = 0; i < 3; i += 1) dead.push(jsonOf<{ id: string }>(await sluice(['jobs', 'add', 'fail', '--max-attempts', '1', '--json'], env)).id);
    await waitFor('the jobs to be dead', async () => (await Promise.all(dead.map((id) => fixture.statusOf(id)))).every((status) => status === 'dead'));

    const listed = await sluice(['dlq', 'list', '--queue', 'default'], env);
    expect(listed.code, listed.stderr).toBe(0);
    for (const id of dead) expect(listed.stdout).toMatch(new RegExp(`^${id} +default +fail +exhausted +1/1 .+downstream refused$`, 'm'));
    const page = jsonOf<{ jobs: { id: string; reason: string }[] }>(await sluice(['dlq', 'list', '--limit', '1', '--json'], env));
    expect(page.jobs).toHaveLength(1);
    expect(await sluice(['dlq', 'count', '--type', 'fail'], env)).toMatchObject({ code: 0, stdout: '3 dead jobs\n' });
    expect(jsonOf(await sluice(['dlq', 'count', '--queue', 'emails', '--json'], env))).toEqual({ count: 0 });

    brokenDownstream = false;
    const [first, second, third] = dead as [string, string, string];
    const one = await sluice(['jobs', 'retry', first], env);
    expect(one).toMatchObject({ code: 0, stdout: `Sent job ${first} back to queue default, its attempts reset.\n` });

    // One refusal among the ids: the others still go back, and the exit says something was refused.
    const some = await sluice(['dlq', 'retry', second, first, '--json'], env);
    expect(some.code).toBe(1);
    const answers = JSON.parse(some.stdout) as [{ id: string }, { error: { code: string } }];
    expect(answers[0].id).toBe(second);
    expect(answers[1].error.code).toBe('INVALID_STATE');
    expect(some.stderr).toMatch(new RegExp(`^sluice dlq retry: ${first}: .*only dead jobs can be retried.*\\(INVALID_STATE, HTTP 409\\)\\n$`));

    const all = await sluice(['dlq', 'retry', '--all', '--type', 'fail'], env);
    expect(all).toMatchObject({ code: 0, stdout: 'Sent back 1 dead job.\n' });
    await waitFor('every job to complete', async () => (await Promise.all([first, second, third].map((id) => fixture.statusOf(id)))).every((status) => status === 'completed'));
    expect(jsonOf(await sluice(['dlq', 'retry', '--all', '--json'], env))).toEqual({ retried: 0 });
  });
});
