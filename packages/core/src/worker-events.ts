import { EventEmitter } from 'node:events';

/** Events a `Worker` emits, with their arguments. */
export interface WorkerEvents {
  /** An attempt began; `waitMs` is how long the job waited past its due time for it. */
  'job:started': [{ id: string; queue: string; type: string; attempt: number; waitMs: number }];
  'job:completed': [{ id: string; queue: string; type: string; attempt: number; durationMs: number }];
  'job:failed': [{ id: string; queue: string; type: string; attempt: number; durationMs: number; error: string; next: 'pending' | 'retrying' | 'dead' }];
  /** The handler asked to run the job again later (RetryAfterError): the attempt does not count. */
  'job:postponed': [{ id: string; queue: string; type: string; attempt: number; durationMs: number; delayMs: number }];
  /**
   * A transition was refused because the attempt is no longer the job's current one: the worker
   * stalled past the visibility timeout and another took the job over. `transition` says which.
   */
  'job:stale': [{ id: string; queue: string; type: string; attempt: number; transition: StaleTransition }];
  'worker:error': [{ error: string; during: string }];
  /**
   * `abandoned` handlers keep running after their attempts ended, each holding a slot: past the
   * configured limit the worker should be replaced by a fresh process (the stock worker exits).
   */
  'worker:recycle': [{ abandoned: number }];
}

/** A transition that can be refused as stale. */
export type StaleTransition = 'complete' | 'fail' | 'release' | 'postpone' | 'progress' | 'heartbeat';

/**
 * A typed emitter whose listeners cannot break the worker: an exception thrown by a listener is
 * reported as `worker:error` (or dropped, if that listener throws too), never thrown into the worker.
 */
export class WorkerEventEmitter {
  private readonly emitter = new EventEmitter();

  on<E extends keyof WorkerEvents>(event: E, listener: (...args: WorkerEvents[E]) => void): this {
    this.emitter.on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  off<E extends keyof WorkerEvents>(event: E, listener: (...args: WorkerEvents[E]) => void): this {
    this.emitter.off(event, listener as (...args: unknown[]) => void);
    return this;
  }

  protected emit<E extends keyof WorkerEvents>(event: E, ...args: WorkerEvents[E]): void {
    for (const listener of this.emitter.listeners(event)) {
      try {
        listener(...args);
      } catch (error) {
        if (event !== 'worker:error') this.emit('worker:error', { error: String(error), during: `${event} listener` });
      }
    }
  }
}
