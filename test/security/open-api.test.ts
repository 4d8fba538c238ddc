import { afterEach, describe, expect, it } from 'vitest';
import { envFor, isolatedConfig } from '../support/context';
import { ServiceProcess } from '../support/processes';
import { freePort } from '../support/redis-server';

const started: ServiceProcess[] = [];
afterEach(async () => {
  for (const service of started.splice(0)) await service.stop('SIGKILL');
});

/** Runs `file` with `env` on a schema no migration has touched, and resolves with its exit code and output, or 'running' after `timeoutMs`. */
async function run(name: string, file: string, env: Record<string, string>, timeoutMs = 20_000): Promise<{ code: number | null | 'running'; output: string }> {
  const config = isolatedConfig(`open-api-${name}`);
  const service = ServiceProcess.start(name, file, { ...envFor(config), PORT: String(await freePort()), API_KEYS: '', ALLOW_OPEN_API: '', ...env });
  started.push(service);
  const code = await Promise.race([
    new Promise<number | null>((resolve) => service.child.once('exit', resolve)),
    new Promise<'running'>((resolve) => setTimeout(() => resolve('running'), timeoutMs)),
  ]);
  return { code, output: service.output.join('\n') };
}

describe('an API bound beyond loopback without API_KEYS', () => {
  it('refuses to start, naming API_KEYS and ALLOW_OPEN_API', async () => {
    const hosts = ['0.0.0.0', '::', '192.0.2.2'];
    const runs = await Promise.all(hosts.map((host) => run('api', 'apps/api/src/server.ts', { HOST: host })));
    for (const [index, { code, output }] of runs.entries()) {
      const host = hosts[index] as string;
      expect(code, output).toBe(1);
      expect(output).toContain(`api: cannot start: HOST=${host} makes the API reachable from other machines, and API_KEYS is not set`);
      expect(output).toContain('ALLOW_OPEN_API=1');
      expect(output).not.toContain('Server listening');
    }
  });

  it('starts with API_KEYS, with ALLOW_OPEN_API=1, or on loopback (here it goes on to find the schema not migrated)', async () => {
    const envs: Record<string, string>[] = [{ HOST: '0.0.0.0', API_KEYS: 'open-api-key-0123456789' }, { HOST: '0.0.0.0', ALLOW_OPEN_API: '1' }, { HOST: '127.0.0.1' }, { HOST: 'localhost' }];
    const runs = await Promise.all(envs.map((env) => run('api', 'apps/api/src/server.ts', env)));
    for (const [index, { code, output }] of runs.entries()) {
      expect(code, output).toBe(1);
      expect(output, JSON.stringify(envs[index])).toContain('Run `sluice migrate` first');
      expect(output).not.toContain('ALLOW_OPEN_API');
    }
  });

  it('stops npm start before it builds, migrates or starts anything', async () => {
    const { code, output } = await run('npm start', 'scripts/start.ts', { HOST: '0.0.0.0', SKIP_DASHBOARD_BUILD: '1' });
    expect(code, output).toBe(2);
    expect(output).toMatch(/^start +\| the API cannot start: HOST=0\.0\.0\.0 makes the API reachable from other machines, and API_KEYS is not set/m);
    expect(output).not.toMatch(/migrate|api started/);
  });
});
