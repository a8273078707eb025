ALTER TYPE "public"."attempt_outcome" ADD VALUE 'unknown';--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "lost_attempts" integer DEFAULT 0 NOT NULL;