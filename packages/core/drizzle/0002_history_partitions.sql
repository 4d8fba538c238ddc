-- The history tables become range-partitioned by job id: one partition per UTC day of the id's
-- UUIDv7 time (bounds are the UUIDs of the day's first millisecond), plus a default partition for
-- ids outside the days created. HistoryMaintenance creates days ahead and drops expired ones.
-- Written by hand: drizzle-kit cannot express partitioning. The existing rows are copied over.
ALTER TABLE "jobs" RENAME TO "jobs_unpartitioned";--> statement-breakpoint
ALTER TABLE "job_events" RENAME TO "job_events_unpartitioned";--> statement-breakpoint
-- Index names are the schema's: the old ones go so that the new tables can take them.
ALTER TABLE "jobs_unpartitioned" DROP CONSTRAINT "jobs_pkey";--> statement-breakpoint
ALTER TABLE "job_events_unpartitioned" DROP CONSTRAINT "job_events_job_id_seq_pk";--> statement-breakpoint
DROP INDEX "jobs_queue_idempotency_key_idx";--> statement-breakpoint
DROP INDEX "jobs_created_at_idx";--> statement-breakpoint
DROP INDEX "jobs_status_created_at_idx";--> statement-breakpoint
DROP INDEX "jobs_queue_created_at_idx";--> statement-breakpoint
DROP INDEX "jobs_type_created_at_idx";--> statement-breakpoint
DROP INDEX "jobs_idempotency_key_created_at_idx";--> statement-breakpoint
CREATE TABLE "jobs" (
	"id" uuid NOT NULL,
	"queue" text NOT NULL,
	"type" text NOT NULL,
	"payload" jsonb NOT NULL,
	"status" text NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"max_attempts" integer NOT NULL,
	"priority" integer DEFAULT 0 NOT NULL,
	"idempotency_key" text,
	"run_at" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	"finished_at" timestamp with time zone,
	"last_error" text,
	"result" jsonb,
	"last_seq" integer DEFAULT 0 NOT NULL,
	CONSTRAINT "jobs_status_check" CHECK ("jobs"."status" in ('pending', 'scheduled', 'processing', 'retrying', 'completed', 'dead', 'cancelled'))
) PARTITION BY RANGE ("id");--> statement-breakpoint
CREATE TABLE "job_events" (
	"job_id" uuid NOT NULL,
	"seq" integer NOT NULL,
	"status" text NOT NULL,
	"attempt" integer NOT NULL,
	"worker" text,
	"error" text,
	"next_at" timestamp with time zone,
	"reason" text,
	"at" timestamp with time zone NOT NULL,
	CONSTRAINT "job_events_status_check" CHECK ("job_events"."status" in ('pending', 'scheduled', 'processing', 'retrying', 'completed', 'dead', 'cancelled', 'failed'))
) PARTITION BY RANGE ("job_id");--> statement-breakpoint
CREATE TABLE "jobs_default" PARTITION OF "jobs" DEFAULT;--> statement-breakpoint
CREATE TABLE "job_events_default" PARTITION OF "job_events" DEFAULT;--> statement-breakpoint
-- A partition for each day the existing UUIDv7 ids were made on, and for today and the next 7 days.
-- Other ids (not version 7, or of a day too far ahead to be a real one) go to the default partition.
DO $$
DECLARE
  today bigint := (extract(epoch FROM now()) * 1000)::bigint / 86400000;
  day bigint;
  low uuid;
  high uuid;
  suffix text;
BEGIN
  FOR day IN
    SELECT ('x' || substr(replace(id::text, '-', ''), 1, 12))::bit(48)::bigint / 86400000 FROM "jobs_unpartitioned" WHERE substr(id::text, 15, 1) = '7'
    UNION
    SELECT ('x' || substr(replace(job_id::text, '-', ''), 1, 12))::bit(48)::bigint / 86400000 FROM "job_events_unpartitioned" WHERE substr(job_id::text, 15, 1) = '7'
    UNION
    SELECT today + ahead FROM generate_series(0, 7) AS ahead
  LOOP
    CONTINUE WHEN day > today + 7;
    low := regexp_replace(lpad(to_hex(day * 86400000), 12, '0'), '^(.{8})(.{4})$', '\1-\2-0000-0000-000000000000')::uuid;
    high := regexp_replace(lpad(to_hex((day + 1) * 86400000), 12, '0'), '^(.{8})(.{4})$', '\1-\2-0000-0000-000000000000')::uuid;
    suffix := to_char(to_timestamp(day * 86400) AT TIME ZONE 'UTC', 'YYYYMMDD');
    EXECUTE format('CREATE TABLE %I PARTITION OF "jobs" FOR VALUES FROM (%L) TO (%L)', 'jobs_p' || suffix, low, high);
    EXECUTE format('CREATE TABLE %I PARTITION OF "job_events" FOR VALUES FROM (%L) TO (%L)', 'job_events_p' || suffix, low, high);
  END LOOP;
END $$;--> statement-breakpoint
INSERT INTO "jobs" ("id", "queue", "type", "payload", "status", "attempts", "max_attempts", "priority", "idempotency_key", "run_at",
  "created_at", "updated_at", "finished_at", "last_error", "result", "last_seq")
SELECT "id", "queue", "type", "payload", "status", "attempts", "max_attempts", "priority", "idempotency_key", "run_at",
  "created_at", "updated_at", "finished_at", "last_error", "result", "last_seq"
FROM "jobs_unpartitioned";--> statement-breakpoint
INSERT INTO "job_events" ("job_id", "seq", "status", "attempt", "worker", "error", "next_at", "reason", "at")
SELECT "job_id", "seq", "status", "attempt", "worker", "error", "next_at", "reason", "at" FROM "job_events_unpartitioned";--> statement-breakpoint
DROP TABLE "jobs_unpartitioned";--> statement-breakpoint
DROP TABLE "job_events_unpartitioned";--> statement-breakpoint
-- Keys and indexes are built once the rows are in, which is faster than maintaining them row by row.
-- There is no unique index on (queue, idempotency_key): see schema.ts.
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_pkey" PRIMARY KEY ("id");--> statement-breakpoint
ALTER TABLE "job_events" ADD CONSTRAINT "job_events_job_id_seq_pk" PRIMARY KEY ("job_id", "seq");--> statement-breakpoint
CREATE INDEX "jobs_created_at_idx" ON "jobs" USING btree ("created_at", "id");--> statement-breakpoint
CREATE INDEX "jobs_status_created_at_idx" ON "jobs" USING btree ("status", "created_at", "id");--> statement-breakpoint
CREATE INDEX "jobs_queue_created_at_idx" ON "jobs" USING btree ("queue", "created_at", "id");--> statement-breakpoint
CREATE INDEX "jobs_type_created_at_idx" ON "jobs" USING btree ("type", "created_at", "id");--> statement-breakpoint
CREATE INDEX "jobs_idempotency_key_created_at_idx" ON "jobs" USING btree ("idempotency_key", "created_at", "id") WHERE "jobs"."idempotency_key" is not null;--> statement-breakpoint
ANALYZE "jobs";--> statement-breakpoint
ANALYZE "job_events";
