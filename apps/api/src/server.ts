import { messageOf } from '@sluice/core';
import { runApiServer } from './run-server';

runApiServer().catch((error: unknown) => {
  console.error(`api: cannot start: ${messageOf(error)}`);
  process.exit(1);
});
