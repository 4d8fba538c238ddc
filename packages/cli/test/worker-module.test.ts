import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UsageError } from '../src/command-line';
import { loadWorkerModule } from '../src/worker-module';

const directory = mkdtempSync(join(tmpdir(), 'sluice-worker-module-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

const DEFINITION = "{ name: 'echo', payload: { type: 'object' } }";
/** Writes a module of `source` and loads it as `sluice worker ./<name>` would from `directory`. */
async function load(name: string, source: string) {
  writeFileSync(join(directory, name), source);
  return loadWorkerModule(`./${name}`, directory);
}

describe('loading the module of sluice worker', () => {
  it('takes named exports types and handlers', async () => {
    const loaded = await load('named.mjs', `export const types = [${DEFINITION}];\nexport const handlers = { echo: ({ payload }) => payload };\n`);
    expect(loaded.types.map((type) => type.name)).toEqual(['echo']);
    expect(typeof loaded.handlers.echo).toBe('function');
  });

  it('takes a default export { types, handlers }', async () => {
    const loaded = await load('default.mjs', `export default { types: [${DEFINITION}], handlers: { echo: () => 'ok' } };\n`);
    expect(loaded.types.map((type) => type.name)).toEqual(['echo']);
  });

  it.each([
    ['neither.mjs', 'export const greeting = "hi";\n', 'exports neither `types` and `handlers` nor a default export { types, handlers }'],
    ['no-handlers.mjs', `export const types = [${DEFINITION}];\n`, '`handlers` must be an object of handler functions by type name'],
    ['not-array.mjs', `export const types = ${DEFINITION};\nexport const handlers = {};\n`, '`types` must be an array'],
    ['not-function.mjs', `export const types = [${DEFINITION}];\nexport const handlers = { echo: 'echo' };\n`, 'handlers.echo is not a function'],
    ['unnamed.mjs', 'export const types = ["echo"];\nexport const handlers = {};\n', 'types[0] is not a job type definition'],
    ['unhandled.mjs', `export const types = [${DEFINITION}];\nexport const handlers = {};\n`, '`types` declares "echo" but `handlers` has no function for it'],
    ['undeclared.mjs', 'export const types = [];\nexport const handlers = { echo: () => 1 };\n', '`handlers` has "echo" but `types` does not declare it'],
    ['bad-default.mjs', 'export default { types: [] };\n', 'its default export: `handlers` must be an object'],
  ])('refuses %s as a usage error naming what is wrong', async (name, source, message) => {
    const error = await load(name, source).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toContain(message);
  });

  it('refuses a path with no module, naming where it looked', async () => {
    await expect(loadWorkerModule('./missing.js', directory)).rejects.toThrow(`no module at ${join(directory, 'missing.js')}`);
  });

  it('says why a module that throws could not be loaded', async () => {
    await expect(load('throws.mjs', 'throw new Error("no config");\n')).rejects.toThrow('cannot load ./throws.mjs: no config');
  });
});
