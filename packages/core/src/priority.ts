import type { QueueKeys } from './keys.js';
import { MAX_PRIORITY, MIN_PRIORITY } from './limits.js';

/**
 * The priority bands, highest first. Each band of a queue (of each partition) is a stream of its
 * own; a worker reads the bands in order (see PriorityPolicy), so with a backlog a job of a higher
 * band starts before every job of a lower band not yet started. Within a band, jobs start in the
 * order they became ready: priorities 5 and 50 are both `high`. A fixed few bands keep a read to a few
 * stream reads, however the range is used.
 */
export const PRIORITY_BANDS = [
  { name: 'highest', min: 100, max: MAX_PRIORITY },
  { name: 'high', min: 1, max: 99 },
  { name: 'normal', min: 0, max: 0 },
  { name: 'low', min: -99, max: -1 },
  { name: 'lowest', min: MIN_PRIORITY, max: -100 },
] as const;

/** The name of a priority band. */
export type PriorityBandName = (typeof PRIORITY_BANDS)[number]['name'];

/** The band of priority 0, the default; a job hash with no `band` field (added before bands) is in it. */
export const NORMAL_BAND = 2;

/** The band (index into PRIORITY_BANDS) of a priority within MIN_PRIORITY..MAX_PRIORITY. */
export function priorityBand(priority: number): number {
  return PRIORITY_BANDS.findIndex((band) => priority >= band.min);
}

/**
 * How a worker orders the bands of each read. `strict`: highest first, always, so a lower band waits
 * while a higher one has jobs. `weighted`: each read draws the order at random, a band coming before
 * another with odds in proportion to their weights (as Sidekiq weighs its queues), so among the bands
 * that have jobs waiting, each starts first in its weight's share of reads and a low band still moves
 * under a flood of higher ones.
 */
export type PriorityPolicy = { kind: 'strict' } | { kind: 'weighted'; weights: readonly number[] };

/** Default weights of the `weighted` policy, highest band first. */
export const DEFAULT_PRIORITY_WEIGHTS: readonly number[] = [16, 8, 4, 2, 1];

/** The stream of a job's band, from its hash's `band` field (none: the normal band, that of jobs added before bands). */
export function streamOfBand(keys: Pick<QueueKeys, 'bands'>, band: string | number | null | undefined): string {
  const index = Number(band ?? NORMAL_BAND);
  return keys.bands[Number.isInteger(index) ? index : NORMAL_BAND] ?? (keys.bands[NORMAL_BAND] as string);
}

const STRICT_ORDER = PRIORITY_BANDS.map((_, index) => index).join('');

/** The order in which one read visits the bands, as the take script takes it: band indexes as digits, "01234". */
export function bandOrder(policy: PriorityPolicy, random: () => number): string {
  if (policy.kind === 'strict') return STRICT_ORDER;
  const left = policy.weights.map((weight, band) => ({ weight, band }));
  let order = '';
  while (left.length > 0) {
    let draw = random() * left.reduce((sum, { weight }) => sum + weight, 0);
    const found = left.findIndex(({ weight }) => (draw -= weight) < 0);
    // Rounding may leave the draw a hair past the last weight: it then falls on the last band.
    order += String(left.splice(found < 0 ? left.length - 1 : found, 1)[0]?.band);
  }
  return order;
}
