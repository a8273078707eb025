-- Deadlines: a job's expires_at (no attempt starts after it; the job ends 'expired'), its
-- max_retry_duration_ms (no retry after the run's first attempt is this old) and that first
-- attempt's start. The new status is never named here: Postgres refuses an enum value in the
-- transaction that added it, so the index and the CHECK say what is finished as "neither
-- scheduled nor running", which takes 'expired' in. The CHECK is added without a scan under the
-- table's exclusive lock, then validated under a lock that lets reads and writes go on.
ALTER TYPE "public"."job_status" ADD VALUE 'expired';--> statement-breakpoint
ALTER TABLE "jobs" DROP CONSTRAINT "jobs_finished_at_matches_status";--> statement-breakpoint
DROP INDEX "jobs_finished_idx";--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "expires_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "max_retry_duration_ms" bigint;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "first_attempt_at" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "jobs_finished_idx" ON "jobs" USING btree ("finished_at") WHERE status NOT IN ('scheduled', 'running');--> statement-breakpoint
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_finished_at_matches_status" CHECK ((status NOT IN ('scheduled', 'running')) = (finished_at IS NOT NULL)) NOT VALID;--> statement-breakpoint
ALTER TABLE "jobs" VALIDATE CONSTRAINT "jobs_finished_at_matches_status";
