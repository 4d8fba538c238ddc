import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { publishableWorkspaces } from '../../scripts/workspaces';

const ROOT = resolve(import.meta.dirname, '../..');
/**
 * Specifiers of static imports and re-exports, side-effect imports and dynamic imports. A specifier
 * holds no blank, which keeps code such as `queryDate('from', query.from)` from reading as one.
 */
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"]([^'"\s]+)['"]/g;

/** Every TypeScript source file under `dir`. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** The packages a workspace's sources import by name (`@scope/name` or `name`), Node's own left out. */
function importedPackages(dir: string): string[] {
  const names = sources(join(ROOT, dir, 'src')).flatMap((file) =>
    [...readFileSync(file, 'utf8').matchAll(SPECIFIER)].map((match) => match[1] ?? '').filter((specifier) => !specifier.startsWith('.')),
  );
  const packages = names
    .filter((specifier) => !specifier.startsWith('node:') && !builtinModules.includes(specifier))
    .map((specifier) => specifier.split('/').slice(0, specifier.startsWith('@') ? 2 : 1).join('/'));
  return [...new Set(packages)].sort();
}

describe('the dependencies of each publishable package', () => {
  it.each(publishableWorkspaces().map((workspace) => [workspace.name, workspace] as const))(
    '%s depends on exactly the packages its sources import',
    (_name, workspace) => {
      expect(Object.keys(workspace.manifest.dependencies ?? {}).sort()).toEqual(importedPackages(workspace.dir));
    },
  );
});
