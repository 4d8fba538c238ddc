import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppFixture } from '../../../apps/api/test/fixture';
import { isolatedConfig, waitFor } from '../../../test/support/context';
import { statsTable } from '../src/commands/stats';
import { expectOneLineError, jsonOf, listeningApp, sluice, startSluice } from './support';

const KEY = 'cli-test-key-0123456789abcdef';
const config = isolatedConfig('cli-queues', { QUEUES: 'default,emails', API_KEYS: KEY });
let fixture: AppFixture;
let url: string;
let env: Record<string, string>;

beforeAll(async () => {
  ({ fixture, url } = await listeningApp(config));
  env = { SLUICE_URL: url, SLUICE_API_KEY: KEY };
  for (let i = 0; i < 2; i += 1) await fixture.app.inject({ method: 'POST', url: '/jobs', headers: { authorization: `Bearer ${KEY}` }, payload: { type: 'noop', payload: {}, queue: 'emails' } });
});

afterAll(async () => {
  await fixture?.close();
});

interface QueueJson {
  name: string;
  paused: boolean;
  depth: number;
}

describe('sluice queues', () => {
  it('lists the queues with their depth, as a table or the API\'s JSON', async () => {
    const table = await sluice(['queues', 'list'], env);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^QUEUE +STATE +DEPTH +SCHEDULED/);
    expect(table.stdout).toMatch(/^default +running +0 /m);
    expect(table.stdout).toMatch(/^emails +running +2 /m);
    const { queues } = jsonOf<{ queues: QueueJson[] }>(await sluice(['queues', 'list', '--json'], env));
    expect(queues.map(({ name, depth }) => [name, depth])).toEqual([['default', 0], ['emails', 2]]);
  });

  it('pauses and resumes a queue, and refuses one the API does not serve with exit 1', async () => {
    const paused = await sluice(['queues', 'pause', 'emails'], env);
    expect(paused).toMatchObject({ code: 0, stdout: 'Queue emails is paused: workers take no new jobs from it.\n' });
    const listed = jsonOf<{ queues: QueueJson[] }>(await sluice(['queues', 'list', '--json'], env));
    expect(listed.queues.find((queue) => queue.name === 'emails')?.paused).toBe(true);

    expect(jsonOf(await sluice(['queues', 'resume', 'emails', '--json'], env))).toEqual({ name: 'emails', paused: false });

    const unknown = await sluice(['queues', 'pause', 'elsewhere'], env);
    expectOneLineError(unknown, 1, 'sluice queues pause: Queue "elsewhere" is not served here. Known queues: default, emails.', 'UNKNOWN_QUEUE');
  });
});

