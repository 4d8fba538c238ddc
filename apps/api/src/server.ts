import { messageOf } from '@sluice/core';
import { runApiServer } from './run-server.js';

runApiServer().catch((error: unknown) => {
  console.error(`api: cannot start: ${messageOf(error)}`);
  process.exit(1);
});
