CREATE TABLE "signing_secrets" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"project_id" uuid NOT NULL,
	"secret" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "backoff_initial_ms" integer DEFAULT 10000 NOT NULL;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "backoff_max_ms" integer DEFAULT 3600000 NOT NULL;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "webhook_id" text DEFAULT 'msg_' || replace(gen_random_uuid()::text, '-', '') NOT NULL;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "claimed_by" uuid;--> statement-breakpoint
ALTER TABLE "signing_secrets" ADD CONSTRAINT "signing_secrets_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "public"."projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "signing_secrets_project_idx" ON "signing_secrets" USING btree ("project_id");--> statement-breakpoint
-- Projects created before signing existed get their first secret: 32 bytes from two random
-- UUIDs (gen_random_uuid draws from the server's cryptographic random source).
INSERT INTO "signing_secrets" ("project_id", "secret")
SELECT "id", 'whsec_' || encode(decode(replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', ''), 'hex'), 'base64')
FROM "projects";