import type pg from 'pg';
import { inTransaction, partitionsOf } from './partition-ddl.js';

/**
 * The GIN index that serves GET /jobs?payload= (`payload @> …`): jsonb_path_ops serves containment
 * only, at about a third of jsonb_ops' size. It is kept or dropped by the history maintenance, as
 * HISTORY_PAYLOAD_INDEX says, rather than by a migration: it costs the recorder CPU on every write,
 * and on a large history a plain CREATE INDEX would stop those writes for the whole build. It is
 * built without blocking them: on the parent alone first (invalid until every partition has its
 * own), then on each partition CONCURRENTLY, each attached to the parent as it is done. A day
 * partition attached later gets its own from the parent. A build cut short is finished on the next
 * run, or cleared away if the index is no longer wanted.
 */
const INDEX = 'jobs_payload_idx';
const DEFINITION = 'USING gin (payload jsonb_path_ops)';

const quoted = (name: string): string => `"${name}"`;

/** Longest one partition's index build or drop may run: a large day's takes minutes, far past the pool's statement limit. */
const BUILD_TIMEOUT_MS = 6 * 3_600_000;

/** Runs `text` (a CONCURRENTLY statement, which cannot be in a transaction) under BUILD_TIMEOUT_MS rather than the pool's limits. */
async function buildStatement(client: pg.ClientBase, text: string): Promise<void> {
  await client.query(`SET statement_timeout = ${BUILD_TIMEOUT_MS}`);
  try {
    // pg reads a query's own query_timeout, though its types declare it for the client only.
    const query: pg.QueryConfig & { query_timeout: number } = { text, query_timeout: BUILD_TIMEOUT_MS + 5_000 };
    await client.query(query);
  } finally {
    await client.query('RESET statement_timeout');
  }
}

/** What `payloadIndexApply` did. */
export type PayloadIndexChange = 'built' | 'dropped' | 'none';

async function indexState(client: pg.ClientBase, name: string): Promise<'missing' | 'valid' | 'invalid'> {
  const { rows } = await client.query<{ valid: boolean }>(
    `SELECT coalesce(i.indisvalid, true) AS valid FROM pg_class c LEFT JOIN pg_index i ON i.indexrelid = c.oid
     WHERE c.relname = $1 AND c.relnamespace = current_schema()::regnamespace`,
    [name],
  );
  if (rows.length === 0) return 'missing';
  return rows[0]?.valid ? 'valid' : 'invalid';
}

/** Builds the payload index where `wanted` and it is missing or unfinished, drops it where not wanted. */
export async function payloadIndexApply(client: pg.ClientBase, wanted: boolean): Promise<PayloadIndexChange> {
  const state = await indexState(client, INDEX);
  if (!wanted) {
    // Dropping the parent's index drops those attached to it; a build cut short may have left others.
    const { rows: leftovers } = await client.query<{ name: string }>(
      `SELECT relname AS name FROM pg_class WHERE relkind = 'i' AND relnamespace = current_schema()::regnamespace AND relname = ANY($1)`,
      [(await partitionsOf(client, ['jobs'])).map((partition) => `${partition}_payload_idx`)],
    );
    if (state === 'missing' && leftovers.length === 0) return 'none';
    if (state !== 'missing') await inTransaction(client, () => client.query(`DROP INDEX ${INDEX}`));
    for (const { name } of leftovers) await buildStatement(client, `DROP INDEX CONCURRENTLY IF EXISTS ${quoted(name)}`);
    return 'dropped';
  }
  if (state === 'valid') return 'none';
  await client.query(`CREATE INDEX IF NOT EXISTS ${INDEX} ON ONLY jobs ${DEFINITION}`);
  const { rows } = await client.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = '${INDEX}'::regclass`,
  );
  const attached = new Set(rows.map((row) => row.name));
  for (const partition of await partitionsOf(client, ['jobs'])) {
    const index = `${partition}_payload_idx`;
    if (attached.has(index)) continue;
    const partitionState = await indexState(client, index);
    if (partitionState === 'invalid') await buildStatement(client, `DROP INDEX CONCURRENTLY ${quoted(index)}`);
    if (partitionState !== 'valid') await buildStatement(client, `CREATE INDEX CONCURRENTLY ${quoted(index)} ON ${quoted(partition)} ${DEFINITION}`);
    await client.query(`ALTER INDEX ${INDEX} ATTACH PARTITION ${quoted(index)}`);
  }
  return 'built';
}
