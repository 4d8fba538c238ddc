import pg from 'pg';
import { messageOf } from '../errors.js';
import { silentLogger, type Logger } from '../logger.js';
import type { Queue, UnreadableOutboxRow } from '../queue.js';
import { jitter, sleep } from '../sleep.js';
import { outboxRowProblem } from './outbox-job.js';
import { outboxChannel, outboxTakeOldest, type OutboxRow } from './outbox-repository.js';

/** Rows relayed per transaction. */
export const OUTBOX_BATCH_ROWS = 500;
/** Pause between looks at an empty outbox when no NOTIFY wakes the relay sooner. Default of `pollMs`. */
export const OUTBOX_POLL_MS = 1000;

/** Settings of an `OutboxRelay`. */
export interface OutboxRelayOptions {
  /**
   * A pool on the database of the outbox table, for its batches. Its LISTEN connection is one more,
   * made with the pool's settings: held for good, a pool connection would starve a pool of one.
   */
  pool: pg.Pool;
  /** Schema of the outbox table (DATABASE_SCHEMA). */
  schema: string;
  /** Adds the rows' jobs to Redis, removes their markers once the rows are gone, and sets aside rows it cannot read. */
  queue: Pick<Queue, 'relayOutbox' | 'forgetRelayed' | 'setAsideOutbox'>;
  logger?: Logger;
  /** Rows per batch. Default OUTBOX_BATCH_ROWS. */
  batchRows?: number;
  /** Longest pause between looks when no notification comes. Default OUTBOX_POLL_MS. */
  pollMs?: number;
}

/**
 * Moves committed outbox rows (see `Queue.enqueueInTransaction`) into Redis. Every worker runs one;
 * a transaction-scoped advisory lock lets one relay at a time, so rows go in id order, and is freed
 * by PostgreSQL the moment its holder's transaction ends, by commit, rollback or a dead connection,
 * so a relay killed mid-batch holds nothing up. (Row claims with SKIP LOCKED would let relays run
 * side by side, and add one key's jobs out of order.)
 *
 * One batch is one transaction: take the lock and delete up to `batchRows` rows in id order (one
 * statement), add their jobs to Redis under their own ids, commit, then remove the jobs' relayed
 * markers. A relay that dies after the add and before the commit leaves the rows for the next relay
 * (the delete rolls back), whose add finds the markers (or the job hashes) and adds nothing: each job
 * is added exactly once.
 *
 * The relay sleeps until a commit's NOTIFY on the schema's channel wakes it, or `pollMs` passes (a
 * notification lost with a connection is then waited out). The outbox is bounded by the relay
 * draining it as fast as Redis takes jobs; its size and oldest row are exported as metrics.
 */
export class OutboxRelay {
  private readonly logger: Logger;
  private readonly batchRows: number;
  private readonly pollMs: number;
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;
  private listener: pg.Client | undefined;
  /** Set by a notification; the next wait returns at once. */
  private notified = false;
  private wake: (() => void) | undefined;
  private failing = false;

  constructor(private readonly options: OutboxRelayOptions) {
    this.logger = options.logger ?? silentLogger;
    this.batchRows = options.batchRows ?? OUTBOX_BATCH_ROWS;
    this.pollMs = options.pollMs ?? OUTBOX_POLL_MS;
  }

  /** Starts relaying in the background. */
  start(): void {
    this.loop ??= this.run();
  }

  /** Stops the loop once its batch is done, and gives back the listening connection. */
  async stop(): Promise<void> {
    this.stopping.abort();
    this.wake?.();
    await this.loop;
    this.loop = undefined;
    await this.unlisten();
  }

