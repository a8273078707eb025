CREATE TYPE "public"."missed_policy" AS ENUM('skip', 'run_latest');--> statement-breakpoint
CREATE TYPE "public"."overlap_policy" AS ENUM('allow', 'skip');--> statement-breakpoint
CREATE TYPE "public"."schedule_status" AS ENUM('active', 'paused');--> statement-breakpoint
CREATE TABLE "schedules" (
	"id" uuid PRIMARY KEY NOT NULL,
	"project_id" uuid NOT NULL,
	"cron" text NOT NULL,
	"timezone" text NOT NULL,
	"url" text NOT NULL,
	"http_method" text NOT NULL,
	"headers" jsonb NOT NULL,
	"body" text,
	"max_retries" integer NOT NULL,
	"timeout_ms" integer NOT NULL,
	"backoff_initial_ms" integer NOT NULL,
	"backoff_max_ms" integer NOT NULL,
	"labels" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"failure_url" text,
	"starts_at" timestamp with time zone,
	"ends_at" timestamp with time zone,
	"status" "schedule_status" NOT NULL,
	"missed_policy" "missed_policy" NOT NULL,
	"overlap_policy" "overlap_policy" NOT NULL,
	"idempotency_key" text,
	"idempotency_fingerprint" text,
	"next_run_at" timestamp with time zone,
	"last_occurrence_at" timestamp with time zone,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "schedule_id" uuid;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "occurrence_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "schedules" ADD CONSTRAINT "schedules_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "public"."projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "schedules_due_idx" ON "schedules" USING btree ("next_run_at") WHERE status = 'active';--> statement-breakpoint
CREATE INDEX "schedules_project_created_idx" ON "schedules" USING btree ("project_id","created_at","id");--> statement-breakpoint
CREATE UNIQUE INDEX "schedules_idempotency_idx" ON "schedules" USING btree ("project_id","idempotency_key") WHERE idempotency_key IS NOT NULL;--> statement-breakpoint
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_schedule_id_schedules_id_fk" FOREIGN KEY ("schedule_id") REFERENCES "public"."schedules"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "jobs_schedule_occurrence_idx" ON "jobs" USING btree ("schedule_id","occurrence_at") WHERE occurrence_at IS NOT NULL;--> statement-breakpoint
CREATE INDEX "jobs_schedule_scheduled_idx" ON "jobs" USING btree ("schedule_id","scheduled_at") WHERE schedule_id IS NOT NULL;