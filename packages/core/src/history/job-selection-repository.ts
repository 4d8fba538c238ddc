import { and, count, desc, inArray } from 'drizzle-orm';
import type { Database } from './db.js';
import { jobsListConditions, type JobListCursor, type JobListFilter } from './jobs-repository.js';
import { jobs } from './schema.js';

/** Which jobs a bulk action selects: a listing's filter without its page, its status one of `statuses`. */
export type JobSelection = Omit<JobListFilter, 'limit' | 'status'> & { statuses: readonly string[] };

/** The ids of the selected jobs, newest first, a keyset page of up to `limit` after `selection.after`. */
export async function jobsSelectIds(db: Database, selection: JobSelection, limit: number): Promise<JobListCursor[]> {
  return db
    .select({ id: jobs.id, createdAt: jobs.createdAt })
    .from(jobs)
    .where(and(inArray(jobs.status, [...selection.statuses]), ...jobsListConditions(selection)))
    .orderBy(desc(jobs.createdAt), desc(jobs.id))
    .limit(limit);
}

/** How many jobs the selection holds. */
export async function jobsCountSelected(db: Database, selection: JobSelection): Promise<number> {
  const [row] = await db.select({ count: count() }).from(jobs).where(and(inArray(jobs.status, [...selection.statuses]), ...jobsListConditions(selection)));
  return row?.count ?? 0;
}
