import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuildCurrent } from './support/built-package';
import { waitFor } from './support/context';
import { ServiceProcess } from './support/processes';
import { startStack, type Stack } from './support/stack';

/**
 * The examples run exactly as their READMEs say, against the stock API and a stock worker, which
 * knows only the built-in types: `node examples/worker-js/worker.js` and
 * `node --import tsx examples/worker-ts/worker.ts` load @sluice/core the way a project that installed it
 * does, from its compiled dist/; `sluice worker` is run as `npm run sluice` runs it.
 */

const run = promisify(execFile);
let stack: Stack;

beforeAll(async () => {
  assertBuildCurrent('packages/core');
  stack = await startStack('examples', 1);
}, 60_000);

afterAll(async () => {
  const codes = await stack?.stop();
  // Without a stack, beforeAll has already failed and said why.
  expect(codes?.every((code) => code === 0) ?? true).toBe(true);
});

interface JobView {
  id: string;
  status: string;
  result: unknown;
  progress: unknown;
  lastError: string | null;
  history: { status: string; worker?: string; reason?: string }[];
}

async function submit(type: string, payload: Record<string, unknown>): Promise<Response> {
  return fetch(`${stack.url}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type, payload }) });
}

/** Submits once the API knows `type`: a worker publishes its types as it starts. */
async function submitWhenServed(type: string, payload: Record<string, unknown>): Promise<string> {
  const accepted = await waitFor(`the API to accept "${type}"`, async () => {
    const response = await submit(type, payload);
    return response.status === 202 ? ((await response.json()) as { id: string }) : undefined;
  });
  return accepted.id;
}

async function finished(id: string): Promise<JobView> {
  return waitFor(`job ${id} to finish`, async () => {
    const job = (await (await fetch(`${stack.url}/jobs/${id}`)).json()) as JobView;
    return ['completed', 'dead', 'cancelled'].includes(job.status) ? job : undefined;
  });
}

/** The job's events as the history recorder wrote them to PostgreSQL. */
async function recordedHistory(id: string, length: number): Promise<{ status: string; worker: string | null }[]> {
  return waitFor(`job ${id}'s history in PostgreSQL`, async () => {
    const { rows } = await stack.database.pool.query<{ status: string; worker: string | null }>(
      'SELECT status, worker FROM job_events WHERE job_id = $1 ORDER BY seq', [id],
    );
    return rows.length >= length ? rows : undefined;
  });
}

async function knownTypes(): Promise<string[]> {
  const { types } = (await (await fetch(`${stack.url}/job-types`)).json()) as { types: { name: string }[] };
  return types.map((type) => type.name);
}

function startJsWorker(name: string): ServiceProcess {
  return ServiceProcess.command(name, process.execPath, ['examples/worker-js/worker.js'], { ...stack.env, WORKER_NAME: name });
}

describe('examples/worker-js/worker.js', () => {
  it('completes a greet job the stock workers do not know, submitted over HTTP, with its history in PostgreSQL, and stops cleanly on SIGINT', async () => {
    const refused = await submit('greet', { name: 'Ada' });
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: { code: 'UNKNOWN_JOB_TYPE' } });

    const worker = startJsWorker('example-js');
    try {
      await worker.waitForOutput('worker started');
      const id = await submitWhenServed('greet', { name: 'Ada' });
      const job = await finished(id);
      expect(job).toMatchObject({
        status: 'completed',
        result: { greeting: 'Hello, Ada!' },
        progress: { step: 'composing' },
        history: [{ status: 'pending' }, { status: 'processing', worker: 'example-js' }, { status: 'completed', worker: 'example-js' }],
      });
      expect(await recordedHistory(id, 3)).toEqual([
        { status: 'pending', worker: null },
        { status: 'processing', worker: 'example-js' },
        { status: 'completed', worker: 'example-js' },
      ]);
      expect(await knownTypes()).toContain('greet');
    } finally {
      expect(await worker.stop('SIGINT')).toBe(0);
    }
    expect(worker.output.join('\n')).toContain('worker stopped');
    // A worker that stopped no longer serves: the API, which looks every second, lists greet with no live
    // worker, and still accepts it for a while, for the jobs to wait for a worker to come back.
    await waitFor('the API to list greet with no live worker', async () => {
      const { types } = (await (await fetch(`${stack.url}/job-types`)).json()) as { types: { name: string; workers: number }[] };
      return types.some((type) => type.name === 'greet' && type.workers === 0);
    });
  }, 60_000);

  it('a payload that does not match greet\'s schema is refused by the API, naming the field', async () => {
    const worker = startJsWorker('example-js-schema');
    try {
      await worker.waitForOutput('worker started');
      await submitWhenServed('greet', { name: 'Grace' });
      const response = await submit('greet', { name: '' });
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: { message: string } }).error.message).toContain('payload.name');
    } finally {
      expect(await worker.stop('SIGTERM')).toBe(0);
    }
  }, 60_000);
});

