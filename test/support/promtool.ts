import { spawnSync } from 'node:child_process';

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? (-?[0-9.e+-]+|[Nn][Aa][Nn]|\+Inf|-Inf)( -?\d+)?$/;
const META = /^# (HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*|TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge|histogram|summary|untyped))$/;

/**
 * Checks Prometheus exposition text with `promtool check metrics` (Debian's prometheus package, which
 * `npm test` installs). On a machine without promtool it falls back to checking every line against the text
 * format's grammar (NaN in any case, as promtool reads it), and says so. Returns the problems found, empty when the text passes.
 */
export function promtoolProblems(text: string): string[] {
  const run = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (!run.error) return `${run.stdout}${run.stderr}`.split('\n').filter((line) => line.trim() !== '');
  console.warn('promtool is not installed (Debian: apt install prometheus); checking the text format line by line instead');
  return text
    .split('\n')
    .filter((line) => line !== '' && !META.test(line) && !SAMPLE.test(line))
    .map((line) => `not in the exposition format: ${line}`);
}
