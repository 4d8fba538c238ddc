import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');

/** The fields of a workspace's package.json that the build and its tests read. */
export interface WorkspaceManifest {
  name: string;
  private?: boolean;
  engines?: { node?: string };
  bin?: Record<string, string>;
  exports?: Record<string, unknown>;
  files?: string[];
  scripts?: Record<string, string>;
  dependencies?: Record<string, string>;
}

/** One workspace: its folder relative to the repository root, and its manifest. */
export interface Workspace {
  dir: string;
  name: string;
  manifest: WorkspaceManifest;
}

/** Expands npm workspace patterns (`*` within a path segment) to the folders holding a package.json. */
export function workspaceDirs(patterns: readonly string[]): string[] {
  const expand = (base: string, segments: string[]): string[] => {
    const [segment, ...rest] = segments;
    if (segment === undefined) return existsSync(join(ROOT, base, 'package.json')) ? [base] : [];
    const names = segment.includes('*')
      ? readdirSync(join(ROOT, base || '.')).filter((name) => new RegExp(`^${segment.split('*').map(escapeRegExp).join('.*')}$`).test(name))
      : [segment];
    return names
      .map((name) => (base ? `${base}/${name}` : name))
      .filter((path) => existsSync(join(ROOT, path)) && statSync(join(ROOT, path)).isDirectory())
      .flatMap((path) => expand(path, rest));
  };
  return patterns.flatMap((pattern) => expand('', pattern.replace(/\/$/, '').split('/')));
}

/** Every workspace of the repository, in the order npm lists them. */
export function workspaces(): Workspace[] {
  const root = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { workspaces: string[] };
  return workspaceDirs(root.workspaces).map((dir) => {
    const manifest = JSON.parse(readFileSync(join(ROOT, dir, 'package.json'), 'utf8')) as WorkspaceManifest;
    return { dir, name: manifest.name, manifest };
  });
}

/** The workspaces published to the registry: every one not marked private. */
export function publishableWorkspaces(): Workspace[] {
  return workspaces().filter((workspace) => workspace.manifest.private !== true);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
