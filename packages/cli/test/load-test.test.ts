import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJobRegistry } from '@sluice/jobs';
import type { AppFixture } from '../../../apps/api/test/fixture';
import { isolatedConfig } from '../../../test/support/context';
import { startInProcess, type InProcess } from '../../../test/support/in-process';
import { listeningApp, runScript, sluice } from './support';

const config = isolatedConfig('cli-load-test');
let fixture: AppFixture;
let worker: InProcess;
let url: string;

beforeAll(async () => {
  ({ fixture, url } = await listeningApp(config));
  worker = await startInProcess(config, createJobRegistry(), { noop: () => undefined }, { pool: fixture.database.pool });
});

afterAll(async () => {
  await worker?.close();
  await fixture?.close();
});

describe('sluice load-test against a live API and worker', () => {
  it('submits, waits for every job, reads them back and exits 0', async () => {
    const outcome = await sluice(['load-test', '--jobs', '20', '--connections', '2'], { SLUICE_URL: url });
    expect(outcome.code, outcome.stderr).toBe(0);
    expect(outcome.stdout).toMatch(/│ jobs accepted +│ 20 +│/);
    expect(outcome.stdout).toMatch(/│ jobs missing or unfinished +│ 0 +│/);
    expect(outcome.stdout).toMatch(/│ non-2xx answers +│ 0 +│/);
    expect(outcome.stderr).toBe('');
  });

  it('finds the API on PORT through npm run load-test\'s entry, and prints its figures as JSON with --json', async () => {
    const outcome = await runScript('load-test.ts', ['--jobs', '10', '--connections', '2', '--json'], { PORT: new URL(url).port });
    expect(outcome.code, outcome.stderr).toBe(0);
    const figures = JSON.parse(outcome.stdout) as { accepted: number; missing: number; requests: number };
    expect(figures).toMatchObject({ accepted: 10, missing: 0, requests: 10 });
  });

  it('exits 1 saying why when no job is accepted', async () => {
    const outcome = await sluice(['load-test', '--jobs', '3', '--connections', '1', '--type', 'no-such-type'], { SLUICE_URL: url });
    expect(outcome.code).toBe(1);
    expect(outcome.stderr).toMatch(/^no job was accepted; the API answered 400 .*UNKNOWN_JOB_TYPE/m);
  });
});
