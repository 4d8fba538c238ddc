import { asc, eq } from 'drizzle-orm';
import type { Job, JobEvent } from '../job';
import type { JobEventStatus, JobState } from '../job-state';
import type { Database } from './db';
import { jobEvents, jobs } from './schema';

/** A job and its ordered history as PostgreSQL has them, or null if it has no such job. */
export async function jobsFindWithHistory(db: Database, id: string): Promise<Job | null> {
  const [row] = await db.select().from(jobs).where(eq(jobs.id, id)).limit(1);
  if (!row) return null;
  const events = await db.select().from(jobEvents).where(eq(jobEvents.jobId, id)).orderBy(asc(jobEvents.seq));
  return {
    id: row.id,
    queue: row.queue,
    type: row.type,
    payload: row.payload as Record<string, unknown>,
    status: row.status as JobState,
    attempts: row.attempts,
    maxAttempts: row.maxAttempts,
    priority: row.priority,
    runAt: row.runAt.toISOString(),
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    finishedAt: row.finishedAt?.toISOString() ?? null,
    lastError: row.lastError,
    result: row.result ?? null,
    progress: null,
    history: events.map((event) => {
      const entry: JobEvent = { status: event.status as JobEventStatus, attempt: event.attempt, at: event.at.toISOString() };
      if (event.worker) entry.worker = event.worker;
      if (event.error) entry.error = event.error;
      if (event.nextAt) entry.nextAt = event.nextAt.toISOString();
      if (event.reason) entry.reason = event.reason;
      return entry;
    }),
  };
}
