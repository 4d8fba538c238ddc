import { isIPv6 } from 'node:net';

const WINDOW_MS = 60_000;
/** Addresses remembered at once; past it the oldest windows are forgotten first, so a flood of addresses cannot exhaust memory. */
const CAPACITY = 10_000;

/**
 * Whom failures are counted against: the client's address, or for IPv6 its /64, the block one
 * subscriber gets, so that walking through addresses buys no more guesses.
 */
export function clientBlock(address: string): string {
  if (!isIPv6(address)) return address;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1] as string;
  const [head = '', tail = ''] = address.toLowerCase().split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === '' ? [] : tail.split(':');
  // An IPv4 tail (`64:ff9b::1.2.3.4`) fills two groups.
  const tailLength = tailGroups.reduce((sum, group) => sum + (group.includes('.') ? 2 : 1), 0);
  const groups = address.includes('::') ? [...headGroups, ...Array<string>(Math.max(0, 8 - headGroups.length - tailLength)).fill('0'), ...tailGroups] : headGroups;
  return `${groups.slice(0, 4).map((group) => group.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

/**
 * Counts wrong API keys per client block in fixed one-minute windows. Once a block has offered
 * `max` wrong keys, every request of it that offers a key is refused until its window ends, the
 * right key included: otherwise the answer would still tell a right guess from a wrong one.
 */
export class AuthFailureLimiter {
  /** Windows by block, oldest first: a window is re-inserted when it starts again. */
  private readonly windows = new Map<string, { failures: number; endsAt: number }>();

  constructor(
    readonly max: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whole seconds until `address` may offer a key again; 0 when it may now. */
  retryAfterSeconds(address: string): number {
    const window = this.windows.get(clientBlock(address));
    if (!window || window.failures < this.max) return 0;
    const left = window.endsAt - this.now();
    return left > 0 ? Math.ceil(left / 1000) : 0;
  }

  recordFailure(address: string): void {
    const block = clientBlock(address);
    const now = this.now();
    const current = this.windows.get(block);
    if (current && current.endsAt > now) {
      current.failures += 1;
      return;
    }
    this.windows.delete(block);
    this.forgetExpired(now);
    this.windows.set(block, { failures: 1, endsAt: now + WINDOW_MS });
  }

  private forgetExpired(now: number): void {
    for (const [block, window] of this.windows) {
      if (window.endsAt > now && this.windows.size < CAPACITY) return;
      this.windows.delete(block);
    }
  }
}
