import { describe, expect, it } from 'vitest';
import { expectOneLineError, freePort, runScript, sluice } from './support';

const COMMANDS = [
  'migrate', 'api', 'worker', 'jobs add', 'jobs get', 'jobs list', 'jobs retry', 'jobs cancel', 'dlq list', 'dlq count', 'dlq retry',
  'queues list', 'queues pause', 'queues resume', 'stats', 'types', 'load-test',
];

describe('help', () => {
  it('lists every command under sluice --help, and exits 0', async () => {
    const outcome = await sluice(['--help']);
    expect(outcome.code).toBe(0);
    for (const command of COMMANDS) expect(outcome.stdout).toContain(`  ${command}`);
    expect(outcome.stdout).toContain('Exit codes');
  });

  it('explains each command: usage, options, --json, and an example', async () => {
    const outcomes = await Promise.all(COMMANDS.map((command) => sluice([...command.split(' '), '--help'])));
    outcomes.forEach((outcome, index) => {
      const command = COMMANDS[index] ?? '';
      expect(outcome.code, command).toBe(0);
      expect(outcome.stdout, command).toMatch(new RegExp(`^Usage: sluice ${command}[ <]`));
      for (const text of ['Options:', '--json', '-h, --help', 'Example']) expect(outcome.stdout, command).toContain(text);
      expect(outcome.stderr, command).toBe('');
    });
  });

  it('lists a group\'s commands for sluice jobs --help', async () => {
    const outcome = await sluice(['jobs', '--help']);
    expect(outcome.code).toBe(0);
    for (const command of ['add', 'get', 'list', 'retry', 'cancel']) expect(outcome.stdout).toContain(`jobs ${command}`);
    expect(outcome.stdout).not.toContain('dlq list');
  });

  it('says its version for sluice --version', async () => {
    const outcome = await sluice(['--version']);
    expect(outcome).toMatchObject({ code: 0, stdout: 'sluice 0.1.0\n' });
  });

  it('answers sluice help <command> as <command> --help, and takes no inherited name for a command', async () => {
    const group = await sluice(['help', 'jobs']);
    expect(group.code).toBe(0);
    expect(group.stdout).toMatch(/^Usage: sluice jobs <command>/);
    const single = await sluice(['help', 'jobs', 'add']);
    expect(single.stdout).toMatch(/^Usage: sluice jobs add /);
    const inherited = await sluice(['constructor', '--help']);
    expect(inherited.code).toBe(2);
    expect(inherited.stderr).toContain('sluice: unknown command "constructor"');
  });
});

