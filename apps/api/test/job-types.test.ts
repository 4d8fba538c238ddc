import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Type } from 'typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedis, defineJobType, JobTypeRegistry, loadDeclaredJobTypes, waitForRedis, Worker, type ScriptedRedis } from '@sluice/core';
import { isolatedConfig, waitFor } from '../../../test/support/context';
import { startApp, type AppFixture } from './fixture';

const config = isolatedConfig('api-job-types');
let fixture: AppFixture;
let redis: ScriptedRedis;

beforeAll(async () => {
  fixture = await startApp(config);
  redis = createRedis(config.redis);
  await waitForRedis(redis, 5000);
});
afterAll(async () => {
  redis?.disconnect();
  await fixture?.close();
});

interface JobTypeView {
  name: string;
  description: string | null;
  payloadSchema: Record<string, unknown>;
  maxAttempts: number;
  timeoutMs: number;
  queues: string[];
  workers: number;
  declared: boolean;
  conflicts: { workers: string[] }[];
}

async function listed(): Promise<JobTypeView[]> {
  const response = await fixture.app.inject({ method: 'GET', url: '/job-types' });
  expect(response.statusCode).toBe(200);
  return (response.json() as { types: JobTypeView[] }).types;
}

const greet = defineJobType({ name: 'greet', description: 'Greets someone.', payload: Type.Object({ name: Type.String() }, { additionalProperties: false }) });

function greeter(name: string, payload = greet.payload): Worker {
  return new Worker({
    redis: config.redis, queue: config.queue, worker: { ...config.worker, consumerName: name },
    registry: new JobTypeRegistry([{ ...greet, payload }]), handlers: { greet: ({ payload: { name: who } }: { payload: { name: string } }) => `hello ${who}` },
  });
}

describe('GET /job-types', () => {
  it('lists every declared type with its payload schema, attempts, timeout and limits', async () => {
    const types = await listed();
    expect(types.map((type) => type.name)).toEqual(['email', 'fail', 'noop', 'sleep', 'webhook']);
    expect(types.find((type) => type.name === 'sleep')).toEqual({
      name: 'sleep',
      description: 'Waits `ms` milliseconds (at most one hour).',
      payloadSchema: { type: 'object', required: ['ms'], properties: { ms: { type: 'integer', minimum: 0, maximum: 3_600_000 } }, additionalProperties: false },
      maxAttempts: 3,
      timeoutMs: 3_660_000,
      limits: {},
      queues: [],
      workers: 0,
      declared: true,
      conflicts: [],
    });
    expect(types.find((type) => type.name === 'fail')).toMatchObject({ maxAttempts: 3, payloadSchema: { properties: { permanent: { type: 'boolean' } } } });
  });
});

