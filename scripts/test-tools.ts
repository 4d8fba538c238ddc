import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/**
 * Programs some tests drive that npm does not install: found on this machine, installed from
 * Debian's packages when this process may (root, with apt-get), or else named with the command
 * that installs them. They are never left out: their tests would fail, not skip.
 */

type Env = Record<string, string | undefined>;

/** A program the tests need, and the Debian package it comes in. */
interface TestTool {
  /** What the tests call it. */
  name: string;
  /** Which tests need it. */
  neededBy: string;
  debianPackage: string;
  /** Where it should be under `env`; a message says where it was looked for. */
  location(env: Env): { found: boolean; where: string };
}

/** Debian's Chromium, unless CHROMIUM_PATH names another; test/support/chromium.ts reads the same. */
const DEFAULT_CHROMIUM = '/usr/bin/chromium';

const TOOLS: readonly TestTool[] = [
  {
    name: 'Chromium',
    neededBy: 'the browser tests',
    debianPackage: 'chromium',
    location: (env) => {
      const path = env.CHROMIUM_PATH || DEFAULT_CHROMIUM;
      return { found: isExecutable(path), where: `at ${path}` };
    },
  },
  {
    name: 'promtool',
    neededBy: 'the metrics tests',
    debianPackage: 'prometheus',
    location: (env) => ({ found: onPath('promtool', env), where: 'on the PATH' }),
  },
];

/** Thrown when a tool is missing and cannot be installed from here; the message says how to. */
export class MissingTestToolError extends Error {}

/**
 * Makes sure every tool is there, installing the missing ones with apt-get (one line says so) when
 * this process runs as root on a machine with apt-get. A Chromium named by CHROMIUM_PATH is the
 * user's to provide.
 */
export function ensureTestTools(log: (line: string) => void, env: Env = process.env): void {
  const missing = TOOLS.filter((tool) => !tool.location(env).found);
  const installable = missing.filter((tool) => !isChosenChromium(tool, env));
  if (installable.length > 0 && canInstall(env)) {
    const packages = installable.map((tool) => tool.debianPackage);
    log(`installing ${installable.map((tool) => `${tool.name} (Debian package ${tool.debianPackage}) for ${tool.neededBy}`).join(' and ')}`);
    // A machine whose package lists are missing or stale finds nothing to install until they are updated.
    if (!aptInstall(packages, env).ok) {
      const update = apt(['update'], env);
      if (!update.ok) throw new MissingTestToolError(`\`apt-get update\` failed:\n${update.output}\n${howToInstall(missing, env)}`);
      const retry = aptInstall(packages, env);
      if (!retry.ok) {
        throw new MissingTestToolError(`\`apt-get install ${packages.join(' ')}\` failed:\n${retry.output}\n${howToInstall(missing, env)}`);
      }
    }
  }
  const stillMissing = TOOLS.filter((tool) => !tool.location(env).found);
  if (stillMissing.length > 0) throw new MissingTestToolError(howToInstall(stillMissing, env));
}

function isChosenChromium(tool: TestTool, env: Env): boolean {
  return tool.debianPackage === 'chromium' && Boolean(env.CHROMIUM_PATH);
}

function howToInstall(missing: readonly TestTool[], env: Env): string {
  const needs = missing.map((tool) => `${tool.neededBy} need ${tool.name} ${tool.location(env).where}`).join(', and ');
  const fromDebian = missing.filter((tool) => !isChosenChromium(tool, env));
  const steps: string[] = [];
  if (fromDebian.length > 0) {
    const packages = fromDebian.map((tool) => tool.debianPackage).join(' ');
    steps.push(`install \`sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${packages}\``);
  }
  if (missing.some((tool) => isChosenChromium(tool, env))) steps.push("point CHROMIUM_PATH at a Chromium or Chrome binary (or unset it to use Debian's chromium)");
  else if (fromDebian.some((tool) => tool.debianPackage === 'chromium')) steps.push('or set CHROMIUM_PATH to a Chromium or Chrome binary');
  return `${needs}, and ${missing.length > 1 ? 'they are' : 'it is'} not there: ${steps.join('; ')}; then run \`npm test\` again.`;
}

function canInstall(env: Env): boolean {
  return process.getuid?.() === 0 && onPath('apt-get', env);
}

function aptInstall(packages: readonly string[], env: Env): { ok: boolean; output: string } {
  return apt(['install', '-y', '--no-install-recommends', ...packages], env);
}

function apt(args: readonly string[], env: Env): { ok: boolean; output: string } {
  const run = spawnSync('apt-get', args, { env: { ...env, DEBIAN_FRONTEND: 'noninteractive' }, encoding: 'utf8' });
  const output = `${run.stdout ?? ''}${run.stderr ?? ''}${run.error ? run.error.message : ''}`.trim();
  return { ok: run.status === 0, output: output.split('\n').slice(-15).join('\n') };
}

function onPath(command: string, env: Env): boolean {
  return (env.PATH ?? '').split(delimiter).some((dir) => dir !== '' && isExecutable(join(dir, command)));
}

function isExecutable(path: string): boolean {
  if (!existsSync(path)) return false;
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