describe('sluice queues limits', () => {
  it('sets, shows and lifts a queue\'s rate limit and cap, and refuses a rate it cannot read with exit 2', async () => {
    const set = await sluice(['queues', 'limits', 'emails', '--rate', '100/1s', '--concurrency', '5'], env);
    expect(set).toMatchObject({ code: 0, stdout: 'Queue emails: 100 per 1000 ms, 5 at once.\n' });
    expect(jsonOf(await sluice(['queues', 'limits', 'emails', '--json'], env))).toEqual({ name: 'emails', limits: { rate: { max: 100, perMs: 1000 }, concurrency: 5 } });
    expect((await sluice(['queues', 'list'], env)).stdout).toMatch(/^emails +running +2 .* 100 per 1000 ms, 5 at once$/m);
    expect(await sluice(['queues', 'limits', 'emails', '--clear'], env)).toMatchObject({ code: 0, stdout: 'Queue emails: none.\n' });
    const bad = await sluice(['queues', 'limits', 'emails', '--rate', '100 per second'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--rate takes MAX/WINDOW such as 100/1s');
  });
});

describe('sluice queues limits --group-concurrency', () => {
  it('sets a queue\'s cap per fair group with its other limits, shows it as "N per group", and refuses one that is not a positive integer with exit 2', async () => {
    const set = await sluice(['queues', 'limits', 'emails', '--concurrency', '20', '--group-concurrency', '2'], env);
    expect(set).toMatchObject({ code: 0, stdout: 'Queue emails: 20 at once, 2 per group.\n' });
    expect(jsonOf(await sluice(['queues', 'limits', 'emails', '--json'], env))).toEqual({ name: 'emails', limits: { concurrency: 20, groupConcurrency: 2 } });
    expect((await sluice(['queues', 'list'], env)).stdout).toMatch(/ 20 at once, 2 per group$/m);
    expect(await sluice(['queues', 'limits', 'emails', '--group-concurrency', '3'], env)).toMatchObject({ code: 0, stdout: 'Queue emails: 3 per group.\n' });
    const bad = await sluice(['queues', 'limits', 'emails', '--group-concurrency', '0'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--group-concurrency');
    const both = await sluice(['queues', 'limits', 'emails', '--group-concurrency', '3', '--clear'], env);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('--clear lifts every limit');
    expect(await sluice(['queues', 'limits', 'emails', '--clear'], env)).toMatchObject({ code: 0, stdout: 'Queue emails: none.\n' });
  });
});

describe('sluice types', () => {
  it('lists the job types the API accepts, where they come from, as a table or the API\'s JSON', async () => {
    const table = await sluice(['types'], env);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^TYPE +QUEUES +SERVED BY +ATTEMPTS +TIMEOUT MS +DESCRIPTION$/m);
    expect(table.stdout).toMatch(/^sleep +- +no worker, declared +3 +3660000 +Waits/m);
    const { types } = jsonOf<{ types: { name: string; payloadSchema: unknown }[] }>(await sluice(['types', '--json'], env));
    expect(types.map((type) => type.name)).toEqual(['email', 'fail', 'noop', 'sleep', 'webhook']);
    expect(types.find((type) => type.name === 'sleep')?.payloadSchema).toMatchObject({ required: ['ms'] });
  });
});

describe('sluice stats', () => {
  it('names the job types waiting because no live worker serves them, under the table', () => {
    const queue = {
      pending: 3, scheduled: 0, processing: 0, retrying: 0, completed: 0, dead: 0, cancelled: 0, discarded: 0, paused: false, consumers: [],
      throughput: { completedLastMinute: 0, failedLastMinute: 0, completedPerSecond: 0 },
    };
    const text = statsTable({ queues: { default: { ...queue, waitingWithoutWorker: { report: 3 } }, emails: { ...queue, waitingWithoutWorker: {} } } });
    expect(text).toContain('No live worker serves (dead-lettered as no-handler after NO_HANDLER_TIMEOUT_MS):\n  default: report (3 waiting)\n');
    expect(statsTable({ queues: { emails: { ...queue, waitingWithoutWorker: {} } } })).not.toContain('No live worker serves');
  });

  it('prints each queue\'s counts as a table, or the API\'s JSON', async () => {
    const table = await sluice(['stats'], env);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^QUEUE +PENDING +SCHEDULED +PROCESSING +RETRYING +COMPLETED +DEAD +CANCELLED +DISCARDED +STATE +CONSUMERS +DONE\/S$/m);
    expect(table.stdout).toMatch(/^emails +2 +0 +0 +0 +0 +0 +0 +0 +running +0 +0$/m);
    const stats = jsonOf<{ queues: Record<string, { pending: number }> }>(await sluice(['stats', '--json'], env));
    expect(stats.queues.emails?.pending).toBe(2);
  });

  it('redraws with --watch until Ctrl-C, then exits 0', async () => {
    const watching = startSluice('stats --watch', ['stats', '--watch', '--interval-ms', '100', '--json'], env);
    try {
      await waitFor('three reads', () => watching.output.filter((line) => line.startsWith('{"at":')).length >= 3);
      const read = JSON.parse(watching.output.find((line) => line.startsWith('{"at":')) ?? '{}') as { queues: Record<string, { pending: number }> };
      expect(read.queues.emails?.pending).toBe(2);
    } finally {
      expect(await watching.stop('SIGINT')).toBe(0);
    }

    const table = startSluice('stats --watch', ['stats', '--watch', '--interval-ms', '100'], env);
    try {
      await waitFor('two tables', () => table.output.filter((line) => line.startsWith('QUEUE ')).length >= 2);
      expect(table.output.some((line) => line.startsWith(`${url}  `) && line.endsWith('(Ctrl-C to stop)'))).toBe(true);
    } finally {
      expect(await table.stop('SIGINT')).toBe(0);
    }
  });
});

describe('the API key', () => {
  it('goes from --api-key or SLUICE_API_KEY; without one the API\'s refusal is exit 1', async () => {
    const without = await sluice(['stats'], { SLUICE_URL: url });
    expectOneLineError(without, 1, 'Send your API key in the header Authorization: Bearer <key>.', 'UNAUTHORIZED', 'HTTP 401');
    expect((await sluice(['stats', '--api-key', KEY], { SLUICE_URL: url })).code).toBe(0);
    const wrongFlagWins = await sluice(['stats', '--api-key', 'not-the-key-0123456789'], env);
    expect(wrongFlagWins.code).toBe(1);
  });
});
