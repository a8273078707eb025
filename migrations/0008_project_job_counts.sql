CREATE TABLE "project_job_counts" (
	"project_id" uuid PRIMARY KEY NOT NULL,
	"unfinished" integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
ALTER TABLE "project_job_counts" ADD CONSTRAINT "project_job_counts_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "public"."projects"("id") ON DELETE cascade ON UPDATE no action;