describe('types the API learns from live workers', () => {
  it('refuses a type no worker has published, then accepts it once a worker serving it starts, lists it and runs it', async () => {
    const refused = await fixture.app.inject({ method: 'POST', url: '/jobs', payload: { type: 'greet', payload: { name: 'a' } } });
    expect(refused.statusCode).toBe(400);
    expect(refused.json()).toMatchObject({ error: { code: 'UNKNOWN_JOB_TYPE', message: 'Unknown job type "greet". Known types: email, fail, noop, sleep, webhook.' } });

    const worker = greeter('greeter-1');
    await worker.start();
    try {
      const id = await fixture.submit({ type: 'greet', payload: { name: 'Ada' } });
      await waitFor('greet to complete', async () => ((await fixture.statusOf(id)) === 'completed' ? true : null));
      const invalid = await fixture.app.inject({ method: 'POST', url: '/jobs', payload: { type: 'greet', payload: { name: 7 } } });
      expect(invalid.statusCode).toBe(400);
      expect(invalid.json()).toMatchObject({ error: { message: 'payload.name must be string' } });
      expect((await listed()).find((type) => type.name === 'greet')).toMatchObject({
        description: 'Greets someone.', queues: ['default'], workers: 1, declared: false, conflicts: [],
      });
    } finally {
      await worker.close(1000);
    }
  });

  it('keeps accepting a type while no worker serving it runs (a restart, an outage): the job waits for the next one', async () => {
    const first = greeter('greeter-old');
    await first.start();
    await first.close(1000);
    await waitFor('greet to be listed with no live worker', async () => (await listed()).some((type) => type.name === 'greet' && type.workers === 0));
    const id = await fixture.submit({ type: 'greet', payload: { name: 'Grace' } });
    expect((await fixture.app.inject({ method: 'GET', url: '/stats' })).json()).toMatchObject({ queues: { default: { pending: 1 } } });
    const replacement = greeter('greeter-new');
    await replacement.start();
    try {
      await waitFor('the replacement to run the job', async () => ((await fixture.statusOf(id)) === 'completed' ? true : null));
    } finally {
      await replacement.close(1000);
    }
  });

  it('refuses a published type on a queue none of its workers read, naming the queues that are read', async () => {
    const queuesConfig = isolatedConfig('api-type-queues', { QUEUES: 'default,images' });
    const app = await startApp(queuesConfig);
    const worker = new Worker({
      redis: queuesConfig.redis, queue: { ...queuesConfig.queue, queues: ['images'] }, worker: { ...queuesConfig.worker, consumerName: 'greeter-images' },
      registry: new JobTypeRegistry([greet]), handlers: { greet: () => 'hi' },
    });
    try {
      await worker.start();
      const wrong = await waitFor('greet to be known', async () => {
        const response = await app.app.inject({ method: 'POST', url: '/jobs', payload: { type: 'greet', payload: { name: 'x' } } });
        return response.statusCode === 400 && (response.json() as { error: { code: string } }).error.code !== 'UNKNOWN_JOB_TYPE' ? response : null;
      });
      expect(wrong.json()).toEqual({ error: { code: 'TYPE_NOT_ON_QUEUE', message: 'Job type "greet" is served on queue images, not "default": set queue to "images".' } });
      const right = await app.app.inject({ method: 'POST', url: '/jobs', payload: { type: 'greet', payload: { name: 'x' }, queue: 'images' } });
      expect(right.statusCode).toBe(202);
      // A declared type goes to any queue.
      expect((await app.app.inject({ method: 'POST', url: '/jobs', payload: { type: 'noop', payload: {}, queue: 'images' } })).statusCode).toBe(202);
    } finally {
      await worker.close(1000);
      await app.close();
    }
  });

  it('shows two live workers that publish differing definitions of a type as a conflict', async () => {
    const strict = greeter('greeter-strict');
    const loose = greeter('greeter-loose', Type.Object({ name: Type.String() }) as typeof greet.payload);
    await strict.start();
    await loose.start();
    try {
      const entry = await waitFor('the conflict to show', async () => {
        await fixture.app.inject({ method: 'POST', url: '/jobs', payload: { type: 'greet', payload: { name: 'x' } } });
        return (await listed()).find((type) => type.name === 'greet' && type.conflicts.length === 2);
      });
      expect(entry.workers).toBe(2);
      expect(entry.conflicts.map((variant) => variant.workers).sort()).toEqual([['greeter-loose'], ['greeter-strict']]);
    } finally {
      await Promise.all([strict.close(1000), loose.close(1000)]);
    }
  });
});

describe('jobs of a type no live worker serves', () => {
  it('are shown per type in GET /stats and as a gauge in /metrics while they wait', async () => {
    const worker = greeter('greeter-only');
    await worker.start();
    try {
      const id = await fixture.submit({ type: 'noop', payload: {} });
      const stats = await waitFor('noop to wait without a worker', async () => {
        const body = (await fixture.app.inject({ method: 'GET', url: '/stats' })).json() as { queues: Record<string, { waitingWithoutWorker: Record<string, number> }> };
        return body.queues.default?.waitingWithoutWorker.noop === 1 ? body : null;
      });
      expect(stats.queues.default?.waitingWithoutWorker).toEqual({ noop: 1 });
      const metrics = (await fixture.app.inject({ method: 'GET', url: '/metrics' })).body;
      expect(metrics).toContain('sluice_jobs_waiting_without_worker{queue="default",type="noop"} 1');
      expect(await fixture.statusOf(id)).toBe('pending');
      expect((await fixture.app.inject({ method: 'POST', url: `/jobs/${id}/cancel` })).statusCode).toBe(200);
      expect(await fixture.statusOf(id)).toBe('cancelled');
      const after = (await fixture.app.inject({ method: 'GET', url: '/metrics' })).body;
      expect(after).not.toContain('sluice_jobs_waiting_without_worker{');
    } finally {
      await worker.close(1000);
    }
  });
});

