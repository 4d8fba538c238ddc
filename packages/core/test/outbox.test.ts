import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { Type } from 'typebox';
import {
  closeRedis, createRedis, createWorker, defineJobType, InvalidJobError, jobsFindWithHistory, JobTypeRegistry, outboxBacklog, OutboxRelay,
  layoutsKey, OUTBOX_SET_ASIDE_MAX_SUBMISSION, outboxSetAsideKey, partitionOfId, Queue, queueKeys, queuePartition, RedisUnavailableError, waitForRedis, type BulkJob, type ScriptedRedis, type SluiceWorker,
} from '@sluice/core';
import { createTestDatabase, dropRedisKeys, isolatedConfig, waitFor, type TestDatabase } from '../../../test/support/context';

const config = isolatedConfig('outbox');
const echo = defineJobType({ name: 'echo', payload: Type.Object({ value: Type.Number() }, { additionalProperties: false }) });
const registry = new JobTypeRegistry([echo]);
const keys = queueKeys(config.redis.prefix, 'default');

let database: TestDatabase;
let redis: ScriptedRedis;
let queue: Queue;

/** `jobs` enqueued through `on` in a transaction of their own on `pool`, committed; their ids. */
async function committed(jobs: readonly BulkJob[], on: Queue = queue, pool = database.pool): Promise<string[]> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const added = await on.enqueueInTransaction(client, jobs);
    await client.query('COMMIT');
    return added.map(({ id }) => id);
  } finally {
    client.release();
  }
}

const echoes = (count: number): BulkJob[] => Array.from({ length: count }, (_, value) => ({ type: 'echo', payload: { value } }));

function relay(batchRows?: number, on: Queue = queue): OutboxRelay {
  return new OutboxRelay({ pool: database.pool, schema: config.postgres.schema, queue: on, ...(batchRows !== undefined && { batchRows }) });
}

async function outboxRows(): Promise<number> {
  return (await outboxBacklog(database.pool)).rows;
}

beforeAll(async () => {
  database = await createTestDatabase(config);
  redis = createRedis(config.redis);
  await waitForRedis(redis, 5000);
  queue = new Queue({ redis, redisConfig: config.redis, queueConfig: config.queue, registry, schema: config.postgres.schema });
});

afterAll(async () => {
  await closeRedis(redis);
  await dropRedisKeys(config);
  await database?.drop();
});

