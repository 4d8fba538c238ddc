import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Throws unless the workspace package at `packageDir` (e.g. `packages/core`) has a dist/ built from
 * its current sources. Code run with plain `node`, as a user of the published package runs it, gets
 * dist/: a stale one would test yesterday's code. `npm test` builds the packages before the tests.
 */
export function assertBuildCurrent(packageDir: string): void {
  const src = join(ROOT, packageDir, 'src');
  const dist = join(ROOT, packageDir, 'dist');
  const buildInfo = join(dist, '.tsbuildinfo');
  const rebuild = `run \`npm run build\` (npm test builds before the tests)`;
  if (!existsSync(buildInfo)) throw new Error(`${packageDir} is not built: ${rebuild}`);
  // tsc -b leaves an unchanged output alone but always rewrites its build info.
  const builtAt = statSync(buildInfo).mtimeMs;
  for (const file of readdirSync(src, { recursive: true, encoding: 'utf8' })) {
    const source = join(src, file);
    const stale =
      file.endsWith('.ts') && !file.endsWith('.d.ts')
        ? !existsSync(join(dist, file.replace(/\.ts$/, '.js'))) || statSync(source).mtimeMs > builtAt
        : file.endsWith('.lua') && (!existsSync(join(dist, file)) || !readFileSync(join(dist, file)).equals(readFileSync(source)));
    if (stale) throw new Error(`${packageDir}/dist is older than ${packageDir}/src/${file}: ${rebuild}`);
  }
}
