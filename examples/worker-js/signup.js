import console from 'node:console';
import process from 'node:process';
import { closeRedis, createPool, createRedis, JobTypeCatalog, loadConfig, Queue, waitForRedis } from '@sluice/core';

// Signs someone up and greets them: their row and their greet job commit together, or neither exists.
const name = process.argv[2] ?? 'Ada';
const config = loadConfig(process.env);
const redis = createRedis(config.redis);
await waitForRedis(redis, 5000);
const types = new JobTypeCatalog({ redis, prefix: config.redis.prefix });
await types.start();
const queue = new Queue({ redis, redisConfig: config.redis, queueConfig: config.queue, registry: types, schema: config.postgres.schema });
// Your application's own pool; this one's connections use Sluice's schema, where the example keeps its table.
const pool = createPool(config.postgres);

const client = await pool.connect();
try {
  await client.query('BEGIN');
  const [job] = await queue.enqueueInTransaction(client, [{ type: 'greet', payload: { name } }]);
  console.log(`job ${job.id} enqueued in the transaction`);
  await client.query('CREATE TABLE IF NOT EXISTS signups (name text PRIMARY KEY)');
  // A second signup of the same name fails here, and the rollback takes its job with it.
  await client.query('INSERT INTO signups (name) VALUES ($1)', [name]);
  await client.query('COMMIT');
  console.log(`${name} signed up; a worker's outbox relay adds the job to Redis`);
} catch (error) {
  await client.query('ROLLBACK');
  console.error(`not signed up, and no job: ${error.message}`);
  process.exitCode = 1;
} finally {
  client.release();
  await pool.end();
  types.stop();
  await closeRedis(redis);
}
