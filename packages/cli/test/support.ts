import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import type { SluiceConfig } from '@sluice/core';
import { startApp, type AppFixture } from '../../../apps/api/test/fixture';
import { ServiceProcess } from '../../../test/support/processes';

export const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
/** The CLI's entry, relative to the repository root. */
export const MAIN = 'packages/cli/src/main.ts';

/** How a run of the CLI ended. */
export interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** This process's environment without the variables that tell the CLI where the API is. */
function cleanEnv(): NodeJS.ProcessEnv {
  const { SLUICE_URL: _url, SLUICE_API_KEY: _key, PORT: _port, ...rest } = process.env;
  return rest;
}

/** Runs `file` (a path from the repository root) with `args` to its end, the way a user would, through tsx. */
export function runScript(file: string, args: readonly string[], env: Record<string, string> = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--conditions=sluice-source', '--import', 'tsx', join(ROOT, file), ...args],
      { cwd: ROOT, env: { ...cleanEnv(), ...env }, timeout: 120_000 },
      (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr }),
    );
  });
}

/** Runs `sluice args` to its end. */
export function sluice(args: readonly string[], env: Record<string, string> = {}): Promise<Outcome> {
  return runScript(MAIN, args, env);
}

/** Starts `sluice args` as a long-running process (api, worker, stats --watch). */
export function startSluice(name: string, args: readonly string[], env: Record<string, string>): ServiceProcess {
  return ServiceProcess.start(name, MAIN, env, args);
}

/** Checks that a run failed the way the CLI promises: `code`, one line on stderr naming `mentions`, no stack trace. */
export function expectOneLineError(outcome: Outcome, code: number, ...mentions: string[]): void {
  const context = JSON.stringify(outcome);
  expect(outcome.code, context).toBe(code);
  const lines = outcome.stderr.trimEnd().split('\n');
  expect(lines, context).toHaveLength(1);
  for (const text of mentions) expect(lines[0], context).toContain(text);
  expect(outcome.stderr, context).not.toMatch(/^\s+at /m);
}

/** A loopback port nothing listens on (it was free a moment ago). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

/** The stock API app on a loopback port, isolated by `config`, with its URL. */
export async function listeningApp(config: SluiceConfig): Promise<{ fixture: AppFixture; url: string }> {
  const fixture = await startApp(config);
  await fixture.app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = fixture.app.server.address() as AddressInfo;
  return { fixture, url: `http://127.0.0.1:${port}` };
}

/** Parses a run's stdout as JSON, failing the test with the run's output when it is not. */
export function jsonOf<T>(outcome: Outcome): T {
  expect(outcome.code, JSON.stringify(outcome)).toBe(0);
  return JSON.parse(outcome.stdout) as T;
}
