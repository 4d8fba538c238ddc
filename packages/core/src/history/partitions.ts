/**
 * How the history tables are cut into days. Both are range-partitioned by job id (`jobs` by `id`,
 * `job_events` by `job_id`): a job id is a UUIDv7, whose first 48 bits are its creation time in
 * milliseconds, so the UUID of a day's first millisecond bounds that day, and a job's row and all
 * its events live in the partitions of the day it was created.
 */

/** The partitioned tables and the column each is partitioned by. */
export const PARTITIONED_TABLES = { jobs: 'id', job_events: 'job_id' } as const;

export type PartitionedTable = keyof typeof PARTITIONED_TABLES;

export const DAY_MS = 86_400_000;

/** A UTC day, counted in whole days since the Unix epoch. */
export type Day = number;

/** The UTC day holding the instant `ms`. */
export function dayOf(ms: number): Day {
  return Math.floor(ms / DAY_MS);
}

/** The last day whose end a UUIDv7's 48-bit time still expresses: later days have no bounds. */
export const LAST_DAY: Day = Math.floor((2 ** 48 - 1) / DAY_MS) - 1;

/** The smallest UUID of the day: every UUIDv7 made from its first millisecond on sorts at or after it. */
export function dayStartId(day: Day): string {
  const hex = (day * DAY_MS).toString(16).padStart(12, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8)}-0000-0000-000000000000`;
}

/** `jobs_p20301231`: the table's partition for one day. */
export function partitionName(table: PartitionedTable, day: Day): string {
  return `${table}_p${new Date(day * DAY_MS).toISOString().slice(0, 10).replaceAll('-', '')}`;
}

/** The partition that takes ids outside every day created. */
export function defaultPartitionName(table: PartitionedTable): string {
  return `${table}_default`;
}

const DAY_PARTITION = /^(jobs|job_events)_p(\d{4})(\d{2})(\d{2})$/;

/** The table and day a partition name stands for, or undefined for any other name. */
export function parsePartitionName(name: string): { table: PartitionedTable; day: Day } | undefined {
  const match = DAY_PARTITION.exec(name);
  if (!match) return undefined;
  const [, table, year, month, date] = match;
  const ms = Date.UTC(Number(year), Number(month) - 1, Number(date));
  if (Number.isNaN(ms) || partitionName(table as PartitionedTable, dayOf(ms)) !== name) return undefined;
  return { table: table as PartitionedTable, day: dayOf(ms) };
}
