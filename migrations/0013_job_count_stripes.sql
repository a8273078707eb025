-- A project's count of unfinished jobs, split over 16 stripes so that its creates and result
-- writes do not all take turns on one row's lock (see projectJobCountStripes in
-- src/db/schema.ts). The count is the sum of the stripes; `room` is places under the cap a
-- stripe may hand to creates without looking at the others, granted for the cap `room_cap`.
CREATE TABLE "project_job_count_stripes" (
	"project_id" uuid NOT NULL,
	"stripe" smallint NOT NULL,
	"unfinished" integer DEFAULT 0 NOT NULL,
	"room" integer DEFAULT 0 NOT NULL,
	"room_cap" integer DEFAULT 0 NOT NULL,
	CONSTRAINT "project_job_count_stripes_project_id_stripe_pk" PRIMARY KEY("project_id","stripe")
);
--> statement-breakpoint
ALTER TABLE "project_job_count_stripes" ADD CONSTRAINT "project_job_count_stripes_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "public"."projects"("id") ON DELETE cascade ON UPDATE no action;
--> statement-breakpoint
-- Keeps the sum of a project's stripes equal to its number of 'scheduled' or 'running' jobs,
-- whichever statement inserts, changes or deletes them; one pass per project per statement.
--
-- - A create (createJobsAsCaller) counts its own jobs under the stripe locks it took to check
--   the cap, and says so with the transaction-local setting fliq.jobs_counted: its insert is
--   not counted again here (the mark is cleared, so a later insert is).
-- - A count going down (a job finished, canceled or deleted) goes to stripe 0, which no create
--   takes alone: result writes never wait for creates.
-- - A count going up without a create (a replay, a schedule's occurrence, a failure
--   notification) locks every stripe of the project, adds to stripe 0 and takes every handed-out
--   place back (room 0): places were granted as free when these jobs did not count yet, so the
--   next create counts exactly again. This is what keeps a replay at the cap from letting
--   creates in past it.
--
-- Lock order, which keeps all of this free of deadlocks: projects in project_id order, and
-- within a project stripe 0 first, then ascending. A create's fast path holds one stripe
-- (1 to 15) and nothing else; every statement that takes more than one stripe of a project
-- holds its stripe 0 first.
CREATE FUNCTION count_unfinished_job_change(project uuid, delta int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF delta < 0 THEN
    UPDATE project_job_count_stripes SET unfinished = unfinished + delta WHERE project_id = project AND stripe = 0;
  ELSIF delta > 0 THEN
    PERFORM FROM project_job_count_stripes WHERE project_id = project ORDER BY stripe FOR NO KEY UPDATE;
    UPDATE project_job_count_stripes
    SET unfinished = unfinished + CASE WHEN stripe = 0 THEN delta ELSE 0 END, room = 0
    WHERE project_id = project;
  END IF;
END $$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION count_unfinished_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF current_setting('fliq.jobs_counted', true) = 'on' THEN
      PERFORM set_config('fliq.jobs_counted', '', true);
      RETURN NULL;
    END IF;
    PERFORM count_unfinished_job_change(d.project_id, d.delta)
    FROM (SELECT project_id, count(*)::int AS delta FROM new_rows
          WHERE status IN ('scheduled', 'running') GROUP BY project_id ORDER BY project_id) d;
  ELSIF TG_OP = 'UPDATE' THEN
    PERFORM count_unfinished_job_change(d.project_id, d.delta)
    FROM (SELECT project_id, sum(s.delta)::int AS delta FROM (
            SELECT project_id, 1 AS delta FROM new_rows WHERE status IN ('scheduled', 'running')
            UNION ALL
            SELECT project_id, -1 AS delta FROM old_rows WHERE status IN ('scheduled', 'running')) s
          GROUP BY project_id HAVING sum(s.delta) <> 0 ORDER BY project_id) d;
  ELSE
    PERFORM count_unfinished_job_change(d.project_id, -d.delta)
    FROM (SELECT project_id, count(*)::int AS delta FROM old_rows
          WHERE status IN ('scheduled', 'running') GROUP BY project_id ORDER BY project_id) d;
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
-- Every project has its stripes from the start, so a create always finds rows to lock.
CREATE OR REPLACE FUNCTION create_project_job_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO project_job_count_stripes (project_id, stripe)
  SELECT id, stripe FROM new_rows, generate_series(0, 15) AS stripe;
  RETURN NULL;
END $$;
--> statement-breakpoint
-- The counts move over whole: writers of jobs wait for this migration's transaction.
LOCK TABLE projects, jobs, project_job_counts IN SHARE MODE;
--> statement-breakpoint
INSERT INTO project_job_count_stripes (project_id, stripe, unfinished)
SELECT c.project_id, stripe, CASE WHEN stripe = 0 THEN c.unfinished ELSE 0 END
FROM project_job_counts c, generate_series(0, 15) AS stripe;
--> statement-breakpoint
DROP TABLE "project_job_counts";
--> statement-breakpoint
CREATE VIEW project_job_counts AS
SELECT project_id, sum(unfinished)::int AS unfinished FROM project_job_count_stripes GROUP BY project_id;
