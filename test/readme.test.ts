import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuildCurrent } from './support/built-package';
import { waitFor } from './support/context';
import { ServiceProcess } from './support/processes';
import { startStack, type Stack } from './support/stack';

/**
 * Every ```sh, ```bash and ```shell block of README.md runs, in the README's order, with `sh -e`, and
 * must exit 0, against what `npm start` runs (the API and two stock workers, with npm start's defaults
 * but for their own port, Redis prefix and PostgreSQL schema), plus the JavaScript example's worker for
 * each block that needs `greet`. A block is left out only when its fence says so and why:
 * ```sh not-run: <why>.
 *
 * The one change made to a block's text: `127.0.0.1:3000` and `localhost:3000` become this stack's
 * port. Blocks run from the repository's root in the stack's environment (PORT, REDIS_PREFIX,
 * DATABASE_SCHEMA…, where npm start's processes would find their defaults), with a `sluice` on the
 * PATH that runs this repository's command line as `npm run sluice --` does, standing for the
 * installed @sluice/cli.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const SHELLS = ['sh', 'bash', 'shell'];
const BLOCK_TIMEOUT_MS = 60_000;

interface ShellBlock {
  /** Line of the opening fence in README.md. */
  line: number;
  heading: string;
  text: string;
  /** Why the block is not run, from its fence. */
  notRun: string | undefined;
}

function shellBlocks(markdown: string): ShellBlock[] {
  const lines = markdown.split('\n');
  const blocks: ShellBlock[] = [];
  let heading = '';
  for (let index = 0; index < lines.length; index += 1) {
    const line = lines[index] ?? '';
    const fence = /^(`{3,})(.*)$/.exec(line);
    if (!fence) {
      if (/^#+ /.test(line)) heading = line.replace(/^#+ /, '');
      continue;
    }
    const [, ticks = '', info = ''] = fence;
    const end = lines.findIndex((candidate, at) => at > index && candidate.trimEnd() === ticks);
    if (end === -1) throw new Error(`README.md:${index + 1}: a code block that never closes`);
    const [language = '', ...rest] = info.trim().split(/\s+/);
    if (SHELLS.includes(language)) {
      const marker = rest.join(' ');
      const notRun = /^not-run:\s*(\S.*)$/.exec(marker)?.[1];
      if (marker !== '' && notRun === undefined) {
        throw new Error(`README.md:${index + 1}: after its language a shell block's fence may only say "not-run: <why>", not "${marker}"`);
      }
      blocks.push({ line: index + 1, heading, text: `${lines.slice(index + 1, end).join('\n')}\n`, notRun });
    }
    index = end;
  }
  return blocks;
}

const blocks = shellBlocks(README);
const needsGreet = (block: ShellBlock): boolean => /\bgreet\b/.test(block.text) || /examples\/produce\.sh\s*$/m.test(block.text);

let stack: Stack;
let binDir: string;

beforeAll(async () => {
  // The example's worker runs on @sluice/core's compiled dist/, as the README says.
  assertBuildCurrent('packages/core');
  binDir = mkdtempSync(join(tmpdir(), 'sluice-readme-'));
  const cli = join(ROOT, 'packages/cli/src/main.ts');
  writeFileSync(join(binDir, 'sluice'), `#!/bin/sh\nexec '${process.execPath}' --conditions=sluice-source --import tsx '${cli}' "$@"\n`);
  chmodSync(join(binDir, 'sluice'), 0o755);
  stack = await startStack('readme', 2);
}, 90_000);

afterAll(async () => {
  const stackCodes = await stack?.stop();
  if (binDir) rmSync(binDir, { recursive: true, force: true });
  // Without a stack, beforeAll has already failed and said why.
  expect(stackCodes?.every((code) => code === 0) ?? true).toBe(true);
});

/** Starts the JavaScript example's worker as its README says, and waits until the API accepts `greet`. */
async function startExampleWorker(): Promise<ServiceProcess> {
  const worker = ServiceProcess.command('example-worker', process.execPath, ['examples/worker-js/worker.js'], { ...stack.env, WORKER_NAME: 'readme-example' });
  await worker.waitForOutput('worker started');
  await waitFor('the API to accept greet', async () => {
    const { types } = (await (await fetch(`${stack.url}/job-types`)).json()) as { types: { name: string }[] };
    return types.some((type) => type.name === 'greet');
  });
  return worker;
}

/** Runs `script` with `sh -e` from the repository's root; resolves with its exit code and output. */
function runShell(script: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-e', '-c', script], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => {
      output += `\n(killed: still running after ${BLOCK_TIMEOUT_MS} ms)`;
      child.kill('SIGKILL');
    }, BLOCK_TIMEOUT_MS);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('README.md', () => {
  it.each(['examples/worker-js/worker.js', 'examples/worker-js/jobs.js', 'examples/worker-ts/worker.ts', 'examples/worker-js/signup.js'])('shows %s whole, as the file is', (file) => {
    const language = file.endsWith('.ts') ? 'ts' : 'js';
    expect(README).toContain(`\`\`\`${language}\n${readFileSync(join(ROOT, file), 'utf8')}\`\`\`\n`);
  });

  it('runs most of its shell blocks, and says why of each it does not', () => {
    const notRun = blocks.filter((block) => block.notRun !== undefined);
    expect(blocks.length - notRun.length).toBeGreaterThan(2 * notRun.length);
    for (const block of notRun) expect(block.notRun?.length, `README.md:${block.line}`).toBeGreaterThan(10);
  });

  describe.each(blocks.filter((block) => block.notRun === undefined))('README.md:$line, under $heading', (block) => {
    it('exits 0 with sh -e', async () => {
      // Only while a block needs it: sharing the default queue, a worker that serves none of the
      // built-in types hands their jobs on, which slows the blocks that load the queue many times over.
      const exampleWorker = needsGreet(block) ? await startExampleWorker() : undefined;
      const script = block.text.replaceAll('127.0.0.1:3000', `127.0.0.1:${stack.port}`).replaceAll('localhost:3000', `localhost:${stack.port}`);
      const { SLUICE_URL: _url, SLUICE_API_KEY: _key, ...inherited } = process.env;
      try {
        const { code, output } = await runShell(script, { ...inherited, ...stack.env, PATH: `${binDir}:${process.env.PATH ?? ''}` });
        expect(code, `README.md:${block.line} exited ${code}:\n${block.text}\n${output}`).toBe(0);
      } finally {
        if (exampleWorker) expect(await exampleWorker.stop('SIGTERM')).toBe(0);
      }
    }, BLOCK_TIMEOUT_MS + 20_000);
  });
});
