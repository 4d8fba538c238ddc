import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { Supervisor, type RestartBackoff, type Service } from '../scripts/supervisor';
import { waitFor } from './support/context';

/** A node process that runs `script`. */
function node(script: string): ChildProcess {
  return spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
}

const supervisors: Supervisor[] = [];

/** A supervisor of one service, `sleeper`, whose nth process (from 1) `spawn(n)` starts; its log lines land in `log`. */
function supervise(spawnNth: (n: number) => ChildProcess, backoff: RestartBackoff): { supervisor: Supervisor; log: string[] } {
  const log: string[] = [];
  let launches = 0;
  const service: Service = { name: 'sleeper', spawn: () => spawnNth(++launches) };
  const supervisor = new Supervisor([service], backoff, (message) => log.push(message));
  supervisors.push(supervisor);
  supervisor.start();
  return { supervisor, log };
}

describe('Supervisor', () => {
  afterEach(async () => {
    await Promise.all(supervisors.splice(0).map((supervisor) => supervisor.kill()));
  });

  it('restarts a process that exits with code 0 on its own, and says so', async () => {
    const { supervisor, log } = supervise((n) => node(n === 1 ? 'process.exit(0)' : 'setInterval(() => {}, 1000)'), {
      initialMs: 10, maxMs: 1000, resetAfterMs: 60_000,
    });
    await waitFor('the second process', () => log.filter((line) => line.startsWith('sleeper started (pid ')).length === 2);
    expect(log).toContain('sleeper exited with code 0 on its own; restarting in 10 ms (restart 1)');
    expect(supervisor.runningCount).toBe(1);
  });

  it('doubles the wait with each restart in a row up to the cap, and waits the shortest again after a healthy run', async () => {
    const { log } = supervise(
      // Four quick crashes, one that runs past resetAfterMs before it crashes, then one that stays up.
      // resetAfterMs leaves a loaded machine's node ample time to start and exit without counting as healthy.
      (n) => node(n <= 4 ? 'process.exit(1)' : n === 5 ? 'setTimeout(() => process.exit(1), 3500)' : 'setInterval(() => {}, 1000)'),
      { initialMs: 20, maxMs: 60, resetAfterMs: 3000 },
    );
    await waitFor('the sixth process', () => log.filter((line) => line.startsWith('sleeper started (pid ')).length === 6, 15_000);
    expect(log.filter((line) => line.includes('restarting'))).toEqual([
      'sleeper exited with code 1; restarting in 20 ms (restart 1)',
      'sleeper exited with code 1; restarting in 40 ms (restart 2)',
      'sleeper exited with code 1; restarting in 60 ms (restart 3)',
      'sleeper exited with code 1; restarting in 60 ms (restart 4)',
      'sleeper exited with code 1; restarting in 20 ms (restart 5)',
    ]);
  });

  it('stops without restarting: a process that ignores SIGTERM keeps stop waiting until kill ends it, and the stop is not clean', async () => {
    const output: string[] = [];
    const { supervisor, log } = supervise(
      () => {
        const child = node("process.on('SIGTERM', () => console.log('ignoring SIGTERM')); console.log('ready'); setInterval(() => {}, 1000)");
        child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
        return child;
      },
      { initialMs: 10, maxMs: 1000, resetAfterMs: 60_000 },
    );
    await waitFor('the process to handle SIGTERM', () => output.join('').includes('ready'));
    let stopped: boolean | undefined;
    const stopping = supervisor.stop().then((clean) => (stopped = clean));
    await waitFor('the process to ignore SIGTERM', () => output.join('').includes('ignoring SIGTERM'));
    expect(stopped).toBeUndefined();
    expect(supervisor.runningCount).toBe(1);

    await supervisor.kill();
    expect(await stopping).toBe(false);
    expect(supervisor.runningCount).toBe(0);
    expect(log).toContain('sleeper exited (SIGKILL)');
    expect(log.some((line) => line.includes('restarting'))).toBe(false);
  });
});
