-- The W3C traceparent a job's attempts continue (null for jobs added outside any trace), from the
-- job's first event, so that GET /jobs/:id shows the trace id of a job only PostgreSQL still has.
ALTER TABLE "jobs" ADD COLUMN "trace_parent" text;