describe('enqueueInTransaction', () => {
  it('returns the ids at once, inside the caller\'s open transaction, which it neither commits nor ends', async () => {
    const client = await database.pool.connect();
    try {
      await client.query('BEGIN');
      const added = await queue.enqueueInTransaction(client, echoes(2));
      expect(added.map(({ queue: name, type }) => [name, type])).toEqual([['default', 'echo'], ['default', 'echo']]);
      // Another connection sees nothing yet: the transaction is still open, and still the caller's.
      expect(await outboxRows()).toBe(0);
      const { rows } = await client.query<{ id: string }>(`SELECT id FROM "${config.postgres.schema}".job_outbox ORDER BY id`);
      expect(rows.map(({ id }) => id)).toEqual(added.map(({ id }) => id).sort());
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
  });

  it('rolled back: the job never exists, in the outbox, in Redis or in the history', async () => {
    const client = await database.pool.connect();
    let ids: string[];
    try {
      await client.query('BEGIN');
      ids = (await queue.enqueueInTransaction(client, echoes(3))).map(({ id }) => id);
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
    expect(await relay().runOnce()).toBe(0);
    expect(await outboxRows()).toBe(0);
    for (const id of ids) {
      expect(await queue.getJob(id)).toBeNull();
      expect(await jobsFindWithHistory(database.db, id)).toBeNull();
    }
  });

  it('inserts into Sluice\'s schema whatever the search_path of the caller\'s client', async () => {
    const elsewhere = new pg.Pool({ connectionString: config.postgres.url, max: 1, options: '-c search_path=public' });
    try {
      const [id] = await committed(echoes(1), queue, elsewhere);
      expect(await outboxRows()).toBe(1);
      expect(await relay().runOnce()).toBe(1);
      expect(await queue.getJob(id as string)).toMatchObject({ status: 'pending' });
    } finally {
      await elsewhere.end();
    }
  });

  it('refuses an invalid job with the same error as addBulk, and inserts none of the submission', async () => {
    const jobs: BulkJob[] = [{ type: 'echo', payload: { value: 1 } }, { type: 'echo', payload: { value: 'one' } }];
    const expected = await queue.addBulk(jobs).then(() => null, (error: unknown) => error);
    expect(expected).toBeInstanceOf(InvalidJobError);
    const client = await database.pool.connect();
    try {
      await client.query('BEGIN');
      const refused = await queue.enqueueInTransaction(client, jobs).then(() => null, (error: unknown) => error);
      expect(refused).toBeInstanceOf(InvalidJobError);
      expect((refused as Error).message).toBe((expected as Error).message);
      const tooMany = echoes(1001);
      const expectedLimit = await queue.addBulk(tooMany).then(() => null, (error: unknown) => error);
      const refusedLimit = await queue.enqueueInTransaction(client, tooMany).then(() => null, (error: unknown) => error);
      expect(refusedLimit).toBeInstanceOf(InvalidJobError);
      expect((refusedLimit as Error).message).toBe((expectedLimit as Error).message);
      // The transaction is still usable: nothing was sent that could have aborted it.
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    expect(await outboxRows()).toBe(0);
  });
});

describe('OutboxRelay', () => {
  it('adds committed jobs to Redis under their own ids, with their options, and deletes their rows', async () => {
    const runAt = new Date(Date.now() + 3_600_000);
    const [plain, later, timed] = await committed([
      { type: 'echo', payload: { value: 7 }, priority: 5, maxAttempts: 2, group: 'tenant-a' },
      { type: 'echo', payload: { value: 8 }, delay: 60_000 },
      { type: 'echo', payload: { value: 9 }, runAt },
    ]);
    expect(await relay().runOnce()).toBe(3);
    expect(await queue.getJob(timed as string)).toMatchObject({ status: 'scheduled', runAt: runAt.toISOString() });
    expect(await outboxRows()).toBe(0);
    expect(await queue.getJob(plain as string)).toMatchObject({ status: 'pending', payload: { value: 7 }, priority: 5, maxAttempts: 2, group: 'tenant-a' });
    expect(await queue.getJob(later as string)).toMatchObject({ status: 'scheduled', payload: { value: 8 } });
    expect(await redis.exists(keys.outboxRelayed(plain as string), keys.outboxRelayed(later as string))).toBe(0);
  });

  it('adds a job whose runAt has passed by the time it is relayed as ready now', async () => {
    const [due] = await committed([{ type: 'echo', payload: { value: 3 }, runAt: new Date(Date.now() - 60_000) }]);
    expect(await relay().runOnce()).toBe(1);
    const job = await queue.getJob(due as string);
    expect(job?.status).toBe('pending');
    expect(Date.parse(job?.runAt as string)).toBeGreaterThanOrEqual(Date.parse(job?.createdAt as string));
  });

  it('applies idempotency keys when it adds: a job whose key names an earlier job is not added, and the earlier job stands', async () => {
    const first = await queue.add('echo', { value: 1 }, { idempotencyKey: 'outbox-once' });
    const [repeat] = await committed([{ type: 'echo', payload: { value: 2 }, idempotencyKey: 'outbox-once' }]);
    expect(await relay().runOnce()).toBe(1);
    expect(await outboxRows()).toBe(0);
    expect(await queue.getJob(repeat as string)).toBeNull();
    expect(await queue.getJob(first.id)).toMatchObject({ payload: { value: 1 }, idempotencyKey: 'outbox-once' });
  });

  /** The backends of relays listening on this file's schema's channel. */
  const listeners = async (): Promise<number[]> => {
    const { rows } = await database.pool.query<{ pid: number }>(
      "SELECT pid FROM pg_stat_activity WHERE query LIKE 'LISTEN %' AND query LIKE '%' || $1 || '%'", [config.postgres.schema],
    );
    return rows.map(({ pid }) => pid);
  };

  it('wakes on the commit\'s notification, not its poll', async () => {
    const woken = new OutboxRelay({ pool: database.pool, schema: config.postgres.schema, queue, pollMs: 600_000 });
    woken.start();
    try {
      // Once it listens, its first look at the empty outbox is over and it waits for a notification.
      await waitFor('the relay to listen', async () => (await listeners()).length === 1);
      const [id] = await committed(echoes(1));
      await waitFor('the job to reach Redis', async () => (await queue.getJob(id as string))?.status === 'pending', 5000);
    } finally {
      await woken.stop();
    }
  });

  it('polls while its LISTEN connection is lost, and listens again on a new one', async () => {
    const polling = new OutboxRelay({ pool: database.pool, schema: config.postgres.schema, queue, pollMs: 200 });
    polling.start();
    try {
      const [lost] = await waitFor('the relay to listen', async () => ((await listeners()).length === 1 ? listeners() : null));
      await database.pool.query('SELECT pg_terminate_backend($1)', [lost]);
      const [id] = await committed(echoes(1));
      await waitFor('the job to reach Redis', async () => (await queue.getJob(id as string))?.status === 'pending', 5000);
      await waitFor('the relay to listen again', async () => {
        const now = await listeners();
        return now.length === 1 && now[0] !== lost;
      });
    } finally {
      await polling.stop();
    }
  });

  it('relays at most its batch of rows per transaction, oldest first', async () => {
    const ids = await committed(echoes(25));
    const batches: number[] = [];
    const bounded = relay(10);
    for (let relayed = -1; relayed !== 0;) batches.push((relayed = await bounded.runOnce()));
    expect(batches).toEqual([10, 10, 5, 0]);
    expect((await Promise.all(ids.map((id) => queue.getJob(id)))).every((job) => job?.status === 'pending')).toBe(true);
  });

  it('adds a job once when a relay died after adding it and before deleting its row, even once its job hash has expired', async () => {
    const ids = await committed(echoes(3));
    const streamLength = await redis.xlen(keys.stream);
    // What a relay that died between the add and the DELETE leaves: the jobs in Redis, the rows in place.
    const client = await database.pool.connect();
    try {
      const { rows } = await client.query(`SELECT id, queue, submission, created_at AS "createdAt" FROM "${config.postgres.schema}".job_outbox`);
      await queue.relayOutbox(rows);
    } finally {
      client.release();
    }
    // As JOB_RETENTION_MS would once they finished.
    await Promise.all(ids.map((id) => redis.del(keys.job(id))));
    expect(await relay().runOnce()).toBe(3);
    expect(await outboxRows()).toBe(0);
    expect(await redis.xlen(keys.stream)).toBe(streamLength + 3);
    for (const id of ids) expect(await redis.exists(keys.job(id), keys.outboxRelayed(id))).toBe(0);
  });

  it('whose connection PostgreSQL ends between the add and the commit throws, with no unhandled error event to crash its process, and the next batch adds nothing twice', async () => {
    const ids = await committed(echoes(5));
    const streamLength = await redis.xlen(keys.stream);
    const cut = new OutboxRelay({
      pool: database.pool, schema: config.postgres.schema,
      queue: {
        relayOutbox: async (rows) => {
          await queue.relayOutbox(rows);
          // The batch's own connection: the only one inside a transaction on this schema's outbox.
          await database.pool.query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE state = 'idle in transaction' AND query LIKE '%' || $1 || '%job_outbox%'",
            [config.postgres.schema],
          );
        },
        forgetRelayed: (rows) => queue.forgetRelayed(rows),
        setAsideOutbox: (rows) => queue.setAsideOutbox(rows),
      },
    });
    await expect(cut.runOnce()).rejects.toThrow();
    expect(await outboxRows()).toBe(5);
    expect(await redis.xlen(keys.stream)).toBe(streamLength + 5);
    expect(await relay().runOnce()).toBe(5);
    expect(await outboxRows()).toBe(0);
    expect(await redis.xlen(keys.stream)).toBe(streamLength + 5);
    for (const id of ids) expect(await redis.exists(keys.outboxRelayed(id))).toBe(0);
  });

  it('whose markers cannot be removed after its commit reports the batch relayed: the rows are gone, and the markers expire on their own', async () => {
    const ids = await committed(echoes(2));
    const forgetful = new OutboxRelay({
      pool: database.pool, schema: config.postgres.schema,
      queue: {
        relayOutbox: (rows) => queue.relayOutbox(rows),
        forgetRelayed: () => Promise.reject(new RedisUnavailableError(new Error('connection lost'))),
        setAsideOutbox: (rows) => queue.setAsideOutbox(rows),
      },
    });
    expect(await forgetful.runOnce()).toBe(2);
    expect(await outboxRows()).toBe(0);
    for (const id of ids) expect(await redis.pttl(keys.outboxRelayed(id))).toBeGreaterThan(0);
  });

  it('two relays at once add every job exactly once', async () => {
    const ids = [...(await committed(echoes(1000))), ...(await committed(echoes(1000)))];
    const streamLength = await redis.xlen(keys.stream);
    const other = createRedis(config.redis);
    try {
      await waitForRedis(other, 5000);
      const otherQueue = new Queue({ redis: other, redisConfig: config.redis, queueConfig: config.queue, registry, schema: config.postgres.schema });
      const drain = async (relayer: OutboxRelay): Promise<number> => {
        let total = 0;
        while ((await outboxRows()) > 0) total += await relayer.runOnce();
        return total;
      };
      const totals = await Promise.all([drain(relay(100)), drain(relay(100, otherQueue))]);
      expect(totals[0] + totals[1]).toBe(2000);
    } finally {
      await closeRedis(other);
    }
    expect(await redis.xlen(keys.stream)).toBe(streamLength + 2000);
    const statuses = await Promise.all(ids.map((id) => redis.hget(keys.job(id), 'status')));
    expect(statuses.every((status) => status === 'pending')).toBe(true);
  });
});

describe('OutboxRelay across deployments and layouts', () => {
  it('adds each job to the partition its id names, though the relay\'s process splits the queue otherwise, and records that layout', async () => {
    const fourWays = new Queue({
      redis, redisConfig: config.redis, queueConfig: { ...config.queue, partitions: { default: 4 } }, registry, schema: config.postgres.schema,
    });
    const ids = await committed(echoes(8), fourWays);
    expect(config.queue.partitions.default ?? 1).toBe(1);
    expect(await relay().runOnce()).toBe(8);
    const places = ids.map((id) => partitionOfId(id));
    expect(new Set(places.map((place) => `${place?.index}/${place?.count}`)).size).toBe(4);
    for (const [position, id] of ids.entries()) {
      const { count, index } = places[position] as { count: number; index: number };
      expect(await redis.hget(queuePartition(config.redis.prefix, 'default', count, index).keys.job(id), 'status')).toBe('pending');
    }
    expect(await redis.smembers(layoutsKey(config.redis.prefix))).toContain('default:4');
  });

  it('a relay of another schema neither takes this schema\'s rows nor waits for this schema\'s lock', async () => {
    const otherConfig = isolatedConfig('outbox_other');
    const other = await createTestDatabase(otherConfig);
    let release = (): void => undefined;
    let stuckRun: Promise<number> | undefined;
    try {
      const otherQueue = new Queue({ redis, redisConfig: otherConfig.redis, queueConfig: otherConfig.queue, registry, schema: otherConfig.postgres.schema });
      const [mine] = await committed(echoes(1));
      const [theirs] = await committed(echoes(1), otherQueue, other.pool);
      // This schema's relay holds its lock, its batch stopped inside its transaction.
      const held = new Promise<void>((resolve) => (release = resolve));
      let entered = (): void => undefined;
      const inside = new Promise<void>((resolve) => (entered = resolve));
      const stuck = new OutboxRelay({
        pool: database.pool, schema: config.postgres.schema,
        queue: {
          relayOutbox: async (rows) => { entered(); await held; await queue.relayOutbox(rows); },
          forgetRelayed: (rows) => queue.forgetRelayed(rows),
          setAsideOutbox: (rows) => queue.setAsideOutbox(rows),
        },
      });
      stuckRun = stuck.runOnce();
      await inside;
      expect(await relay().runOnce()).toBe(0);
      expect(await new OutboxRelay({ pool: other.pool, schema: otherConfig.postgres.schema, queue: otherQueue }).runOnce()).toBe(1);
      expect(await otherQueue.getJob(theirs as string)).toMatchObject({ status: 'pending' });
      expect(await queue.getJob(mine as string)).toBeNull();
      release();
      expect(await stuckRun).toBe(1);
      expect(await queue.getJob(mine as string)).toMatchObject({ status: 'pending' });
    } finally {
      release();
      await stuckRun?.catch(() => undefined);
      await dropRedisKeys(otherConfig);
      await other.drop();
    }
  });
});

describe('a worker runs committed jobs', () => {
  let worker: SluiceWorker;
  const runs = new Map<string, number>();

  beforeAll(async () => {
    await dropRedisKeys(config);
    worker = await createWorker({
      types: [echo],
      handlers: { echo: ({ id }: { id: string }) => void runs.set(id, (runs.get(id) ?? 0) + 1) },
      config,
    });
  });

  afterAll(async () => {
    await worker?.close(1000);
  });

  it('committed: its relay adds the jobs, woken by the commit, and each runs once and completes', async () => {
    const ids = await committed(echoes(20));
    await waitFor('every committed job to complete', async () =>
      (await Promise.all(ids.map((id) => queue.getJob(id)))).every((job) => job?.status === 'completed'));
    expect(ids.map((id) => runs.get(id))).toEqual(ids.map(() => 1));
    // The relay commits after its add, which the jobs can outrun.
    await waitFor('the relay to commit', async () => (await outboxRows()) === 0);
  });
});

describe('an outbox row the relay cannot read', () => {
  it('is set aside in Redis with why, and the rows after it are relayed', async () => {
    // Rows written by hand or by another version: older ids than any job enqueued since, so first in line.
    const unreadable = [
      { id: '00000000-0000-7000-8000-000000000001', queue: 'default', submission: { type: 'echo' } },
      { id: '00000000-0000-7000-8000-000000000002', queue: 'default', submission: 'echo' },
      { id: '00000000-0000-7000-8000-000000000003', queue: '{}', submission: { type: 'echo', payload: {}, maxAttempts: 1, priority: 0, due: { delayMs: 0 }, idempotencyKey: '', group: '' } },
      // A big one: an entry keeps the start of its submission, which bounds the stream in bytes.
      { id: '00000000-0000-7000-8000-000000000004', queue: 'default', submission: { type: 'echo', payload: 'x'.repeat(100_000) } },
    ];
    for (const row of unreadable) {
      await database.pool.query('INSERT INTO job_outbox (id, queue, submission) VALUES ($1, $2, $3::jsonb)', [row.id, row.queue, JSON.stringify(row.submission)]);
    }
    const ids = await committed(echoes(3));
    const relay = new OutboxRelay({ pool: database.pool, schema: config.postgres.schema, queue });

    expect(await relay.runOnce()).toBe(7);
    expect((await outboxBacklog(database.pool)).rows).toBe(0);
    for (const id of ids) expect(await queue.getJob(id)).toMatchObject({ status: 'pending', type: 'echo' });
    const entries = await redis.xrange(outboxSetAsideKey(config.redis.prefix), '-', '+');
    const fields = entries.map(([, values]) => Object.fromEntries(values.reduce<[string, string][]>(
      (pairs, value, index) => (index % 2 === 0 ? [...pairs, [value, values[index + 1] as string]] : pairs), [],
    )));
    expect(fields.map(({ id }) => id)).toEqual(unreadable.map(({ id }) => id));
    expect(fields.map(({ problem }) => problem)).toEqual([
      'submission.payload must be an object',
      'submission must be an object',
      'queue must match ^[A-Za-z0-9_.:-]{1,64}$ (got "{}")',
      'submission.payload must be an object',
    ]);
    expect(JSON.parse(fields[0]?.submission as string)).toEqual({ type: 'echo' });
    expect(fields[0]?.truncatedFrom).toBeUndefined();
    const big = JSON.stringify(unreadable[3]?.submission);
    expect(fields[3]).toMatchObject({ submission: big.slice(0, OUTBOX_SET_ASIDE_MAX_SUBMISSION), truncatedFrom: String(big.length) });
    for (const row of unreadable) expect(await queue.getJob(row.id)).toBeNull();
  });

  it('holding the id of a job already in Redis, leaves that job as it is and adds nothing', async () => {
    const existing = await queue.add('echo', { value: 1 });
    const streamLength = await redis.xlen(keys.stream);
    const submission = { type: 'echo', payload: { value: 2 }, maxAttempts: 1, priority: 0, due: { delayMs: 0 }, idempotencyKey: '', group: '' };
    await database.pool.query('INSERT INTO job_outbox (id, queue, submission) VALUES ($1, $2, $3::jsonb)', [existing.id, 'default', JSON.stringify(submission)]);
    expect(await relay().runOnce()).toBe(1);
    expect(await outboxRows()).toBe(0);
    expect(await queue.getJob(existing.id)).toMatchObject({ payload: { value: 1 }, status: 'pending', history: [{ status: 'pending' }] });
    expect(await redis.xlen(keys.stream)).toBe(streamLength);
  });
});

describe('a worker whose PostgreSQL pool holds one connection (DATABASE_POOL_SIZE=1)', () => {
  let worker: SluiceWorker | undefined;

  afterAll(async () => {
    await worker?.close(1000);
  });

  it('relays committed jobs and records their history: the relay\'s LISTEN connection is not one of the pool\'s', async () => {
    worker = await createWorker({
      types: [echo],
      handlers: { echo: () => undefined },
      config: { ...config, postgres: { ...config.postgres, poolSize: 1 } },
    });
    const [id] = await committed(echoes(1));
    await waitFor('the job to complete', async () => (await queue.getJob(id as string))?.status === 'completed');
    const stored = await waitFor('its history to be recorded', async () => {
      const job = await jobsFindWithHistory(database.db, id as string);
      return job?.status === 'completed' ? job : null;
    });
    expect(stored.history.map(({ status }) => status)).toEqual(expect.arrayContaining(['pending', 'completed']));
  });
});
