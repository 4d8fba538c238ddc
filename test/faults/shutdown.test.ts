import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeRedis, createRedis, Queue, queueKeys, waitForRedis, WORKER_GROUP, type QueueKeys, type ScriptedRedis, type SluiceConfig } from '@sluice/core';
import { createJobRegistry } from '@sluice/jobs';
import { createTestDatabase, dropRedisKeys, envFor, isolatedConfig, waitFor, type TestDatabase } from '../support/context';
import { ServiceProcess } from '../support/processes';

interface EventRow {
  job_id: string;
  status: string;
  attempt: number;
  worker: string | null;
  error: string | null;
}

/** One scenario's world: its own Redis prefix and schema, a producer, and the worker processes it starts. */
class Scenario {
  readonly keys: QueueKeys;
  readonly services: ServiceProcess[] = [];
  database!: TestDatabase;
  redis!: ScriptedRedis;
  queue!: Queue;

  constructor(
    readonly config: SluiceConfig,
    private readonly settings: Record<string, string>,
  ) {
    this.keys = queueKeys(config.redis.prefix, config.queue.queues[0] ?? 'default');
  }

  async open(): Promise<void> {
    this.database = await createTestDatabase(this.config);
    this.redis = createRedis(this.config.redis);
    await waitForRedis(this.redis, 5000);
    this.queue = new Queue({ redis: this.redis, redisConfig: this.config.redis, queueConfig: this.config.queue, registry: createJobRegistry() });
  }

  startWorker(name: string): ServiceProcess {
    const service = ServiceProcess.start(name, 'apps/worker/src/main.ts', { ...envFor(this.config), ...this.settings, WORKER_NAME: name });
    this.services.push(service);
    return service;
  }

  async close(): Promise<void> {
    await Promise.all(this.services.map((service) => service.stop('SIGKILL')));
    if (this.redis) await closeRedis(this.redis);
    await dropRedisKeys(this.config);
    await this.database?.drop();
  }

  async addSleeps(count: number, ms: number): Promise<string[]> {
    const added = await this.queue.addBulk(Array.from({ length: count }, () => ({ type: 'sleep', payload: { ms } })));
    return added.map((job) => job.id);
  }

  /** Status and worker of each job, as Redis holds them now. */
  async live(ids: readonly string[]): Promise<{ status: string | null; worker: string | null }[]> {
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hmget(this.keys.job(id), 'status', 'worker');
    const replies = (await pipeline.exec()) ?? [];
    return replies.map(([, fields]) => {
      const [status = null, worker = null] = fields as (string | null)[];
      return { status, worker };
    });
  }

  async pendingOf(consumer?: string): Promise<number> {
    if (consumer === undefined) return Number(((await this.redis.xpending(this.keys.stream, WORKER_GROUP)) as [number])[0]);
    return ((await this.redis.xpending(this.keys.stream, WORKER_GROUP, '-', '+', 10_000, consumer)) as unknown[]).length;
  }

  async historyOf(ids: readonly string[]): Promise<EventRow[]> {
    const { rows } = await this.database.pool.query<EventRow>(
      'SELECT job_id, status, attempt, worker, error FROM job_events WHERE job_id = ANY($1::uuid[]) ORDER BY job_id, seq', [ids],
    );
    return rows;
  }

