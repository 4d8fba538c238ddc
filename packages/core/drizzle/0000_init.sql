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
	CONSTRAINT "job_events_job_id_seq_pk" PRIMARY KEY("job_id","seq"),
	CONSTRAINT "job_events_status_check" CHECK ("job_events"."status" in ('pending', 'scheduled', 'processing', 'retrying', 'completed', 'dead', 'cancelled', 'failed'))
);
--> statement-breakpoint
CREATE TABLE "jobs" (
	"id" uuid PRIMARY KEY NOT NULL,
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
);
--> statement-breakpoint
CREATE UNIQUE INDEX "jobs_queue_idempotency_key_idx" ON "jobs" USING btree ("queue","idempotency_key") WHERE "jobs"."idempotency_key" is not null;--> statement-breakpoint
CREATE INDEX "jobs_created_at_idx" ON "jobs" USING btree ("created_at","id");--> statement-breakpoint
CREATE INDEX "jobs_status_created_at_idx" ON "jobs" USING btree ("status","created_at","id");--> statement-breakpoint
CREATE INDEX "jobs_queue_created_at_idx" ON "jobs" USING btree ("queue","created_at","id");--> statement-breakpoint
CREATE INDEX "jobs_type_created_at_idx" ON "jobs" USING btree ("type","created_at","id");