  /**
   * Relays one batch if no other relay holds the lock; a row it cannot read (see outboxRowProblem)
   * is set aside in Redis with why, in the same transaction, rather than block every row behind it.
   * Returns how many rows it took (0 while another relay holds the lock): a full batch means more may wait.
   */
  async runOnce(): Promise<number> {
    const { pool, schema, queue } = this.options;
    const client = await pool.connect();
    // A checked-out client has no error listener of the pool's, and the batch holds one across its
    // Redis call: a connection lost meanwhile (a restart, pg_terminate_backend) would be an unhandled
    // 'error' event, which ends the process. Listened to, it fails the batch's next statement instead.
    client.on('error', ignoreLostConnection);
    let rows: OutboxRow[];
    let readable: OutboxRow[];
    let unreadable: UnreadableOutboxRow[];
    let setAsideIn = '';
    try {
      await client.query('BEGIN');
      rows = await outboxTakeOldest(client, schema, this.batchRows);
      ({ readable, unreadable } = sortOut(rows));
      await queue.relayOutbox(readable);
      if (unreadable.length > 0) setAsideIn = await queue.setAsideOutbox(unreadable);
      await client.query('COMMIT');
      client.removeListener('error', ignoreLostConnection);
      client.release();
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      // A connection in an unknown state is closed rather than handed to the next user.
      client.release(error instanceof Error ? error : true);
      throw error;
    }
    if (unreadable.length > 0) {
      this.logger.error({ rows: unreadable.map(({ row: { id }, problem }) => ({ id, problem })), stream: setAsideIn },
        'outbox rows the relay cannot read are set aside in Redis; the other rows are relayed');
    }
    if (readable.length > 0) await this.forget(readable);
    return rows.length;
  }

  /** Removes a committed batch's markers; should Redis fail now, they expire on their own (OUTBOX_RELAYED_MARKER_MS). */
  private async forget(rows: readonly OutboxRow[]): Promise<void> {
    try {
      await this.options.queue.forgetRelayed(rows);
    } catch (error) {
      this.logger.warn({ err: messageOf(error), rows: rows.length }, 'outbox relay relayed a batch but could not remove its relayed markers; they expire on their own');
    }
  }

  private async run(): Promise<void> {
    const signal = this.stopping.signal;
    while (!signal.aborted) {
      let relayed = 0;
      try {
        await this.listen();
        relayed = await this.runOnce();
        this.recovered();
      } catch (error) {
        this.failed(error);
        await sleep(jitter(1000), signal);
        continue;
      }
      if (relayed < this.batchRows) await this.nextWake();
    }
  }

  /** Resolves on a notification (or one that came during the batch), after `pollMs`, or on stop. */
  private async nextWake(): Promise<void> {
    if (this.notified || this.stopping.signal.aborted) {
      this.notified = false;
      return;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.wake?.(), this.pollMs);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
    });
    this.notified = false;
  }

  /** Holds a connection that LISTENs on the schema's channel, unless one does already. */
  private async listen(): Promise<void> {
    if (this.listener) return;
    const client = new pg.Client(this.options.pool.options);
    client.on('notification', () => {
      this.notified = true;
      this.wake?.();
    });
    // A lost connection is replaced at the next batch; until then the poll stands in.
    client.on('error', (error) => {
      this.logger.warn({ err: messageOf(error) }, 'outbox relay lost its LISTEN connection; polling until it is back');
      if (this.listener === client) void this.unlisten();
    });
    try {
      await client.connect();
      await client.query(`LISTEN "${outboxChannel(this.options.schema).replaceAll('"', '""')}"`);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    this.listener = client;
  }

  private async unlisten(): Promise<void> {
    const client = this.listener;
    this.listener = undefined;
    await client?.end().catch(() => undefined);
  }

  private failed(error: unknown): void {
    if (!this.failing) this.logger.warn({ err: messageOf(error) }, 'outbox relay cannot relay; committed jobs wait in PostgreSQL');
    this.failing = true;
  }

  private recovered(): void {
    if (this.failing) this.logger.info({}, 'outbox relay relaying again');
    this.failing = false;
  }
}

/** Listens for a batch connection's loss, which its next statement then reports (see runOnce). */
function ignoreLostConnection(): void {}

/** A batch's rows the relay can add, and those it sets aside with why. */
function sortOut(rows: readonly OutboxRow[]): { readable: OutboxRow[]; unreadable: UnreadableOutboxRow[] } {
  const readable: OutboxRow[] = [];
  const unreadable: UnreadableOutboxRow[] = [];
  for (const row of rows) {
    const problem = outboxRowProblem(row);
    if (problem === null) readable.push(row);
    else unreadable.push({ row, problem });
  }
  return { readable, unreadable };
}
