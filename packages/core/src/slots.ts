/** A counting limit on jobs in flight, shared by every queue a worker reads. */
export class Slots {
  private free: number;
  private readonly waiters: (() => void)[] = [];

  constructor(readonly capacity: number) {
    this.free = capacity;
  }

  /** Jobs in flight now. */
  get used(): number {
    return this.capacity - this.free;
  }

  /** Waits until a slot is free, then takes as many as are free, up to `max`. Returns how many. */
  async take(max: number, signal: AbortSignal): Promise<number> {
    while (this.free === 0) {
      if (signal.aborted) return 0;
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          signal.removeEventListener('abort', wake);
          resolve();
        };
        this.waiters.push(wake);
        signal.addEventListener('abort', wake, { once: true });
      });
    }
    if (signal.aborted) return 0;
    const taken = Math.min(this.free, max);
    this.free -= taken;
    return taken;
  }

  /** Takes as many free slots as there are, up to `max`, without waiting. Returns how many. */
  tryTake(max: number): number {
    const taken = Math.min(this.free, max);
    this.free -= taken;
    return taken;
  }

  /** Gives back `count` slots and wakes the waiters. */
  release(count: number): void {
    if (count <= 0) return;
    this.free = Math.min(this.capacity, this.free + count);
    for (const wake of this.waiters.splice(0)) wake();
  }
}
