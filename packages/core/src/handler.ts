/** What a handler is given for one attempt. */
export interface JobContext<P = Record<string, unknown>> {
  /** The job's id; stable across attempts, so handlers can make their effects idempotent. */
  id: string;
  queue: string;
  type: string;
  payload: P;
  /** This attempt's number, from 1. */
  attempt: number;
  maxAttempts: number;
  /** Aborts when the attempt times out or the worker must stop before the job finishes. */
  signal: AbortSignal;
  /**
   * Reports progress (any JSON value up to 4 KiB, e.g. `{ done: 40, of: 100 }`), shown by
   * GET /jobs/:id while the job runs. Throws `RangeError` past the size cap.
   */
  progress(value: unknown): Promise<void>;
}

/**
 * Runs one attempt of a job. Its return value (JSON) becomes the job's result; a thrown error fails
 * the attempt, and a `PermanentJobError` sends the job straight to the dead-letter stream.
 */
export type JobHandler<P = Record<string, unknown>> = (job: JobContext<P>) => Promise<unknown> | unknown;
