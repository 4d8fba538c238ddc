/**
 * At most `limit` holders at once; the others wait in order, or give up when their attempt is
 * aborted. Webhooks use it so that one bulk submission cannot make a worker fire hundreds of
 * requests at once.
 */
export class InFlightLimit {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  /** Waits for a place; resolves with the function that gives it back. */
  async acquire(signal: AbortSignal): Promise<() => void> {
    while (this.active >= this.limit) {
      signal.throwIfAborted();
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          signal.removeEventListener('abort', wake);
          resolve();
        };
        this.waiting.push(wake);
        signal.addEventListener('abort', wake, { once: true });
      });
    }
    signal.throwIfAborted();
    this.active += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active -= 1;
      this.waiting.shift()?.();
    };
  }
}
