-- Destination health: each destination's recent outcomes, paused after failing 20 times in a row; projects may name an alert URL.
CREATE TABLE "destinations" (
	"project_id" uuid NOT NULL,
	"destination" text NOT NULL,
	"id" uuid DEFAULT gen_random_uuid() NOT NULL,
	"consecutive_failures" integer DEFAULT 0 NOT NULL,
	"attempts" bigint DEFAULT 0 NOT NULL,
	"failures" bigint DEFAULT 0 NOT NULL,
	"success_rate" double precision,
	"latency_ms" double precision,
	"last_attempt_at" timestamp with time zone,
	"last_success_at" timestamp with time zone,
	"paused_at" timestamp with time zone,
	"next_probe_at" timestamp with time zone,
	"probe_interval_ms" integer,
	"probe_job_id" uuid,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "destinations_project_id_destination_pk" PRIMARY KEY("project_id","destination")
);
--> statement-breakpoint
ALTER TABLE "projects" ADD COLUMN "alert_url" text;--> statement-breakpoint
ALTER TABLE "destinations" ADD CONSTRAINT "destinations_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "public"."projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "destinations_id_idx" ON "destinations" USING btree ("id");--> statement-breakpoint
CREATE INDEX "destinations_paused_idx" ON "destinations" USING btree ("project_id","destination") WHERE paused_at IS NOT NULL;--> statement-breakpoint
CREATE INDEX "jobs_held_destination_idx" ON "jobs" USING btree ("project_id",substring(url FROM '^[^/?#]*//[^/?#]*')) WHERE status = 'scheduled' AND held_since IS NOT NULL;