  async completedInPostgres(ids: readonly string[]): Promise<number> {
    const { rows } = await this.database.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM jobs WHERE status = 'completed' AND id = ANY($1::uuid[])`, [ids],
    );
    return rows[0]?.n ?? 0;
  }
}

/** Sends SIGTERM once (a second one makes a worker exit at once) and measures how long the process takes to exit. */
async function terminate(service: ServiceProcess, timeoutMs: number): Promise<{ code: number | null; tookMs: number }> {
  const signalledAt = Date.now();
  const code = await service.stop('SIGTERM', timeoutMs);
  return { code, tookMs: Date.now() - signalledAt };
}

const IN_FLIGHT = 20;
const JOB_MS = 500;
const DRAIN_DEADLINE_MS = 10_000;
const drain = new Scenario(isolatedConfig('shutdown_drain'), { CONCURRENCY: String(IN_FLIGHT), SHUTDOWN_TIMEOUT_MS: String(DRAIN_DEADLINE_MS), LOG_LEVEL: 'debug' });

const LONG_JOB_MS = 5000;
const SHORT_DEADLINE_MS = 1000;
const deadline = new Scenario(isolatedConfig('shutdown_deadline'), { SHUTDOWN_TIMEOUT_MS: String(SHORT_DEADLINE_MS) });

beforeAll(async () => {
  await Promise.all([drain.open(), deadline.open()]);
});

afterAll(async () => {
  await Promise.all([drain.close(), deadline.close()]);
});

describe('SIGTERM to a worker process', () => {
  it(`lets ${IN_FLIGHT} in-flight jobs finish and be acknowledged, takes no new job, and exits 0 within SHUTDOWN_TIMEOUT_MS`, async () => {
    const worker = drain.startWorker('drain-1');
    await worker.waitForOutput('worker started');
    const ids = await drain.addSleeps(IN_FLIGHT, JOB_MS);
    await waitFor(`all ${IN_FLIGHT} jobs processing in drain-1`, async () =>
      (await drain.live(ids)).every((job) => job.status === 'processing' && job.worker === 'drain-1'));
    // Redis says processing as soon as the step that took them runs; a signal before the worker has the
    // step's reply makes it hand them back, as it must, so the test waits until their handlers run.
    await waitFor(`drain-1 running all ${IN_FLIGHT} handlers`, async () =>
      worker.output.filter((line) => line.includes('job started')).length >= IN_FLIGHT);

    const exited = terminate(worker, DRAIN_DEADLINE_MS + 5000);
    // Jobs that arrive once the worker has taken the signal in, while slots are still freeing up.
    await worker.waitForOutput('shutting down');
    const lateIds = await drain.addSleeps(5, 10);
    expect((await drain.live(ids)).filter((job) => job.status !== 'processing')).toEqual([]);
    const { code, tookMs } = await exited;
    console.log(`shutdown: drain-1 exited with ${code} ${tookMs} ms after SIGTERM, with ${IN_FLIGHT} jobs of ${JOB_MS} ms in flight`);

    expect(code).toBe(0);
    expect(tookMs).toBeLessThan(DRAIN_DEADLINE_MS);
    expect((await drain.live(ids)).map((job) => job.status)).toEqual(ids.map(() => 'completed'));
    expect(await drain.pendingOf('drain-1')).toBe(0);
    expect(await drain.pendingOf()).toBe(0);
    await waitFor('the drained jobs completed in PostgreSQL', async () => (await drain.completedInPostgres(ids)) === IN_FLIGHT);

    const late = await Promise.all(lateIds.map((id) => drain.queue.getJob(id)));
    expect(late.map((job) => [job?.status, job?.attempts])).toEqual(lateIds.map(() => ['pending', 0]));
    expect(late.flatMap((job) => job?.history ?? []).filter((event) => event.status !== 'pending')).toEqual([]);
    expect(await drain.redis.xlen(drain.keys.stream)).toBe(lateIds.length);

    // They were left for other workers, not lost: a fresh worker runs them.
    const next = drain.startWorker('drain-2');
    await waitFor('the late jobs completed by drain-2', async () =>
      (await drain.live(lateIds)).every((job) => job.status === 'completed' && job.worker === 'drain-2'), 20_000);
    expect(await next.stop('SIGTERM')).toBe(0);
  }, 60_000);

  it('hands a job that outlives SHUTDOWN_TIMEOUT_MS to a running worker, which runs it to completion', async () => {
    const first = deadline.startWorker('deadline-1');
    await first.waitForOutput('worker started');
    // Spawned before the job exists, so only the first worker can take it; it joins while the job runs.
    const second = deadline.startWorker('deadline-2');
    const [id = ''] = await deadline.addSleeps(1, LONG_JOB_MS);
    const startedAt = Date.now();
    await waitFor('the job processing in deadline-1', async () => {
      const [job] = await deadline.live([id]);
      return job?.status === 'processing' && job.worker === 'deadline-1';
    });
    await second.waitForOutput('worker started');
    // The job must still have well over the deadline to run when the signal comes, or nothing is handed over.
    expect(Date.now() - startedAt).toBeLessThan(LONG_JOB_MS - SHORT_DEADLINE_MS - 500);

    const { code, tookMs } = await terminate(first, SHORT_DEADLINE_MS + 10_000);
    console.log(`shutdown: deadline-1 exited with ${code} ${tookMs} ms after SIGTERM (SHUTDOWN_TIMEOUT_MS=${SHORT_DEADLINE_MS})`);
    expect(code).toBe(0);
    expect(tookMs).toBeGreaterThanOrEqual(SHORT_DEADLINE_MS - 50);
    expect(tookMs).toBeLessThan(SHORT_DEADLINE_MS + 3000);

    await waitFor('the job completed by deadline-2', async () => {
      const [job] = await deadline.live([id]);
      return job?.status === 'completed' && job.worker === 'deadline-2';
    }, LONG_JOB_MS + 10_000);
    // History reaches PostgreSQL through a recorder, some time after Redis.
    const history = await waitFor('the whole history in PostgreSQL', async () => {
      const rows = await deadline.historyOf([id]);
      return rows.at(-1)?.status === 'completed' ? rows : null;
    }, 20_000, 200);
    expect(history.map(({ status, attempt, worker, error }) => ({ status, attempt, worker, error }))).toEqual([
      { status: 'pending', attempt: 0, worker: null, error: null },
      { status: 'processing', attempt: 1, worker: 'deadline-1', error: null },
      { status: 'pending', attempt: 0, worker: 'deadline-1', error: 'interrupted: its worker shut down' },
      { status: 'processing', attempt: 1, worker: 'deadline-2', error: null },
      { status: 'completed', attempt: 1, worker: 'deadline-2', error: null },
    ]);
    expect(history.filter((event) => event.status === 'processing')).toHaveLength(2);
    expect(await deadline.pendingOf()).toBe(0);
    expect(await second.stop('SIGTERM')).toBe(0);
  }, 60_000);
});