describe('JOB_TYPES_FILE', () => {
  it('reads a JSON array of types as GET /job-types lists them, and a module exporting types', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-types-'));
    try {
      const json = join(dir, 'types.json');
      writeFileSync(json, JSON.stringify([{ name: 'report', payloadSchema: { type: 'object', required: ['month'] }, retry: { maxAttempts: 7 }, timeoutMs: 5000 }]));
      const [report] = await loadDeclaredJobTypes(json);
      const registry = new JobTypeRegistry(report ? [report] : []);
      expect(registry.get('report')).toMatchObject({ timeoutMs: 5000, retry: { maxAttempts: 7 } });
      expect(registry.get('report').validate({})).toBe(false);

      const module = join(dir, 'types.mjs');
      writeFileSync(module, "export const types = [{ name: 'resize', payload: { type: 'object' } }];\nexport const handlers = { resize: () => 'ok' };\n");
      expect((await loadDeclaredJobTypes(module)).map((type) => type.name)).toEqual(['resize']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('takes a file saved from GET /job-types as it is, its maxAttempts included, and refuses fields it does not know', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-types-'));
    try {
      const listing = {
        types: [{
          name: 'report', description: null, payloadSchema: { type: 'object' }, maxAttempts: 7, timeoutMs: 5000, limits: { concurrency: 2 },
          queues: ['default'], workers: 1, declared: false, conflicts: [],
        }],
      };
      writeFileSync(join(dir, 'listing.json'), JSON.stringify(listing));
      const [report] = await loadDeclaredJobTypes(join(dir, 'listing.json'));
      expect(new JobTypeRegistry(report ? [report] : []).get('report')).toMatchObject({ timeoutMs: 5000, retry: { maxAttempts: 7 }, limits: { concurrency: 2 } });

      writeFileSync(join(dir, 'typo.json'), JSON.stringify([{ name: 'report', payloadSchema: { type: 'object' }, timeout: 5000 }]));
      await expect(loadDeclaredJobTypes(join(dir, 'typo.json'))).rejects.toThrow('entry 0 ("report") has unknown fields: timeout');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a type whose description is not a string, or whose schema cannot describe an object payload, naming the type', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-types-'));
    try {
      writeFileSync(join(dir, 'odd.json'), JSON.stringify([
        { name: 'numbered', payloadSchema: { type: 'object' }, description: 42 },
        { name: 'text', payloadSchema: { type: 'string' } },
      ]));
      const error = (await loadDeclaredJobTypes(join(dir, 'odd.json')).then(() => new Error('no error'), (caught: unknown) => caught)) as Error;
      expect(error.message).toContain('Job type "numbered": description must be a string');
      writeFileSync(join(dir, 'text.json'), JSON.stringify([{ name: 'text', payloadSchema: { type: 'string' } }]));
      await expect(loadDeclaredJobTypes(join(dir, 'text.json'))).rejects.toThrow('Job type "text": the payload schema must describe an object');
      writeFileSync(join(dir, 'broken.json'), JSON.stringify([{ name: 'broken', payloadSchema: { type: 'object', example: {} } }]));
      await expect(loadDeclaredJobTypes(join(dir, 'broken.json'))).rejects.toThrow('Job type "broken": the payload schema does not compile: strict mode: unknown keyword: "example"');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('shows a declared type that differs from what a live worker publishes as a conflict: the declared definition is the one submissions meet', async () => {
    const declaredConfig = isolatedConfig('api-declared-conflict');
    const declaring = await startApp(declaredConfig, {
      declared: [defineJobType({ name: 'greet', payload: Type.Object({ name: Type.Integer() }) })],
    });
    const worker = new Worker({
      redis: declaredConfig.redis, queue: declaredConfig.queue, worker: { ...declaredConfig.worker, consumerName: 'greeter-live' },
      registry: new JobTypeRegistry([greet]), handlers: { greet: () => 'hi' },
    });
    try {
      await worker.start();
      const entry = await waitFor('the declared greet to show its conflict', async () => {
        await declaring.app.inject({ method: 'POST', url: '/jobs', payload: { type: 'nothing-yet', payload: {} } });
        const types = (((await declaring.app.inject({ method: 'GET', url: '/job-types' })).json()) as { types: JobTypeView[] }).types;
        return types.find((type) => type.name === 'greet' && type.workers === 1);
      });
      expect(entry.declared).toBe(true);
      expect(entry.conflicts.map((variant) => variant.workers)).toEqual([[], ['greeter-live']]);
    } finally {
      await worker.close(1000);
      await declaring.close();
    }
  });

  it('says what to fix in a file that is missing, not an array, or holds a type without a name or schema', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-types-'));
    try {
      await expect(loadDeclaredJobTypes(join(dir, 'missing.json'))).rejects.toThrow(/JOB_TYPES_FILE .*missing\.json cannot be read/);
      writeFileSync(join(dir, 'object.json'), '{"name":"x"}');
      await expect(loadDeclaredJobTypes(join(dir, 'object.json'))).rejects.toThrow('must hold an array of job types');
      writeFileSync(join(dir, 'bad.json'), JSON.stringify([{ payloadSchema: {} }, { name: 'has,comma', payloadSchema: {} }, { name: 'ok' }]));
      const error = (await loadDeclaredJobTypes(join(dir, 'bad.json')).then(() => new Error('no error'), (caught: unknown) => caught)) as Error;
      expect(error.message).toContain('entry 0 needs a "name"');
      expect(error.message).toContain('entry 1 needs a "name"');
      expect(error.message).toContain('entry 2 ("ok") needs a "payloadSchema"');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
