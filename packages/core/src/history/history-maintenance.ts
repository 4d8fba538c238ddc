import type pg from 'pg';
import { messageOf } from '../errors.js';
import { silentLogger, type Logger } from '../logger.js';
import { jitter, sleep } from '../sleep.js';
import { maintainMetricsPartitions, type MetricsPartitionsRun } from './metrics-partitions.js';
import { createDayPartition, dropDayPartition, holdsUnfinishedJobs, listDayPartitions, type DayPartition } from './partition-ddl.js';
import { payloadIndexApply, type PayloadIndexChange } from './payload-index.js';
import { dayOf, partitionName, PARTITIONED_TABLES, type Day, type PartitionedTable } from './partitions.js';

/** Beyond retention, a day holding unfinished jobs is kept at most this much longer: a job may be scheduled up to a year ahead. */
const UNFINISHED_GRACE_DAYS = 366;

/** How soon a run that failed (PostgreSQL down, a lock not granted) is tried again. */
const RETRY_MS = 60_000;

/** Settings of a `HistoryMaintenance`. */
export interface HistoryMaintenanceOptions {
  pool: pg.Pool;
  /** Days a day's history is kept once the whole day is that old. */
  retentionDays: number;
  /** Days the per-minute and per-hour metrics rollups are kept. Default 90. */
  metricsRetentionDays?: number;
  /** Whether jobs keeps the payload index (see payload-index.ts), built or dropped to match. Default true. */
  payloadIndex?: boolean;
  /** Days after today whose partitions are kept ready. Default 7. */
  daysAhead?: number;
  /** Pause between runs. Default 1 h. */
  intervalMs?: number;
  logger?: Logger;
  now?: () => number;
}

/** What one run did, by partition name. */
export interface MaintenanceRun {
  created: string[];
  dropped: string[];
  /** Expired days' partitions kept because a job created that day is not finished. */
  kept: string[];
  /** Rows moved from the default partitions into partitions created. */
  moved: number;
  /** The metrics rollups' day partitions created and dropped, and rows moved into them. */
  metrics: MetricsPartitionsRun;
  /** What became of the payload index. */
  payloadIndex: PayloadIndexChange;
}

const TABLES = Object.keys(PARTITIONED_TABLES) as PartitionedTable[];

/** Both int4 halves of the advisory lock's key; the schema's half lets deployments sharing a database run their own. */
const LOCK_KEY = `hashtext('sluice.history_maintenance'), hashtext(current_schema())`;

/**
 * Keeps the day partitions of the history tables (see partitions.ts): creates today's and the next
 * `daysAhead` days', and drops each day once all of it is more than `retentionDays` old, unless a
 * job created that day is still unfinished, and even then once it is `UNFINISHED_GRACE_DAYS` older,
 * so the history stays bounded. Every worker and API process runs one, on an interval; a PostgreSQL
 * advisory lock lets one process at a time do the work, and the others skip their turn.
 */
export class HistoryMaintenance {
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly daysAhead: number;
  private readonly intervalMs: number;
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(private readonly options: HistoryMaintenanceOptions) {
    this.logger = options.logger ?? silentLogger;
    this.now = options.now ?? Date.now;
    this.daysAhead = options.daysAhead ?? 7;
    this.intervalMs = options.intervalMs ?? 3_600_000;
  }

  /** Runs at once, then every interval, in the background. */
  start(): void {
    this.loop ??= this.run();
  }

