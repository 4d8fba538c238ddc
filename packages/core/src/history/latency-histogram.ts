/**
 * Run and wait times kept as histograms over fixed logarithmic buckets: counts per bucket add up
 * exactly across batches, recorders, minutes and steps, which percentiles computed per batch never
 * would. Bucket 0 holds times under 1 ms; bucket b ≥ 1 holds [GROWTH^(b-1), GROWTH^b) ms; the last
 * bucket also holds everything longer. A percentile read back is its bucket's geometric middle, within
 * 4.5% of the true value. A histogram is stored as an int array of counts, bucket b at index b + 1
 * (SQL arrays start at 1), cut after its highest non-empty bucket.
 */

/** Each bucket's upper bound is this many times its lower bound: 2^(1/8). */
const BUCKET_GROWTH = 2 ** (1 / 8);

/** The last bucket: from GROWTH^(LAST_BUCKET-1) ms ≈ 23 days on. */
const LAST_BUCKET = 250;

/** SQL: the bucket of a duration in milliseconds given by `ms` (a double precision expression). */
export const bucketSql = (ms: string): string =>
  `CASE WHEN ${ms} < 1 THEN 0 ELSE least(floor(ln(${ms}) / ${Math.log(BUCKET_GROWTH)})::int + 1, ${LAST_BUCKET}) END`;

/** The duration a bucket stands for: 0 for bucket 0, else its geometric middle. */
function bucketValue(bucket: number): number {
  return bucket === 0 ? 0 : BUCKET_GROWTH ** (bucket - 0.5);
}

/** Adds histogram `from` into `into` (counts per bucket, index = bucket). */
export function addBuckets(into: number[], from: readonly number[]): void {
  from.forEach((count, bucket) => {
    into[bucket] = (into[bucket] ?? 0) + count;
  });
}

/** The `quantile` (0–1) of a histogram in ms, rounded to 0.1 ms; null when it counts nothing. */
export function quantileOf(buckets: readonly number[], quantile: number): number | null {
  const total = buckets.reduce((sum, count) => sum + (count ?? 0), 0);
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil(quantile * total));
  let seen = 0;
  for (let bucket = 0; bucket < buckets.length; bucket += 1) {
    seen += buckets[bucket] ?? 0;
    if (seen >= rank) return Math.round(bucketValue(bucket) * 10) / 10;
  }
  return null;
}
