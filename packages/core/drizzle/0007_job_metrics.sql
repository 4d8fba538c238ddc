-- Per-minute and per-hour rollups of the history, per queue and type (see job_metrics in schema.ts). Generated,
-- then edited by hand: the table is range-partitioned by minute, one partition per UTC day, made and
-- dropped by HistoryMaintenance (METRICS_RETENTION_DAYS), which drizzle-kit cannot express; the
-- default partition takes minutes of days not created yet, and its rows move into a day created later.
CREATE TABLE "job_metrics" (
	"resolution" text DEFAULT 'minute' NOT NULL,
	"minute" timestamp with time zone NOT NULL,
	"queue" text NOT NULL,
	"type" text NOT NULL,
	"completed" integer DEFAULT 0 NOT NULL,
	"failed" integer DEFAULT 0 NOT NULL,
	"dead" integer DEFAULT 0 NOT NULL,
	"run_ms_buckets" integer[] DEFAULT '{}' NOT NULL,
	"wait_ms_buckets" integer[] DEFAULT '{}' NOT NULL,
	"depth" integer,
	CONSTRAINT "job_metrics_resolution_minute_queue_type_pk" PRIMARY KEY("resolution","minute","queue","type"),
	CONSTRAINT "job_metrics_resolution_check" CHECK ("job_metrics"."resolution" in ('minute', 'hour'))
) PARTITION BY RANGE ("minute");
--> statement-breakpoint
CREATE TABLE "job_metrics_default" PARTITION OF "job_metrics" DEFAULT;
