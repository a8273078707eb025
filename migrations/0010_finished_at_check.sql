-- A finished job (succeeded, failed, canceled) has finished_at, and an unfinished one has none.
-- Every write path already keeps this; rows that predate it are brought in line first (a finished
-- job's end is taken as its last change), then the constraint is added without a scan under the
-- table's exclusive lock, and validated under a lock that lets reads and writes go on.
UPDATE "jobs" SET "finished_at" = "updated_at" WHERE status IN ('succeeded', 'failed', 'canceled') AND "finished_at" IS NULL;--> statement-breakpoint
UPDATE "jobs" SET "finished_at" = NULL WHERE status NOT IN ('succeeded', 'failed', 'canceled') AND "finished_at" IS NOT NULL;--> statement-breakpoint
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_finished_at_matches_status" CHECK ((status IN ('succeeded', 'failed', 'canceled')) = (finished_at IS NOT NULL)) NOT VALID;--> statement-breakpoint
ALTER TABLE "jobs" VALIDATE CONSTRAINT "jobs_finished_at_matches_status";
