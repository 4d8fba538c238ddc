export { runCli } from './cli.js';
export { runLoadTest } from './load-test.js';
export type { CommandContext } from './command.js';
