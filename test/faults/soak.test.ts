import { describe, expect, it } from 'vitest';
import { newSeed } from '../support/seeded-random';
import { runSoak } from './soak';

const DURATION_S = 60;
/** SOAK_SEED replays a run; otherwise every run draws a new seed, printed, and named in the test's title. */
const seed = process.env.SOAK_SEED ? Number(process.env.SOAK_SEED) : newSeed();

describe('soak: workers killed, stopped and terminated, Redis restarted, PostgreSQL cut and slowed, hostile clients', () => {
  it(`holds every invariant for ${DURATION_S} s (seed ${seed})`, async () => {
    const report = await runSoak({ durationS: DURATION_S, seed });
    console.log(`${report.summary.join('\n')}\n\n${report.table}`);
    expect(report.rows.filter((row) => row.violations > 0)).toEqual([]);
  }, 170_000);
});
