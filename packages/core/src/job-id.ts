import { randomFillSync } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';

/** Random bytes are drawn this many at a time: one system call per 256 ids instead of one per id. */
const POOL_BYTES = 4096;
let pool = new Uint8Array(0);
let used = 0;

function pooledRandomBytes(): Uint8Array {
  if (used + 16 > pool.length) {
    pool = randomFillSync(new Uint8Array(POOL_BYTES));
    used = 0;
  }
  used += 16;
  return pool.subarray(used - 16, used);
}

/** A new job id: a UUIDv7, time-ordered, so PostgreSQL's primary key index grows at its end. */
export function newJobId(): string {
  return uuidv7({ rng: pooledRandomBytes });
}
