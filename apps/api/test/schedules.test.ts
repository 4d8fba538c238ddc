import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_SCHEDULES } from '@sluice/core';
import { isolatedConfig } from '../../../test/support/context';
import { startApp, type AppFixture } from './fixture';

const config = isolatedConfig('api-schedules', { QUEUES: 'default:2,reports' });
let fixture: AppFixture;

beforeAll(async () => {
  fixture = await startApp(config);
});

afterAll(async () => {
  await fixture?.close();
});

const inject = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: unknown) =>
  fixture.app.inject({ method, url, ...(payload !== undefined && { payload: payload as Record<string, unknown> }) });

const nightly = { name: 'nightly-report', cron: '30 2 * * *', timezone: 'Europe/Berlin', job: { type: 'noop', payload: {}, queue: 'reports' }, overlap: 'skip', catchUp: 'latest' };

describe('the schedule routes', () => {
  it('add a schedule (201), read it and list it with its next ticks, and refuse its name again (409)', async () => {
    const created = await inject('POST', '/schedules', nightly);
    expect(created.statusCode, created.body).toBe(201);
    const view = created.json();
    expect(view).toMatchObject({
      name: 'nightly-report', cron: '30 2 * * *', everyMs: null, timezone: 'Europe/Berlin', overlap: 'skip', catchUp: 'latest', paused: false, revision: 1,
      job: { type: 'noop', payload: {}, queue: 'reports', priority: 0, maxAttempts: null }, lastRuns: [], inFlight: 0,
    });
    expect(view.nextRuns).toHaveLength(5);
    expect(view.nextRunAt).toBe(view.nextRuns[0]);
    // 02:30 in Berlin is 00:30 or 01:30 UTC, by season.
    expect(view.nextRuns.every((tick: string) => /T0[01]:30:00\.000Z$/.test(tick))).toBe(true);
    expect((await inject('GET', '/schedules/nightly-report')).json()).toEqual(view);
    const list = (await inject('GET', '/schedules')).json();
    expect(list).toEqual({ schedules: [view], nextCursor: null });
    const again = await inject('POST', '/schedules', nightly);
    expect(again.statusCode).toBe(409);
    expect(again.json().error.code).toBe('SCHEDULE_EXISTS');
  });

  it('pause, resume, change and trigger one; the triggered job names its schedule in GET /jobs/:id', async () => {
    const paused = await inject('POST', '/schedules/nightly-report/pause');
    expect(paused.json()).toMatchObject({ paused: true, nextRunAt: null, nextRuns: [], revision: 2 });
    const triggered = await inject('POST', '/schedules/nightly-report/trigger');
    expect(triggered.statusCode, triggered.body).toBe(200);
    const { run } = triggered.json();
    expect(run).toMatchObject({ kind: 'manual', status: 'created', reason: null });
    const job = (await inject('GET', `/jobs/${run.jobId}`)).json();
    expect(job).toMatchObject({ queue: 'reports', type: 'noop', schedule: { name: 'nightly-report', tick: run.tick } });
    const plain = await fixture.submit({ type: 'noop', payload: {} });
    expect((await inject('GET', `/jobs/${plain}`)).json().schedule).toBeNull();
    const resumed = await inject('POST', '/schedules/nightly-report/resume');
    expect(resumed.json()).toMatchObject({ paused: false, revision: 3 });
    expect(resumed.json().nextRuns).toHaveLength(5);
    const changed = await inject('PATCH', '/schedules/nightly-report', { everyMs: 60_000, job: { type: 'sleep', payload: { ms: 1 } } });
    expect(changed.statusCode, changed.body).toBe(200);
    expect(changed.json()).toMatchObject({ cron: null, everyMs: 60_000, timezone: 'UTC', job: { type: 'sleep', queue: 'default' }, revision: 4 });
    expect(changed.json().lastRuns).toEqual([run]);
    const grouped = await inject('PATCH', '/schedules/nightly-report', { job: { type: 'noop', payload: {}, group: 'tenant-7' } });
    expect(grouped.json().job).toMatchObject({ group: 'tenant-7' });
    const groupedRun = (await inject('POST', '/schedules/nightly-report/trigger')).json().run;
    expect((await inject('GET', `/jobs/${groupedRun.jobId}`)).json()).toMatchObject({ group: 'tenant-7' });
    const badGroup = await inject('PATCH', '/schedules/nightly-report', { job: { type: 'noop', payload: {}, group: 'a b' } });
    expect(badGroup.statusCode).toBe(400);
    expect(badGroup.body).toContain('group');
  });

  it('page the list by name', async () => {
    for (const name of ['b-every', 'a-every', 'c-every']) {
      expect((await inject('POST', '/schedules', { name, everyMs: 3_600_000, job: { type: 'noop', payload: {} } })).statusCode).toBe(201);
    }
    const first = (await inject('GET', '/schedules?limit=2')).json();
    expect(first.schedules.map((each: { name: string }) => each.name)).toEqual(['a-every', 'b-every']);
    expect(first.nextCursor).toBe('b-every');
    const second = (await inject('GET', `/schedules?limit=2&cursor=${first.nextCursor}`)).json();
    expect(second.schedules.map((each: { name: string }) => each.name)).toEqual(['c-every', 'nightly-report']);
    expect(second.nextCursor).toBeNull();
  });

  it('refuse bad input with a 4xx that says what to fix', async () => {
    const cases: [string, string, unknown, number, string, RegExp][] = [
      ['POST', '/schedules', { ...nightly, name: 'x', extra: 1 }, 400, 'VALIDATION_ERROR', /unknown field "extra"/],
      ['POST', '/schedules', { ...nightly, name: 'x', everyMs: '1000' }, 400, 'VALIDATION_ERROR', /everyMs must be integer/],
      ['POST', '/schedules', { ...nightly, name: 'x', everyMs: 1000 }, 400, 'INVALID_SCHEDULE', /exactly one of cron/],
      ['POST', '/schedules', { name: 'x', job: nightly.job }, 400, 'INVALID_SCHEDULE', /exactly one of cron/],
      ['POST', '/schedules', { ...nightly, name: 'x', cron: '* * *' }, 400, 'INVALID_SCHEDULE', /5 fields/],
      ['POST', '/schedules', { ...nightly, name: 'x', cron: '0 25 * * *' }, 400, 'INVALID_SCHEDULE', /Invalid value for hour/],
      ['POST', '/schedules', { ...nightly, name: 'x', timezone: 'Europe/Nowhere' }, 400, 'INVALID_SCHEDULE', /IANA time zone/],
      ['POST', '/schedules', { name: 'x', everyMs: 500, job: nightly.job }, 400, 'VALIDATION_ERROR', /everyMs must be >= 1000/],
      ['POST', '/schedules', { ...nightly, name: 'x', catchUp: 'everything' }, 400, 'VALIDATION_ERROR', /catchUp must be equal to one of/],
      ['POST', '/schedules', { ...nightly, name: 'x y' }, 400, 'VALIDATION_ERROR', /name must match pattern/],
      ['POST', '/schedules', { ...nightly, name: 'x', job: { type: 'unheard-of', payload: {} } }, 400, 'UNKNOWN_JOB_TYPE', /Unknown job type "unheard-of"/],
      ['POST', '/schedules', { ...nightly, name: 'x', job: { type: 'sleep', payload: { ms: 'long' } } }, 400, 'INVALID_JOB', /job\.payload\.ms/],
      ['POST', '/schedules', { ...nightly, name: 'x', job: { type: 'noop', payload: {}, queue: 'elsewhere' } }, 404, 'UNKNOWN_QUEUE', /Known queues: default, reports/],
      ['POST', '/schedules', { ...nightly, name: 'x', job: { type: 'noop', payload: {}, idempotencyKey: 'k' } }, 400, 'VALIDATION_ERROR', /unknown field "idempotencyKey"/],
      ['PATCH', '/schedules/nightly-report', {}, 400, 'VALIDATION_ERROR', /must NOT have fewer than 1 properties/],
      ['PATCH', '/schedules/nightly-report', { cron: '* * * * *', everyMs: 1000 }, 400, 'INVALID_SCHEDULE', /exactly one of cron/],
      ['PATCH', '/schedules/nightly-report', { name: 'other' }, 400, 'VALIDATION_ERROR', /unknown field "name"/],
      ['PATCH', '/schedules/missing', { paused: true }, 404, 'SCHEDULE_NOT_FOUND', /No schedule is called "missing"/],
      ['GET', '/schedules/missing', undefined, 404, 'SCHEDULE_NOT_FOUND', /"missing"/],
      ['POST', '/schedules/missing/trigger', undefined, 404, 'SCHEDULE_NOT_FOUND', /"missing"/],
      ['DELETE', '/schedules/missing', undefined, 404, 'SCHEDULE_NOT_FOUND', /"missing"/],
      ['GET', '/schedules/bad%20name', undefined, 400, 'VALIDATION_ERROR', /name must match pattern/],
      ['GET', '/schedules?limit=1000', undefined, 400, 'VALIDATION_ERROR', /limit must match pattern/],
    ];
    for (const [method, url, body, status, code, message] of cases) {
      const response = await inject(method as 'POST', url, body);
      expect(response.statusCode, `${method} ${url} ${JSON.stringify(body)}: ${response.body}`).toBe(status);
      expect(response.json().error, `${method} ${url} ${JSON.stringify(body)}`).toMatchObject({ code, message: expect.stringMatching(message) });
    }
    expect((await inject('GET', '/schedules/x')).statusCode).toBe(404);
  });

  it('remove a schedule (204), after which it is unknown', async () => {
    const removed = await inject('DELETE', '/schedules/c-every');
    expect(removed.statusCode).toBe(204);
    expect((await inject('GET', '/schedules/c-every')).statusCode).toBe(404);
  });

  it(`refuse a schedule beyond the ${MAX_SCHEDULES} there may be with 409 TOO_MANY_SCHEDULES`, async () => {
    const { schedules } = fixture.queue;
    const existing = (await schedules.list({ limit: 100 })).schedules.length;
    for (let first = existing; first < MAX_SCHEDULES; first += 100) {
      await Promise.all(Array.from({ length: Math.min(100, MAX_SCHEDULES - first) }, (_, i) =>
        schedules.create({ name: `bulk-${String(first + i).padStart(4, '0')}`, everyMs: 3_600_000, job: { type: 'noop', payload: {} } })));
    }
    const refused = await inject('POST', '/schedules', { name: 'one-too-many', everyMs: 3_600_000, job: { type: 'noop', payload: {} } });
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error).toMatchObject({ code: 'TOO_MANY_SCHEDULES', message: expect.stringContaining(`${MAX_SCHEDULES} schedules`) });
  });
});