describe('examples/produce.sh', () => {
  it('follows a greet job to completed, finding the API through PORT, and a sleep job through SLUICE_URL; a refused job exits 1', async () => {
    const worker = startJsWorker('example-js-produce');
    try {
      await worker.waitForOutput('worker started');
      await submitWhenServed('greet', { name: 'Ada' });

      const greeted = await run('sh', ['examples/produce.sh'], { env: { ...process.env, PORT: String(stack.port), SLUICE_URL: '' } });
      expect(greeted.stdout).toMatch(/^job [0-9a-f-]{36} \(greet\) accepted$/m);
      expect(greeted.stdout).toContain('\ncompleted\nresult: {"greeting":"Hello, Ada!"}\n');

      const slept = await run('sh', ['examples/produce.sh', 'sleep', '{"ms": 1200}'], { env: { ...process.env, PORT: '', SLUICE_URL: stack.url } });
      expect(slept.stdout).toContain('\ncompleted\nresult: {"slept":1200}\n');

      const refusal = await run('sh', ['examples/produce.sh', 'greeting'], { env: { ...process.env, SLUICE_URL: stack.url } }).then(
        () => undefined,
        (error: { code: number; stderr: string }) => error,
      );
      expect(refusal?.code).toBe(1);
      expect(refusal?.stderr).toContain('UNKNOWN_JOB_TYPE');
    } finally {
      expect(await worker.stop('SIGTERM')).toBe(0);
    }
  }, 60_000);
});

describe('examples/worker-ts/worker.ts', () => {
  it('completes a resize job submitted over HTTP, with its history in PostgreSQL, dead-letters one its handler refuses, and stops cleanly on SIGTERM', async () => {
    const worker = ServiceProcess.command('example-ts', process.execPath, ['--import', 'tsx', 'examples/worker-ts/worker.ts'], { ...stack.env, WORKER_NAME: 'example-ts' });
    try {
      await worker.waitForOutput('worker started');
      const id = await submitWhenServed('resize', { width: 4000, height: 3000, maxSide: 800 });
      expect(await finished(id)).toMatchObject({ status: 'completed', result: { width: 800, height: 600 }, progress: { scale: 0.2 } });
      expect((await recordedHistory(id, 3)).map((event) => event.status)).toEqual(['pending', 'processing', 'completed']);

      const refusedId = await submitWhenServed('resize', { width: 40, height: 30, maxSide: 800 });
      const refused = await finished(refusedId);
      expect(refused).toMatchObject({ status: 'dead', lastError: expect.stringContaining('already fits within 800 px') });
      expect(refused.history.at(-1)).toMatchObject({ status: 'dead', reason: 'permanent' });
    } finally {
      expect(await worker.stop('SIGTERM')).toBe(0);
    }
  }, 60_000);
});

describe('examples/worker-js/jobs.js', () => {
  it('runs under `sluice worker`, completing a slugify job submitted over HTTP', async () => {
    const worker = ServiceProcess.start('sluice-worker', 'packages/cli/src/main.ts', { ...stack.env, WORKER_NAME: 'example-cli' }, [
      'worker',
      'examples/worker-js/jobs.js',
    ]);
    try {
      await worker.waitForOutput('worker started');
      const id = await submitWhenServed('slugify', { title: 'Crème brûlée, à la carte!' });
      expect(await finished(id)).toMatchObject({ status: 'completed', result: { slug: 'creme-brulee-a-la-carte' } });
      expect((await recordedHistory(id, 3)).map((event) => event.status)).toEqual(['pending', 'processing', 'completed']);
    } finally {
      expect(await worker.stop('SIGTERM')).toBe(0);
    }
  }, 60_000);
});

describe('examples/worker-js/signup.js', () => {
  it('enqueues greet in the transaction that signs Ada up: committed, it completes; her second signup rolls back, and its job never exists', async () => {
    const worker = startJsWorker('example-js-signup');
    const signUp = (name: string) => run(process.execPath, ['examples/worker-js/signup.js', name], { env: { ...process.env, ...stack.env } });
    const jobIdIn = (output: string): string => /^job ([0-9a-f-]{36}) enqueued in the transaction$/m.exec(output)?.[1] ?? '';
    try {
      await worker.waitForOutput('worker started');
      await waitFor('the API to list greet', async () => (await knownTypes()).includes('greet'));
      const signedUp = await signUp('Ada');
      expect(signedUp.stdout).toContain('Ada signed up');
      expect(await finished(jobIdIn(signedUp.stdout))).toMatchObject({ status: 'completed', result: { greeting: 'Hello, Ada!' } });

      const again = await signUp('Ada').then(() => undefined, (error: { code: number; stdout: string; stderr: string }) => error);
      expect(again?.code).toBe(1);
      expect(again?.stderr).toContain('not signed up, and no job');
      const rolledBack = jobIdIn(again?.stdout ?? '');
      expect(rolledBack).not.toBe('');
      expect((await fetch(`${stack.url}/jobs/${rolledBack}`)).status).toBe(404);
      const { rows } = await stack.database.pool.query<{ count: string }>('SELECT count(*) FROM job_outbox');
      expect(rows[0]?.count).toBe('0');
    } finally {
      expect(await worker.stop('SIGTERM')).toBe(0);
    }
  }, 60_000);
});
