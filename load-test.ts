/**
 * `npm run load-test -- [options]`: the same program as `sluice load-test` (packages/cli/src/load-test.ts).
 *
 *   npm run load-test                                   # 1,000 noop jobs over 100 connections
 *   npm run load-test -- --jobs 20000 --connections 200 --type sleep --payload '{"ms":10}'
 *   npm run load-test -- --help
 */
import { runLoadTest } from './packages/cli/src/load-test.js';

process.exitCode = await runLoadTest(process.argv.slice(2));
