import type pg from 'pg';
import { createRangePartition, dropDayPartition, inTransaction, partitionsOf } from './partition-ddl.js';
import { DAY_MS, dayOf, type Day } from './partitions.js';

/**
 * The day partitions of `job_metrics`, range-partitioned by its `minute` (a timestamp, unlike the
 * job tables' UUIDv7 ids): a day's partition holds the rollups of that UTC day's minutes.
 */
const METRICS_TABLE = 'job_metrics';

const PARTITION = /^job_metrics_p(\d{4})(\d{2})(\d{2})$/;

/** `job_metrics_p20301231`: the rollups' partition for one day. */
export function metricsPartitionName(day: Day): string {
  return `${METRICS_TABLE}_p${new Date(day * DAY_MS).toISOString().slice(0, 10).replaceAll('-', '')}`;
}

/** The days `job_metrics` has a partition for, by partition name. */
async function listMetricsPartitions(client: pg.ClientBase): Promise<Map<string, Day>> {
  const days = new Map<string, Day>();
  for (const name of await partitionsOf(client, [METRICS_TABLE])) {
    const match = PARTITION.exec(name);
    if (!match) continue;
    const day = dayOf(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])));
    if (metricsPartitionName(day) === name) days.set(name, day);
  }
  return days;
}

/** Creates the rollups' partition for `day`, moving that day's rows out of the default partition. Returns how many moved. */
function createMetricsPartition(client: pg.ClientBase, day: Day): Promise<number> {
  return createRangePartition(client, {
    parent: METRICS_TABLE, partition: metricsPartitionName(day), fallback: `${METRICS_TABLE}_default`, key: 'minute',
    low: new Date(day * DAY_MS).toISOString(), high: new Date((day + 1) * DAY_MS).toISOString(),
  });
}

/** What `maintainMetricsPartitions` did, by partition name. */
export interface MetricsPartitionsRun {
  created: string[];
  dropped: string[];
  /** Rows moved from the default partition into partitions created. */
  moved: number;
}

/**
 * Creates the partitions of today and the `daysAhead` days after, and drops those of days before
 * `firstKeptDay`, and the default partition's rows of those days. Returns the partitions created and dropped, and the rows moved.
 */
export async function maintainMetricsPartitions(
  client: pg.ClientBase, today: Day, daysAhead: number, firstKeptDay: Day,
): Promise<MetricsPartitionsRun> {
  const existing = await listMetricsPartitions(client);
  const run: MetricsPartitionsRun = { created: [], dropped: [], moved: 0 };
  for (let day = today; day <= today + daysAhead; day += 1) {
    if (existing.has(metricsPartitionName(day))) continue;
    run.moved += await createMetricsPartition(client, day);
    run.created.push(metricsPartitionName(day));
  }
  for (const [name, day] of [...existing].sort(([, a], [, b]) => a - b)) {
    if (day >= firstKeptDay) continue;
    await dropDayPartition(client, name);
    run.dropped.push(name);
  }
  // Minutes of days that never had a partition (events recorded long after they happened) wait in the default one: they expire too.
  await inTransaction(client, () => client.query(`DELETE FROM ${METRICS_TABLE}_default WHERE minute < $1`, [new Date(firstKeptDay * DAY_MS).toISOString()]));
  return run;
}
