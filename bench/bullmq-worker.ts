/**
 * The BullMQ side of bench/compare.ts: one worker process running no-op jobs at the given
 * concurrency, with BullMQ's defaults otherwise. Env: REDIS_URL, BULLMQ_PREFIX, QUEUE, CONCURRENCY.
 */
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';

const connection = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
const worker = new Worker(process.env.QUEUE ?? 'bench', async () => undefined, {
  connection,
  prefix: process.env.BULLMQ_PREFIX ?? 'bull',
  concurrency: Number(process.env.CONCURRENCY ?? 50),
});
await worker.waitUntilReady();
console.log('worker started');

const stop = async (): Promise<void> => {
  await worker.close();
  connection.disconnect();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
