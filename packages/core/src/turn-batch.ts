/** Every call of a batch succeeded, with these results. */
export function allFulfilled<R>(values: readonly R[]): PromiseSettledResult<R>[] {
  return values.map((value) => ({ status: 'fulfilled', value }));
}

interface Waiting<T, R> {
  item: T;
  resolve: (result: R) => void;
  reject: (error: unknown) => void;
}

/** Calls taken from a `TurnBatch`, to be settled by whoever sends them. */
export interface TakenBatch<T, R> {
  items: T[];
  /** Settles each call with the result at its position. */
  resolve(results: readonly R[]): void;
  /** Settles each call with the outcome at its position: one call's failure is its own. */
  settle(outcomes: readonly PromiseSettledResult<R>[]): void;
  reject(error: unknown): void;
}

/**
 * Gathers the calls made in one turn of the event loop and sends them together, at most `max` at a
 * time, so concurrent callers share one round trip; each call still settles with its own result.
 */
export class TurnBatch<T, R> {
  private readonly waiting: Waiting<T, R>[] = [];

  /** `send` sends a batch and gives each call's outcome, in order. */
  constructor(
    private readonly max: number,
    private readonly send: (items: T[]) => Promise<readonly PromiseSettledResult<R>[]>,
  ) {}

  add(item: T): Promise<R> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      if (this.waiting.length === 1) setImmediate(() => void this.flush());
    });
  }

  /** Takes up to `max` waiting calls for a caller that sends them along with work of its own. */
  take(): TakenBatch<T, R> {
    const batch = this.waiting.splice(0, this.max);
    if (this.waiting.length > 0) setImmediate(() => void this.flush());
    return {
      items: batch.map(({ item }) => item),
      resolve: (results) => batch.forEach(({ resolve }, index) => resolve(results[index] as R)),
      settle: (outcomes) =>
        batch.forEach(({ resolve, reject }, index) => {
          const outcome = outcomes[index] as PromiseSettledResult<R>;
          if (outcome.status === 'fulfilled') resolve(outcome.value);
          else reject(outcome.reason);
        }),
      reject: (error) => batch.forEach(({ reject }) => reject(error)),
    };
  }

  private async flush(): Promise<void> {
    const batch = this.take();
    if (batch.items.length === 0) return;
    try {
      batch.settle(await this.send(batch.items));
    } catch (error) {
      batch.reject(error);
    }
  }
}
