-- The job's fair group (null for jobs submitted without one), from the job's first event, and an index
-- for listing a group's jobs, partial as most jobs have none. Built on every partition of jobs.
ALTER TABLE "jobs" ADD COLUMN "group" text;--> statement-breakpoint
CREATE INDEX "jobs_group_created_at_idx" ON "jobs" USING btree ("group","created_at","id") WHERE "jobs"."group" is not null;
