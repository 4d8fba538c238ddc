import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');

/** One entry of package-lock.json's `packages`, keyed by its folder. */
interface LockEntry {
  name?: string;
  link?: boolean;
  resolved?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

/** The folder holding the lockfile's entry for workspace `name` (`apps/api` for `@sluice/api`). */
export function workspaceFolder(name: string): string {
  const link = readLock()[`node_modules/${name}`];
  if (!link?.link || link.resolved === undefined) throw new Error(`package-lock.json has no workspace ${name}`);
  return link.resolved;
}

/**
 * The packages `npm ci --omit=dev [--omit=optional] --workspace …` installs for `workspaces`, read
 * from package-lock.json: what their dependencies and peers need, through and through, found the way
 * Node.js finds them (the nearest node_modules up the tree). Optional dependencies, and optional peers
 * the lockfile holds (for a development tool that is also an optional peer, such as drizzle-orm's
 * @types/pg, npm keeps them), count unless `omitOptional`.
 */
export function productionPackages(workspaces: readonly string[], { omitOptional }: { omitOptional: boolean }): string[] {
  const packages = readLock();
  const seen = new Set<string>();
  const pending = workspaces.map(workspaceFolder);
  for (let folder = pending.pop(); folder !== undefined; folder = pending.pop()) {
    if (seen.has(folder)) continue;
    seen.add(folder);
    const entry = packages[folder] ?? {};
    const optionalPeers = Object.entries(entry.peerDependenciesMeta ?? {}).filter(([, meta]) => meta.optional).map(([name]) => name);
    const needed = [
      ...Object.keys(entry.dependencies ?? {}),
      ...(omitOptional ? [] : Object.keys(entry.optionalDependencies ?? {})),
      ...Object.keys(entry.peerDependencies ?? {}).filter((name) => !(omitOptional && optionalPeers.includes(name))),
    ];
    for (const name of needed) {
      const found = locate(packages, folder, name);
      if (found !== undefined) pending.push(found);
    }
  }
  return [...seen].filter((folder) => folder.includes('node_modules/')).map((folder) => folder.slice(folder.lastIndexOf('node_modules/') + 'node_modules/'.length));
}

/** Where `name` resolves from `folder`: its own node_modules, then each one further up; a workspace link leads to the workspace. */
function locate(packages: Record<string, LockEntry>, folder: string, name: string): string | undefined {
  for (let base: string | undefined = folder; base !== undefined; base = parentOf(base)) {
    const candidate = base === '' ? `node_modules/${name}` : `${base}/node_modules/${name}`;
    const entry = packages[candidate];
    if (entry) return entry.link ? entry.resolved : candidate;
  }
  return undefined;
}

/** The folder whose node_modules holds `folder`; a workspace's is the root's, and the root has none. */
function parentOf(folder: string): string | undefined {
  if (folder === '') return undefined;
  const at = folder.lastIndexOf('/node_modules/');
  return at >= 0 ? folder.slice(0, at) : '';
}

function readLock(): Record<string, LockEntry> {
  return (JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> }).packages;
}