  /** Stops the loop, waiting for a run under way to end. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loop;
    this.loop = undefined;
  }

  /** One run; null when another process holds the lock and is doing it. */
  async runOnce(): Promise<MaintenanceRun | null> {
    const client = await this.options.pool.connect();
    let failed = false;
    // A checked-out client emits its connection's errors itself, and an unheard 'error' ends the process;
    // the query under way fails with it all the same.
    const onError = (error: Error): void => this.logger.warn({ err: messageOf(error) }, 'history maintenance lost its connection');
    client.on('error', onError);
    try {
      const { rows } = await client.query<{ locked: boolean }>(`SELECT pg_try_advisory_lock(${LOCK_KEY}) AS locked`);
      if (rows[0]?.locked !== true) return null;
      const run = await this.maintain(client);
      await client.query(`SELECT pg_advisory_unlock(${LOCK_KEY})`);
      return run;
    } catch (error) {
      failed = true;
      throw error;
    } finally {
      // A session lock outlives a failed run on a pooled connection: closing the connection frees it.
      client.off('error', onError);
      client.release(failed);
    }
  }

  /**
   * Also keeps the metrics rollups' day partitions (metrics-partitions.ts), dropped past
   * `metricsRetentionDays`, and the payload index as `payloadIndex` says (payload-index.ts).
   */
  private async maintain(client: pg.PoolClient): Promise<MaintenanceRun> {
    const today = dayOf(this.now());
    const existing = await listDayPartitions(client);
    const run: Omit<MaintenanceRun, 'metrics' | 'payloadIndex'> = { created: [], dropped: [], kept: [], moved: 0 };
    const names = new Set(existing.map((partition) => partition.name));
    for (let day = today; day <= today + this.daysAhead; day += 1) {
      for (const table of TABLES) {
        if (names.has(partitionName(table, day))) continue;
        run.moved += await createDayPartition(client, table, day);
        run.created.push(partitionName(table, day));
      }
    }
    for (const [day, partitions] of expiredDays(existing, today - this.options.retentionDays)) {
      // `jobs` first (TABLES' order): should the second drop fail, the events left behind expire on the next run.
      const expired = TABLES.flatMap((table) => partitions.filter((partition) => partition.table === table));
      const forced = day < today - this.options.retentionDays - UNFINISHED_GRACE_DAYS;
      if (!forced && expired[0]?.table === 'jobs' && (await holdsUnfinishedJobs(client, day))) {
        run.kept.push(...expired.map((partition) => partition.name));
        continue;
      }
      for (const { name } of expired) {
        await dropDayPartition(client, name);
        run.dropped.push(name);
      }
    }
    const metrics = await maintainMetricsPartitions(client, today, this.daysAhead, today - (this.options.metricsRetentionDays ?? 90));
    return { ...run, metrics, payloadIndex: await payloadIndexApply(client, this.options.payloadIndex ?? true) };
  }

  private async run(): Promise<void> {
    const signal = this.stopping.signal;
    while (!signal.aborted) {
      let wait = this.intervalMs;
      try {
        const run = await this.runOnce();
        if (run) this.report(run);
      } catch (error) {
        this.logger.warn({ err: messageOf(error) }, 'history maintenance failed; retrying');
        wait = Math.min(wait, RETRY_MS);
      }
      await sleep(jitter(wait), signal);
    }
  }

  private report(run: MaintenanceRun): void {
    if (run.created.length + run.dropped.length > 0) {
      this.logger.info({ created: run.created, dropped: run.dropped, moved: run.moved }, 'history partitions maintained');
    }
    if (run.metrics.created.length + run.metrics.dropped.length > 0) this.logger.info(run.metrics, 'metrics history partitions maintained');
    if (run.payloadIndex !== 'none') this.logger.info({ index: 'jobs_payload_idx' }, `history payload index ${run.payloadIndex} (HISTORY_PAYLOAD_INDEX)`);
    if (run.kept.length > 0) this.logger.info({ kept: run.kept }, 'history kept past retention: it holds unfinished jobs');
  }
}

/** The existing partitions of each day before `firstKeptDay`, oldest day first. */
function expiredDays(existing: readonly DayPartition[], firstKeptDay: Day): [Day, DayPartition[]][] {
  const byDay = new Map<Day, DayPartition[]>();
  for (const partition of existing) {
    if (partition.day < firstKeptDay) byDay.set(partition.day, [...(byDay.get(partition.day) ?? []), partition]);
  }
  return [...byDay].sort(([a], [b]) => a - b);
}
