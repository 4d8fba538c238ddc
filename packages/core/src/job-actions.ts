import type { DeadLetters } from './dead-letters.js';
import { InvalidJobError, JobNotFoundError, JobStateConflictError } from './errors.js';
import type { Database } from './history/db.js';
import { jobsCountSelected, jobsSelectIds } from './history/job-selection-repository.js';
import type { JobListCursor, JobListFilter } from './history/jobs-repository.js';
import { JobState } from './job-state.js';
import type { Queue } from './queue.js';

/** What an operator can do to many jobs at once. */
export const JobAction = {
  /** A dead job back to pending, attempts reset (DeadLetters.retry). */
  Retry: 'retry',
  /** A job that has not started withdrawn (Queue.cancel). */
  Cancel: 'cancel',
  /** A dead job out of the dead-letter stream for good (DeadLetters.discard). */
  Discard: 'discard',
} as const;

export type JobAction = (typeof JobAction)[keyof typeof JobAction];

/** Every job action. */
export const JOB_ACTIONS: readonly JobAction[] = Object.values(JobAction);

/** The states each action applies to; a job in any other state is a conflict. */
export const ACTION_STATES: Readonly<Record<JobAction, readonly JobState[]>> = {
  retry: [JobState.Dead],
  cancel: [JobState.Pending, JobState.Scheduled, JobState.Retrying],
  discard: [JobState.Dead],
};

/** Most job ids one call of `onIds` takes. */
export const MAX_ACTION_IDS = 1000;
/** Most jobs one call of `onMatching` acts on; the caller goes on from its `next`. */
export const MAX_MATCHING_PER_CALL = 5000;
/** Jobs read from PostgreSQL, then acted on, at a time. */
const MATCHING_BATCH = 500;
/** Jobs acted on at once: each is a script call of its own. */
const CONCURRENT_ACTIONS = 100;

/** How an action went for one job: done, refused for the job's state (`status`), or no such job. */
export interface ActionResult {
  id: string;
  outcome: 'done' | 'conflict' | 'not_found';
  /** For a conflict: the state the job was in. */
  status?: JobState;
}

/** How many jobs an action was done to, refused for their state, or did not find. */
export interface ActionTally {
  done: number;
  conflict: number;
  notFound: number;
}

/** The jobs of a listing's filter (GET /jobs) that an action selects. */
export type MatchingFilter = Omit<JobListFilter, 'limit' | 'after'>;

/**
 * Where a run over the jobs matching a filter stands: the creation time its first call fixed (jobs
 * created later are never selected, so a run ends), and the last job it reached.
 */
export interface MatchingPosition {
  createdBefore: Date;
  after: JobListCursor | null;
}

/** One call of `onMatching`: its tally, and where to go on from (null once the run is over). */
export interface MatchingRun extends ActionTally {
  next: MatchingPosition | null;
}

/**
 * Retry, cancel and discard over many jobs: a list of ids, or every job matching a listing's filter.
 * Each job's change is its own atomic step (the same scripts as for one job, which check the job's
 * state in Redis), so a job that moved on meanwhile is a conflict, never acted on twice or wrongly.
 */
export class JobActions {
  constructor(private readonly queue: Queue, private readonly deadLetters: DeadLetters) {}

  /** Does `action` to one job; throws `JobNotFoundError` or `JobStateConflictError` as the single-job methods do. */
  async apply(action: JobAction, id: string): Promise<void> {
    if (action === JobAction.Cancel) return this.queue.cancel(id);
    if (action === JobAction.Retry) return this.deadLetters.retry(id);
    return this.deadLetters.discard(id);
  }

  /** Does `action` to each of up to MAX_ACTION_IDS jobs, and says how it went for each, in order. */
  async onIds(action: JobAction, ids: readonly string[]): Promise<ActionResult[]> {
    if (ids.length > MAX_ACTION_IDS) throw new InvalidJobError(`ids may hold at most ${MAX_ACTION_IDS} job ids (got ${ids.length})`);
    const results: ActionResult[] = [];
    for (let start = 0; start < ids.length; start += CONCURRENT_ACTIONS) {
      results.push(...(await Promise.all(ids.slice(start, start + CONCURRENT_ACTIONS).map((id) => this.resultOf(action, id)))));
    }
    return results;
  }

  /**
   * How many jobs matching `filter` (whose status, if given, must be one the action applies to) are
   * in a state the action applies to, as PostgreSQL's history has them now: what `onMatching` would
   * act on, but for jobs whose latest change is still on its way there.
   */
  async countMatching(db: Database, action: JobAction, filter: MatchingFilter): Promise<number> {
    return jobsCountSelected(db, { ...filter, statuses: statusesOf(action, filter) });
  }

  /**
   * Does `action` to the jobs matching `filter`, newest first, up to MAX_MATCHING_PER_CALL of them,
   * from `from` (the `next` of the previous call; omitted on the first). Ids come from PostgreSQL's
   * history in keyset pages, and each job's state is checked again in Redis as it is acted on: one
   * that left the filter's states meanwhile is a conflict. Jobs created after the first call are
   * never selected; one created before that enters the filter's states while the run goes on is
   * acted on only if the run has not passed it yet.
   */
  async onMatching(db: Database, action: JobAction, filter: MatchingFilter, from?: MatchingPosition): Promise<MatchingRun> {
    const statuses = statusesOf(action, filter);
    const createdBefore = from?.createdBefore ?? earliest(filter.createdBefore, new Date());
    let after = from?.after ?? null;
    const tally: ActionTally = { done: 0, conflict: 0, notFound: 0 };
    for (let acted = 0; acted < MAX_MATCHING_PER_CALL; acted += MATCHING_BATCH) {
      const page = await jobsSelectIds(db, { ...filter, statuses, createdBefore, ...(after && { after }) }, MATCHING_BATCH);
      for (const result of await this.onIds(action, page.map(({ id }) => id))) {
        if (result.outcome === 'done') tally.done += 1;
        else if (result.outcome === 'conflict') tally.conflict += 1;
        else tally.notFound += 1;
      }
      after = page.at(-1) ?? after;
      if (page.length < MATCHING_BATCH) return { ...tally, next: null };
    }
    return { ...tally, next: { createdBefore, after } };
  }

  private async resultOf(action: JobAction, id: string): Promise<ActionResult> {
    try {
      await this.apply(action, id);
      return { id, outcome: 'done' };
    } catch (error) {
      if (error instanceof JobStateConflictError) return { id, outcome: 'conflict', status: error.status as JobState };
      if (error instanceof JobNotFoundError) return { id, outcome: 'not_found' };
      throw error;
    }
  }
}

/** The states a run of `action` over `filter` selects: the filter's own, if the action applies to it. */
function statusesOf(action: JobAction, filter: MatchingFilter): readonly JobState[] {
  const states = ACTION_STATES[action];
  if (filter.status === undefined) return states;
  if (!(states as readonly string[]).includes(filter.status)) {
    throw new InvalidJobError(`${action} applies to ${states.join(', ')} jobs only; status ${filter.status} selects none`);
  }
  return [filter.status as JobState];
}

function earliest(a: Date | undefined, b: Date): Date {
  return a !== undefined && a < b ? a : b;
}
