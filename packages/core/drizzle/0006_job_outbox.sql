CREATE TABLE "job_outbox" (
	"id" uuid PRIMARY KEY NOT NULL,
	"queue" text NOT NULL,
	"submission" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
