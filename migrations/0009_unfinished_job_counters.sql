-- Keeps project_job_counts.unfinished equal to the number of the project's jobs that are
-- 'scheduled' or 'running', whichever statement inserts, changes or deletes them, so the cap on
-- waiting jobs is one row read instead of a count (see createJobsAsCaller in src/db/jobs.ts).
--
-- Statement-level triggers with transition tables: one counter update per project per
-- statement, however many rows it touches (a batch of 1,000 jobs, a flush of 500 results).
-- Counter rows are updated in project_id order, so two statements touching the same projects
-- lock their counters in the same order and never deadlock on them. A statement that leaves
-- a project's count unchanged (a claim, a start, a retry) writes no counter at all.
CREATE FUNCTION count_unfinished_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    UPDATE project_job_counts c SET unfinished = c.unfinished + d.delta
    FROM (SELECT project_id, count(*)::int AS delta FROM new_rows
          WHERE status IN ('scheduled', 'running') GROUP BY project_id ORDER BY project_id) d
    WHERE c.project_id = d.project_id;
  ELSIF TG_OP = 'UPDATE' THEN
    UPDATE project_job_counts c SET unfinished = c.unfinished + d.delta
    FROM (SELECT project_id, sum(s.delta)::int AS delta FROM (
            SELECT project_id, 1 AS delta FROM new_rows WHERE status IN ('scheduled', 'running')
            UNION ALL
            SELECT project_id, -1 AS delta FROM old_rows WHERE status IN ('scheduled', 'running')) s
          GROUP BY project_id HAVING sum(s.delta) <> 0 ORDER BY project_id) d
    WHERE c.project_id = d.project_id;
  ELSE
    UPDATE project_job_counts c SET unfinished = c.unfinished - d.delta
    FROM (SELECT project_id, count(*)::int AS delta FROM old_rows
          WHERE status IN ('scheduled', 'running') GROUP BY project_id ORDER BY project_id) d
    WHERE c.project_id = d.project_id;
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER jobs_count_inserted AFTER INSERT ON jobs REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION count_unfinished_jobs();
--> statement-breakpoint
CREATE TRIGGER jobs_count_updated AFTER UPDATE ON jobs REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION count_unfinished_jobs();
--> statement-breakpoint
CREATE TRIGGER jobs_count_deleted AFTER DELETE ON jobs REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION count_unfinished_jobs();
--> statement-breakpoint
-- Every project has its counter from the start, so a create always finds a row to lock.
CREATE FUNCTION create_project_job_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO project_job_counts (project_id, unfinished) SELECT id, 0 FROM new_rows;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER projects_job_count_created AFTER INSERT ON projects REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION create_project_job_count();
--> statement-breakpoint
-- The existing jobs, counted once. Writers wait for this migration's transaction (SHARE mode
-- lets reads through), so no job changes between the count and the triggers taking over.
LOCK TABLE projects, jobs IN SHARE MODE;
--> statement-breakpoint
INSERT INTO project_job_counts (project_id, unfinished)
SELECT p.id, (SELECT count(*) FROM jobs j WHERE j.project_id = p.id AND j.status IN ('scheduled', 'running'))::int
FROM projects p;
