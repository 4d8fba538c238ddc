import process from 'node:process';
import { createWorker, defineJobType } from '@sluice/core';

const greet = defineJobType({
  name: 'greet',
  description: 'Greets someone by name.',
  // A JSON schema: the API refuses a payload that does not match it, before the job is queued.
  payload: {
    type: 'object',
    properties: { name: { type: 'string', minLength: 1, maxLength: 100 } },
    required: ['name'],
    additionalProperties: false,
  },
});

// Configured by the environment, like the stock worker: REDIS_URL, DATABASE_URL, QUEUES, CONCURRENCY…
const sluice = await createWorker({
  types: [greet],
  handlers: {
    greet: async ({ payload, progress }) => {
      await progress({ step: 'composing' });
      return { greeting: `Hello, ${payload.name}!` };
    },
  },
});

// Finish the jobs in flight and record their history before exiting; a second signal exits at once.
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => void sluice.close());