describe.concurrent('a command line that cannot run', () => {
  it('exits 2 with the usage on stderr when no command is given', async () => {
    const outcome = await sluice([]);
    expect(outcome.code).toBe(2);
    expect(outcome.stderr).toContain('Usage: sluice <command>');
    expect(outcome.stdout).toBe('');
  });

  it.each([
    [['frobnicate'], 'unknown command "frobnicate"'],
    [['jobs'], 'Usage: sluice jobs <command>'],
    [['jobs', 'frobnicate'], 'sluice jobs: unknown command "frobnicate"'],
  ])('exits 2 for sluice %j', async (args, mentions) => {
    const outcome = await sluice(args);
    expect(outcome.code).toBe(2);
    expect(outcome.stderr).toContain(mentions);
  });

  const cases: [string[], string[]][] = [
    [['jobs', 'add'], ['sluice jobs add:', 'missing <type>']],
    [['jobs', 'add', 'noop', '--payload', '[1]'], ['--payload takes a JSON object', 'an array']],
    [['jobs', 'add', 'noop', '--payload', '{"a":'], ['--payload is not valid JSON']],
    [['jobs', 'add', 'noop', '--delay-ms', '5', '--run-at', '2026-12-01T09:00:00Z'], ['--delay-ms or --run-at, not both']],
    [['jobs', 'add', 'noop', '--run-at', 'tomorrow'], ['--run-at takes an ISO-8601 date-time', '"tomorrow"']],
    [['jobs', 'add', 'noop', '--priority', 'high'], ['--priority takes a whole number', '"high"']],
    [['jobs', 'add', 'noop', '--max-attempts', '0'], ['--max-attempts takes a whole number of 1 or more', '"0"']],
    [['jobs', 'get', 'a', 'b'], ['unexpected argument "b"']],
    [['jobs', 'list', '--limit', 'ten'], ['--limit takes a whole number of 1 or more']],
    [['jobs', 'list', '--colour', 'red'], ['unknown option --colour', 'see sluice jobs list --help']],
    [['jobs', 'list', '--queue'], ['--queue needs a value']],
    [['jobs', 'list', '--queue', '--json'], ['--queue needs a value']],
    [['jobs', 'list', '--json=yes'], ['--json takes no value']],
    [['jobs', 'list', '--status', 'dead', '--status', 'completed'], ['--status is given twice']],
    [['jobs', 'list', '--url', 'ftp://example.com'], ['--url must make an http(s) URL']],
    [['dlq', 'retry'], ['missing <id>... (or --all)']],
    [['dlq', 'retry', '01936f0e-7d2c-7a4e-9f1b-2b8e5f0c1a77', '--all'], ['job ids or --all, not both']],
    [['queues', 'pause'], ['missing <queue>']],
    [['stats', '--watch', '--interval-ms', '50'], ['--interval-ms takes a whole number of 100 or more']],
    [['stats', '--interval-ms', '500'], ['--interval-ms goes with --watch']],
    [['migrate', 'now'], ['takes no arguments']],
    [['worker'], ['missing <module>']],
    [['worker', './no-such-module.js'], ['no module at', 'no-such-module.js']],
    [['load-test', '--jobs', '5', '--duration', '3'], ['--jobs or --duration, not both']],
  ];
  it.each(cases)('exits 2 with one line for sluice %j', async (args, mentions) => {
    const outcome = await sluice(args);
    expectOneLineError(outcome, 2, ...mentions);
    expect(outcome.stdout).toBe('');
  });
});

describe.concurrent('the load test\'s command line, through npm run load-test\'s entry', () => {
  it.each([
    [['--jobs', 'ten'], ['--jobs takes a whole number of 1 or more, got "ten"']],
    [['--connections', '-3'], ['--connections takes a whole number of 1 or more']],
    [['--duration', 'soon'], ['--duration takes a number of seconds']],
    [['--bogus'], ['unknown option --bogus']],
    [['--payload', '{not json'], ['--payload is not valid JSON']],
    [['--payload', '"text"'], ['--payload takes a JSON object']],
  ])('refuses %j with one line and exit 2, before sending anything', async (args, mentions) => {
    const outcome = await runScript('load-test.ts', args);
    expectOneLineError(outcome, 2, 'sluice load-test:', ...mentions);
  });

  it('prints its help with --help and exits 0', async () => {
    const outcome = await runScript('load-test.ts', ['--help']);
    expect(outcome.code).toBe(0);
    expect(outcome.stdout).toContain('Usage: sluice load-test [options]');
    expect(outcome.stdout).toContain('--jobs N');
    expect(outcome.stderr).toBe('');
  });
});

describe('an API that cannot be reached', () => {
  it('is one line naming the URL, exit 1, whichever way the URL was given', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const viaEnv = await sluice(['stats'], { SLUICE_URL: url });
    expectOneLineError(viaEnv, 1, `cannot reach the Sluice API at ${url}`, 'connection refused');
    const viaPort = await sluice(['jobs', 'list'], { PORT: String(port) });
    expectOneLineError(viaPort, 1, `at ${url} `);
    const viaFlag = await sluice(['queues', 'list', '--url', `${url}/`], { SLUICE_URL: 'http://127.0.0.1:1' });
    expectOneLineError(viaFlag, 1, `at ${url} `);
    const loadTest = await runScript('load-test.ts', ['--jobs', '5'], { SLUICE_URL: url });
    expectOneLineError(loadTest, 1, `cannot reach the Sluice API at ${url}`);
  });
});
