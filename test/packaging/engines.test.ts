import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import semver from 'semver';
import { describe, expect, it } from 'vitest';
import { publishableWorkspaces } from '../../scripts/workspaces';

const ROOT = resolve(import.meta.dirname, '../..');

interface Manifest {
  engines?: { node?: string };
}

const rootManifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Manifest;
const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, Manifest & { version?: string }> };
const supported = rootManifest.engines?.node ?? '';
/** The oldest Node.js the project says it runs on: every installed package must run there too, or `npm ci` warns. */
const oldestNode = semver.minVersion(supported)?.version ?? '';

describe('Node.js versions', () => {
  it('the repository names the oldest Node.js it supports', () => {
    expect(oldestNode).toBe('20.12.0');
  });

  it('every package in package-lock.json runs on the oldest Node.js supported', () => {
    const refusing = Object.entries(lock.packages)
      .filter(([, entry]) => entry.engines?.node !== undefined && !semver.satisfies(oldestNode, entry.engines.node))
      .map(([path, entry]) => `${path.replace(/^.*node_modules\//, '')}@${entry.version}: node ${entry.engines?.node}`);
    expect(refusing, `these need a newer Node.js than ${oldestNode}; pin or override a version that supports it`).toEqual([]);
  });

  it.each(publishableWorkspaces().map((workspace) => [workspace.name, workspace.manifest] as const))(
    '%s declares the Node.js versions the repository supports',
    (_name, manifest) => {
      expect(manifest.engines?.node).toBe(supported);
    },
  );
});
