#!/usr/bin/env node
import { runCli } from './cli.js';

// exitCode, not exit(): output still buffered gets written, and `api` and `worker` keep running.
process.exitCode = await runCli(process.argv.slice(2));
