/**
 * One running attempt's cancellation. Its AbortSignal is made only when the handler reads it, and
 * its timeout is watched by the worker's one deadline sweep rather than a timer of its own, so an
 * attempt that never looks at its signal costs neither.
 *
 * An aborted attempt ends at once, but JavaScript cannot stop a handler that ignores its signal:
 * `handlerSettled` tells when the handler itself is done, so the worker keeps counting it until then.
 */
export class Attempt {
  private controller: AbortController | undefined;
  private aborted = false;
  private overdue = false;
  private reason: unknown;
  private rejectRun: ((reason: unknown) => void) | undefined;
  /** Settles (never rejects) once the handler's own promise settles. */
  handlerSettled: Promise<void> = Promise.resolve();
  private returned = false;

  /** When the attempt times out (ms since the epoch). */
  private readonly deadline: number;

  constructor(
    startedAt: number,
    private readonly timeoutMs: number,
  ) {
    this.deadline = startedAt + timeoutMs;
  }

  /** Aborts the attempt if its time is up at `now`. */
  abortIfOverdue(now: number): void {
    if (now < this.deadline || this.aborted) return;
    this.overdue = true;
    this.abort(new Error(`timed out after ${this.timeoutMs} ms`));
  }

  /** Whether the attempt was aborted because its time ran out. */
  get timedOut(): boolean {
    return this.overdue;
  }

  /** Aborts when the attempt times out or the worker must stop before it finishes. */
  get signal(): AbortSignal {
    this.controller ??= new AbortController();
    if (this.aborted && !this.controller.signal.aborted) this.controller.abort(this.reason);
    return this.controller.signal;
  }

  /** Aborts the signal and makes `run` reject with `reason`, whether or not the handler gives up. */
  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.controller?.abort(reason);
    this.rejectRun?.(reason);
  }

  /** Whether the handler has returned (or thrown): false while it still runs, after its attempt ended or not. */
  get handlerReturned(): boolean {
    return this.returned;
  }

  /** Whether the attempt was aborted (timed out, released or taken over). */
  get wasAborted(): boolean {
    return this.aborted;
  }

  /** Runs `handler`, settling with its outcome, or with the abort reason if that comes first. */
  run<T>(handler: () => Promise<T> | T): Promise<T> {
    if (this.aborted) return Promise.reject(this.reason as Error);
    return new Promise<T>((resolve, reject) => {
      this.rejectRun = reject;
      const outcome = Promise.resolve().then(handler);
      this.handlerSettled = outcome.then(() => undefined, () => undefined).then(() => {
        this.returned = true;
      });
      outcome.then(resolve, reject);
    });
  }
}
