import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { inject } from 'vitest';
import { publishableWorkspaces } from '../../scripts/workspaces';
import { waitFor } from './context';

const ROOT = resolve(import.meta.dirname, '../..');
/** Packing builds every package first (prepack); installing fetches their third-party dependencies. */
const PACK_TIMEOUT_MS = 300_000;
const INSTALL_TIMEOUT_MS = 300_000;

/** The tarball of each publishable package, by package name. */
export type Tarballs = Record<string, string>;

let packing: Promise<Tarballs> | undefined;

/**
 * `npm pack`s every publishable package (each built by its prepack script) once per test run, into
 * the run's folder: the first test file to ask packs, and any other waits for its tarballs.
 */
export function packWorkspaces(): Promise<Tarballs> {
  packing ??= packOncePerRun(inject('packDir'));
  return packing;
}

async function packOncePerRun(dir: string): Promise<Tarballs> {
  const done = join(dir, 'tarballs.json');
  const failed = join(dir, 'failed.txt');
  try {
    await mkdir(join(dir, 'packing'));
  } catch {
    // Another file of this run is packing.
    await waitFor('the packages to be packed', () => existsSync(done) || existsSync(failed), PACK_TIMEOUT_MS, 200);
    if (existsSync(failed)) throw new Error(await readFile(failed, 'utf8'));
    return JSON.parse(await readFile(done, 'utf8')) as Tarballs;
  }
  try {
    const tarballs = await pack(dir);
    await writeFile(`${done}.partial`, JSON.stringify(tarballs));
    await rename(`${done}.partial`, done);
    return tarballs;
  } catch (error) {
    await writeFile(failed, (error as Error).message);
    throw error;
  }
}

async function pack(dir: string): Promise<Tarballs> {
  const names = publishableWorkspaces().map((workspace) => workspace.name);
  const args = ['pack', '--json', '--pack-destination', dir, ...names.flatMap((name) => ['--workspace', name])];
  // With --json, npm writes what the lifecycle scripts (prepack's build) print to stderr.
  const packed = JSON.parse(await run('npm', args, ROOT, PACK_TIMEOUT_MS)) as { name: string; filename: string }[];
  return Object.fromEntries(packed.map((entry) => [entry.name, join(dir, entry.filename)]));
}

/**
 * Makes `projectDir` an empty project (package.json only) and installs the tarballs into it with one
 * `npm install`, third-party dependencies from the registry (the local cache first).
 */
export async function installPacked(projectDir: string, tarballs: Tarballs): Promise<void> {
  await writeFile(join(projectDir, 'package.json'), JSON.stringify({ name: 'sluice-packed-check', private: true, type: 'module' }, null, 2));
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', ...Object.values(tarballs)], projectDir, INSTALL_TIMEOUT_MS);
}

/** The environment for npm and node outside this repository: nothing that points back into it. */
export function outsideEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => name !== 'NODE_OPTIONS' && !name.startsWith('npm_')));
  return { ...env, ...extra };
}

/** Runs `command` in `cwd`; resolves with its standard output, rejects with all its output when it fails. */
function run(command: string, args: readonly string[], cwd: string, timeoutMs: number): Promise<string> {
  const child = spawn(command, args, { cwd, env: outsideEnv(), stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((done, fail) => {
    child.once('error', fail);
    child.once('close', (code, signal) => {
      if (code === 0) done(stdout);
      else fail(new Error(`\`${command} ${args.join(' ')}\` in ${cwd} ended with ${signal ?? `code ${code}`}:\n${stdout}${stderr}`));
    });
  });
}
