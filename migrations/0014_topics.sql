-- Fan-out topics: a job published to a topic becomes one job per endpoint, sharing a message id.
CREATE TABLE "topic_endpoints" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"topic_id" uuid NOT NULL,
	"url" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "topics" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"project_id" uuid NOT NULL,
	"name" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "topic" text;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "message_id" uuid;--> statement-breakpoint
ALTER TABLE "topic_endpoints" ADD CONSTRAINT "topic_endpoints_topic_id_topics_id_fk" FOREIGN KEY ("topic_id") REFERENCES "public"."topics"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "topics" ADD CONSTRAINT "topics_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "public"."projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "topic_endpoints_topic_url_idx" ON "topic_endpoints" USING btree ("topic_id","url");--> statement-breakpoint
CREATE UNIQUE INDEX "topics_project_name_idx" ON "topics" USING btree ("project_id","name");--> statement-breakpoint
CREATE INDEX "jobs_project_message_idx" ON "jobs" USING btree ("project_id","message_id") WHERE message_id IS NOT NULL;