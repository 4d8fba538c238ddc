import type pg from 'pg';

/** One row of the outbox table, as the relay reads it. */
export interface OutboxRow {
  id: string;
  queue: string;
  /** The validated submission: type, payload and every prepared option (see `Queue.enqueueInTransaction`). */
  submission: Record<string, unknown>;
  createdAt: Date;
}

/** A row to insert: its submission's options and payload as JSON text, joined into one jsonb by the insert. */
export interface OutboxInsert {
  id: string;
  queue: string;
  optionsJson: string;
  payloadJson: string;
}

/** How full the outbox is: rows waiting for the relay, and the age of the oldest. */
export interface OutboxBacklog {
  rows: number;
  oldestSeconds: number;
}

/** `schema`'s outbox table, quoted: a caller's client may have any search_path. */
function outboxTable(schema: string): string {
  return `"${schema.replaceAll('"', '""')}".job_outbox`;
}

/**
 * The channel a commit of outbox rows notifies and relays listen on, one per schema; PostgreSQL
 * keeps 63 bytes of a channel name, which schema names (SQL identifiers) fit.
 */
export function outboxChannel(schema: string): string {
  return `sluice_outbox:${schema}`.slice(0, 63);
}

/**
 * Inserts rows through `client` in one statement, with a NOTIFY that PostgreSQL delivers only if
 * and when the caller's transaction commits (and once per transaction, however many inserts).
 */
export async function outboxInsertMany(client: pg.ClientBase, schema: string, rows: readonly OutboxInsert[]): Promise<void> {
  if (rows.length === 0) return;
  await client.query(
    `WITH inserted AS (
       INSERT INTO ${outboxTable(schema)} (id, queue, submission)
       SELECT id, queue, options || jsonb_build_object('payload', payload)
       FROM unnest($1::uuid[], $2::text[], $3::jsonb[], $4::jsonb[]) AS row (id, queue, options, payload)
       RETURNING 1
     )
     SELECT pg_notify($5, '') FROM (SELECT 1 FROM inserted LIMIT 1) AS any_row`,
    [rows.map((row) => row.id), rows.map((row) => row.queue), rows.map((row) => row.optionsJson), rows.map((row) => row.payloadJson), outboxChannel(schema)],
  );
}

interface StoredRow {
  id: string;
  queue: string;
  submission: Record<string, unknown>;
  created_at: Date;
}

const rowOf = (row: StoredRow): OutboxRow => ({ id: row.id, queue: row.queue, submission: row.submission, createdAt: row.created_at });

/**
 * Takes the relay's lock for the caller's transaction and deletes the oldest `limit` committed rows
 * in it, returning them in id order (the order their jobs were made in); none when another relay's
 * transaction holds the lock. The rows are gone only once the transaction commits: rolled back, or
 * its connection lost, they are back for the next relay. One statement, as a batch is latency.
 */
export async function outboxTakeOldest(client: pg.ClientBase, schema: string, limit: number): Promise<OutboxRow[]> {
  const table = outboxTable(schema);
  const { rows } = await client.query<StoredRow>(
    `WITH relay_lock AS MATERIALIZED (SELECT pg_try_advisory_xact_lock(hashtext($1)) AS held)
     DELETE FROM ${table} WHERE id IN (SELECT id FROM ${table}, relay_lock WHERE relay_lock.held ORDER BY id LIMIT $2)
     RETURNING id, queue, submission, created_at`,
    [table, limit],
  );
  return rows.map(rowOf).sort((a, b) => (a.id < b.id ? -1 : 1));
}

/** The committed row of job `id`, or null; through a pool on Sluice's schema (see createPool). */
export async function outboxFind(pool: pg.Pool, id: string): Promise<OutboxRow | null> {
  const { rows } = await pool.query<StoredRow>('SELECT id, queue, submission, created_at FROM job_outbox WHERE id = $1', [id]);
  return rows[0] ? rowOf(rows[0]) : null;
}

/** Rows waiting and the oldest one's age, by PostgreSQL's clock; through a pool on Sluice's schema. */
export async function outboxBacklog(pool: pg.Pool): Promise<OutboxBacklog> {
  const { rows } = await pool.query<{ rows: string; oldest_seconds: number | null }>(
    'SELECT count(*) AS rows, extract(epoch FROM now() - min(created_at))::float8 AS oldest_seconds FROM job_outbox',
  );
  return { rows: Number(rows[0]?.rows ?? 0), oldestSeconds: Math.max(0, rows[0]?.oldest_seconds ?? 0) };
}
