import { randomInt } from 'node:crypto';

/** A fresh 32-bit seed, for a run that was not given one. */
export function newSeed(): number {
  return randomInt(0, 2 ** 32 - 1);
}

/** FNV-1a of `text`, to turn a label into 32 bits of seed. */
function hash32(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/**
 * A seeded pseudo-random generator (sfc32), so that a randomized test run can be replayed from its
 * seed. `fork` derives an independent stream per label: each concurrent actor draws from its own,
 * so how the actors interleave in time does not change what any of them chooses.
 */
export class SeededRandom {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(
    readonly seed: number,
    private readonly label = '',
  ) {
    this.a = seed >>> 0;
    this.b = hash32(label);
    this.c = 0x9e3779b9;
    this.d = 1;
    // The first outputs of sfc32 still show the seed's bit pattern.
    for (let i = 0; i < 16; i += 1) this.next();
  }

  /** A number in [0, 1). */
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return (t >>> 0) / 4_294_967_296;
  }

  /** An integer from `min` to `max`, both included. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('nothing to pick from');
    return items[Math.floor(this.next() * items.length)] as T;
  }

  /** One of `table`'s values, each as likely as its weight. */
  weighted<T>(table: readonly (readonly [T, number])[]): T {
    const total = table.reduce((sum, [, weight]) => sum + weight, 0);
    let point = this.next() * total;
    for (const [value, weight] of table) {
      point -= weight;
      if (point < 0) return value;
    }
    return (table.at(-1) as readonly [T, number])[0];
  }

  /** An independent generator for `label` under this one's, determined by the seed and the labels alone, not by what was drawn. */
  fork(label: string): SeededRandom {
    return new SeededRandom(this.seed, `${this.label}/${label}`);
  }
}
