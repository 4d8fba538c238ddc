import type pg from 'pg';
import { FINISHED_STATES, JOB_STATES } from '../job-state.js';
import { dayStartId, defaultPartitionName, parsePartitionName, partitionName, PARTITIONED_TABLES, type Day, type PartitionedTable } from './partitions.js';

/**
 * Longest a step waits for its lock. Recorder statements queue behind a waiting DDL lock, so a step
 * stuck behind a long query gives up (and is tried again on the next run) rather than stall them.
 */
const LOCK_TIMEOUT = '5s';

const UNFINISHED = JOB_STATES.filter((state) => !FINISHED_STATES.includes(state));

const quoted = (name: string): string => `"${name}"`;

/** A day partition that exists. */
export interface DayPartition {
  table: PartitionedTable;
  day: Day;
  name: string;
}

/** The day partitions of both history tables in the connection's schema. */
export async function listDayPartitions(client: pg.ClientBase): Promise<DayPartition[]> {
  return (await partitionsOf(client, Object.keys(PARTITIONED_TABLES))).flatMap((name) => {
    const parsed = parsePartitionName(name);
    return parsed ? [{ ...parsed, name }] : [];
  });
}

/** The names of the partitions of `parents`, tables of the connection's schema. */
export async function partitionsOf(client: pg.ClientBase, parents: readonly string[]): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT child.relname AS name
     FROM pg_inherits
     JOIN pg_class child ON child.oid = pg_inherits.inhrelid
     JOIN pg_class parent ON parent.oid = pg_inherits.inhparent
     WHERE parent.relnamespace = current_schema()::regnamespace AND parent.relname = ANY($1)`,
    [parents],
  );
  return rows.map((row) => row.name);
}

/**
 * Creates `table`'s partition for `day`. Rows of that day already in the default partition (an id
 * from a clock far off, or written before the day was created) are moved into it in the same
 * transaction, under a lock that keeps new ones out meanwhile: attaching a partition whose rows
 * the default still held would fail. Returns how many rows moved.
 */
export async function createDayPartition(client: pg.ClientBase, table: PartitionedTable, day: Day): Promise<number> {
  return createRangePartition(client, {
    parent: table, partition: partitionName(table, day), fallback: defaultPartitionName(table), key: PARTITIONED_TABLES[table],
    low: dayStartId(day), high: dayStartId(day + 1),
  });
}

/** A range partition to make: its table's name, its own, its table's default partition's, the partition key and bounds. */
export interface RangePartition {
  parent: string;
  partition: string;
  fallback: string;
  key: string;
  low: string;
  high: string;
}

/** Creates a range partition as `createDayPartition` does, moving its rows out of the default one. */
export async function createRangePartition(client: pg.ClientBase, range: RangePartition): Promise<number> {
  const [partition, fallback, key] = [quoted(range.partition), quoted(range.fallback), quoted(range.key)];
  return inTransaction(client, async () => {
    await client.query(`LOCK TABLE ${fallback} IN ACCESS EXCLUSIVE MODE`);
    await client.query(`CREATE TABLE ${partition} (LIKE ${quoted(range.parent)} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`);
    const moved = await client.query(
      `WITH moved AS (DELETE FROM ${fallback} WHERE ${key} >= $1 AND ${key} < $2 RETURNING *) INSERT INTO ${partition} SELECT * FROM moved`,
      [range.low, range.high],
    );
    await client.query(`ALTER TABLE ${quoted(range.parent)} ATTACH PARTITION ${partition} FOR VALUES FROM ('${range.low}') TO ('${range.high}')`);
    return moved.rowCount ?? 0;
  });
}

/** Whether the jobs created on `day` include one that is not finished (it may be scheduled far ahead). */
export async function holdsUnfinishedJobs(client: pg.ClientBase, day: Day): Promise<boolean> {
  const { rows } = await client.query<{ held: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM ${quoted(partitionName('jobs', day))} WHERE status = ANY($1)) AS held`,
    [UNFINISHED],
  );
  return rows[0]?.held === true;
}

/** Drops a day partition with every row in it: no row-by-row DELETE, no dead tuples left to vacuum. */
export async function dropDayPartition(client: pg.ClientBase, name: string): Promise<void> {
  await inTransaction(client, () => client.query(`DROP TABLE IF EXISTS ${quoted(name)}`));
}

/** Runs `work` in a transaction whose lock waits end after LOCK_TIMEOUT. */
export async function inTransaction<T>(client: pg.ClientBase, work: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    await client.query(`SET LOCAL lock_timeout = '${LOCK_TIMEOUT}'`);
    const result = await work();
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
