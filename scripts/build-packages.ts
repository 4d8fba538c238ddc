import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { publishableWorkspaces } from './workspaces';

const ROOT = resolve(import.meta.dirname, '..');

/** Thrown when a package does not build; the message holds what the build printed. */
export class PackageBuildError extends Error {}

/**
 * Builds every publishable package to its dist/ with the package's own `build` script, the one
 * `npm pack` runs. tsc -b is incremental: with nothing changed it takes about a second.
 */
export async function buildPackages(): Promise<void> {
  const args = ['run', 'build', '--silent', ...publishableWorkspaces().flatMap((workspace) => ['--workspace', workspace.name])];
  const child = spawn('npm', args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((done, fail) => {
    child.once('error', fail);
    child.once('close', done);
  });
  if (code !== 0) throw new PackageBuildError(`\`npm ${args.join(' ')}\` exited with code ${code}:\n${output.trim()}`);
}
