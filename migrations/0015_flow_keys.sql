-- Flow control by key: a project's jobs that name the same key share its rate, parallelism and order.
CREATE TABLE "flow_keys" (
	"project_id" uuid NOT NULL,
	"key" text NOT NULL,
	"rate_limit" integer,
	"rate_period_ms" integer,
	"parallelism" integer,
	"ordered" boolean DEFAULT false NOT NULL,
	"on_head_failure" text DEFAULT 'wait' NOT NULL,
	"paused" boolean DEFAULT false NOT NULL,
	"paused_reason" text,
	"in_flight" integer DEFAULT 0 NOT NULL,
	"next_slot_at" timestamp with time zone,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "flow_keys_project_id_key_pk" PRIMARY KEY("project_id","key"),
	CONSTRAINT "flow_keys_rate_complete" CHECK ((rate_limit IS NULL) = (rate_period_ms IS NULL)),
	CONSTRAINT "flow_keys_on_head_failure" CHECK (on_head_failure IN ('wait', 'skip'))
);
--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "flow_key" text;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "held_since" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "flow_keys" ADD CONSTRAINT "flow_keys_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "public"."projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "jobs_flow_idx" ON "jobs" USING btree ("project_id","flow_key","scheduled_at","created_at","id") WHERE flow_key IS NOT NULL AND status IN ('scheduled', 'running');