/**
 * Every state a job can be in, named once. The PostgreSQL check constraints, the API schemas and the
 * Lua scripts all take their values from here.
 */
export const JobState = {
  /** In the stream, waiting for a worker. In: enqueue, promoteDueJobs, runJobNow, failJob (immediate retry). Out: startJobs. */
  Pending: 'pending',
  /** In the delayed ZSET until its run time. In: enqueue with delay/runAt. Out: promoteDueJobs, runJobNow (an operator), cancelJob. */
  Scheduled: 'scheduled',
  /** Taken by a worker, attempt under way. In: startJobs. Out: completeJob, failJob. */
  Processing: 'processing',
  /** In the delayed ZSET waiting out its backoff. In: failJob. Out: promoteDueJobs, runJobNow (an operator), cancelJob. */
  Retrying: 'retrying',
  /** Finished successfully. In: completeJob. Terminal. */
  Completed: 'completed',
  /**
   * In the dead-letter stream: out of attempts, permanent failure, poison or no handler. In: failJob,
   * expireUnserved. Out: retryDeadJob(s) (to pending), discardDeadJob(s) (to discarded), trimDeadLetters (leaves Redis).
   */
  Dead: 'dead',
  /** Withdrawn before it ran. In: cancelJob. Terminal. */
  Cancelled: 'cancelled',
  /** Taken out of the dead-letter stream by an operator, never to run again. In: discardDeadJob(s). Terminal. */
  Discarded: 'discarded',
} as const;

export type JobState = (typeof JobState)[keyof typeof JobState];

/** All job states, in lifecycle order. */
export const JOB_STATES: readonly JobState[] = Object.values(JobState);

/** A failed attempt is recorded as an event of its own; the job then moves on to pending, retrying or dead. */
export const FAILED_EVENT = 'failed' as const;

/** What a history event can record: a state the job entered, or a failed attempt. */
export type JobEventStatus = JobState | typeof FAILED_EVENT;

/** All history event statuses. */
export const JOB_EVENT_STATUSES: readonly JobEventStatus[] = [...JOB_STATES, FAILED_EVENT];

/** States a job never leaves on its own. */
export const FINISHED_STATES: readonly JobState[] = [JobState.Completed, JobState.Dead, JobState.Cancelled, JobState.Discarded];

/** Whether a string names a job state. */
export function isJobState(value: string): value is JobState {
  return (JOB_STATES as readonly string[]).includes(value);
}
