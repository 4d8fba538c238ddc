import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppFixture } from '../../../apps/api/test/fixture';
import { isolatedConfig } from '../../../test/support/context';
import { expectOneLineError, jsonOf, listeningApp, sluice } from './support';

const config = isolatedConfig('cli-schedules');
let fixture: AppFixture;
let env: Record<string, string>;

beforeAll(async () => {
  const started = await listeningApp(config);
  fixture = started.fixture;
  env = { SLUICE_URL: started.url };
});

afterAll(async () => {
  await fixture?.close();
});

describe('sluice schedules', () => {
  it('adds, lists, shows, pauses, resumes, triggers and removes a schedule', async () => {
    const added = await sluice(['schedules', 'add', 'nightly', '--cron', '30 2 * * *', '--timezone', 'Europe/Berlin', '--type', 'sleep', '--payload', '{"ms":1}', '--overlap', 'skip'], env);
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toMatch(/^Added schedule nightly \(cron 30 2 \* \* \* \(Europe\/Berlin\)\): next run 20\d\d-/);

    const listed = await sluice(['schedules', 'list'], env);
    expect(listed.stdout).toMatch(/^NAME +TIMING +STATE +TYPE +NEXT RUN +LAST RUN$/m);
    expect(listed.stdout).toMatch(/^nightly +cron 30 2 \* \* \* \(Europe\/Berlin\) +active +sleep +20\d\d-/m);

    expect((await sluice(['schedules', 'pause', 'nightly'], env)).stdout).toBe('Schedule nightly is paused.\n');
    const triggered = await sluice(['schedules', 'trigger', 'nightly'], env);
    expect(triggered.code, triggered.stderr).toBe(0);
    const jobId = /job (\S+)$/m.exec(triggered.stdout)?.[1] as string;
    const job = jsonOf<{ schedule: { name: string } }>(await sluice(['jobs', 'get', jobId, '--json'], env));
    expect(job.schedule.name).toBe('nightly');
    expect((await sluice(['jobs', 'get', jobId], env)).stdout).toMatch(/^schedule +nightly, tick 20/m);

    const shown = await sluice(['schedules', 'show', 'nightly'], env);
    expect(shown.stdout).toMatch(/^state +paused$/m);
    expect(shown.stdout).toMatch(new RegExp(`^20\\S+ +manual +created +${jobId}$`, 'm'));
    const resumed = jsonOf<{ paused: boolean; nextRuns: string[] }>(await sluice(['schedules', 'resume', 'nightly', '--json'], env));
    expect(resumed.paused).toBe(false);
    expect(resumed.nextRuns).toHaveLength(5);

    expect(await sluice(['schedules', 'remove', 'nightly'], env)).toMatchObject({ code: 0, stdout: 'Removed schedule nightly.\n' });
    expectOneLineError(await sluice(['schedules', 'show', 'nightly'], env), 1, 'sluice schedules show: No schedule is called "nightly".', 'SCHEDULE_NOT_FOUND');
  });

  it('refuses a command line without a timing (exit 2) and a definition the API refuses (exit 1)', async () => {
    const usage = await sluice(['schedules', 'add', 'x', '--type', 'noop'], env);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('give --cron or --every-ms');
    expectOneLineError(await sluice(['schedules', 'add', 'x', '--every-ms', '1000', '--type', 'noop', '--timezone', 'UTC'], env), 1,
      'sluice schedules add: timezone applies to cron only: everyMs ticks at fixed intervals of real time', 'INVALID_SCHEDULE');
  });
});
