import { describe, expect, it } from 'vitest';
import { isolatedConfig, envFor } from './support/context';
import { ServiceProcess } from './support/processes';
import { freePort } from './support/redis-server';

describe('api and worker refuse to start against a schema that is not migrated', () => {
  it.each([
    ['api', 'apps/api/src/server.ts'],
    ['worker', 'apps/worker/src/main.ts'],
  ])('%s exits 1 and says to run npm run migrate', async (name, file) => {
    // A schema no migration has touched: nothing to create or drop.
    const config = isolatedConfig(`startup-${name}`);
    const service = ServiceProcess.start(name, file, { ...envFor(config), PORT: String(await freePort()) });
    const code = await new Promise<number | null>((resolve) => service.child.once('exit', resolve));
    expect(code).toBe(1);
    expect(service.output.join('\n')).toContain('Run `npm run migrate` first');
  });

  it('refuses a bad configuration with every problem listed', async () => {
    const service = ServiceProcess.start('worker', 'apps/worker/src/main.ts', { CONCURRENCY: 'lots', REDIS_URL: 'http://x' });
    const code = await new Promise<number | null>((resolve) => service.child.once('exit', resolve));
    expect(code).toBe(1);
    const output = service.output.join('\n');
    expect(output).toContain('CONCURRENCY must be an integer');
    expect(output).toContain('REDIS_URL must be a URL starting with redis:// or rediss://');
  });
});
