-- The schedule and tick that made a job (null for jobs submitted otherwise), from the job's first event.
ALTER TABLE "jobs" ADD COLUMN "schedule" text;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "schedule_tick" timestamp with time zone;
