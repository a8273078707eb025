/**
 * Every SQL statement on destinations besides the result write's and the start's
 * (destinationsTold and destinationHold in db/jobs.ts, which keep their health), and on a
 * project's alert URL. Every statement is scoped to one project. `now` always comes from the caller.
 */
import { and, asc, eq, sql } from "drizzle-orm";
import { guardedStatuses } from "../jobs/states";
import type { Database } from "./client";
import { DESTINATION_PATTERN, type DestinationRow, destinations, projects } from "./schema";

/** The project's destinations, by name (at most `limit`). Read-only. */
export function listDestinations(db: Database, projectId: string, limit: number): Promise<DestinationRow[]> {
  return db
    .select()
    .from(destinations)
    .where(eq(destinations.projectId, projectId))
    .orderBy(asc(destinations.destination))
    .limit(limit);
}

/** The project's destination `id`, or undefined (another project's id too). Read-only. */
export async function findDestination(
  db: Database,
  projectId: string,
  id: string,
): Promise<DestinationRow | undefined> {
  const [row] = await db
    .select()
    .from(destinations)
    .where(and(eq(destinations.projectId, projectId), eq(destinations.id, id)));
  return row;
}

/**
 * Resumes a paused destination by hand and, in the same statement, makes the jobs it held due at
 * once. Its run of failures starts again from zero. Resuming one that is not paused changes
 * nothing. Returns the row, or undefined when the project has no such destination.
 */
export async function resumeDestination(
  db: Database,
  projectId: string,
  id: string,
  now: Date,
): Promise<DestinationRow | undefined> {
  const at = sql`${now.toISOString()}::timestamptz`;
  const held = sql.raw(`'${guardedStatuses("releaseHeldJobs").join("', '")}'`);
  await db.execute(sql`
    WITH resumed AS (
      UPDATE destinations
      SET paused_at = NULL, next_probe_at = NULL, probe_interval_ms = NULL, probe_job_id = NULL,
          consecutive_failures = 0, updated_at = ${at}
      WHERE project_id = ${projectId} AND id = ${id} AND paused_at IS NOT NULL
      RETURNING project_id, destination
    )
    UPDATE jobs j SET run_at = ${at}, claimed_by = NULL, locked_until = NULL, updated_at = ${at}
    FROM resumed r
    WHERE j.project_id = r.project_id AND substring(j.url FROM ${DESTINATION_PATTERN}) = r.destination
      AND j.status IN (${held}) AND j.held_since IS NOT NULL AND j.run_at > ${at}`);
  return findDestination(db, projectId, id);
}

/** The URL told when one of the project's destinations pauses or resumes (null: none). */
export async function findAlertUrl(db: Database, projectId: string): Promise<string | null> {
  const [row] = await db.select({ alertUrl: projects.alertUrl }).from(projects).where(eq(projects.id, projectId));
  return row?.alertUrl ?? null;
}

/** Sets (or, with null, removes) the project's alert URL. */
export async function setAlertUrl(db: Database, projectId: string, url: string | null): Promise<void> {
  await db.update(projects).set({ alertUrl: url }).where(eq(projects.id, projectId));
}
