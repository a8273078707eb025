/**
 * Every SQL statement on jobs and job_attempts. Each states what it guarantees when
 * several ticks and API requests run it at once. `now` always comes from the caller.
 */
import { and, asc, eq, inArray, lt, lte, sql } from "drizzle-orm";
import type { AttemptOutcome, JobStatus } from "../jobs/states";
import type { Database } from "./client";
import { type JobAttemptRow, type JobRow, jobAttempts, jobs } from "./schema";

export type NewJob = Omit<typeof jobs.$inferInsert, "status" | "attempt" | "lockedUntil" | "updatedAt">;

/** Inserts a job as `scheduled`. A single-row insert: it is either fully there or absent. */
export async function insertJob(db: Database, job: NewJob): Promise<JobRow> {
  const [row] = await db
    .insert(jobs)
    .values({ ...job, status: "scheduled", attempt: 0, updatedAt: job.createdAt })
    .returning();
  return row;
}

/** A project's job by id; another project's id finds nothing. */
export async function findJob(db: Database, projectId: string, id: string): Promise<JobRow | undefined> {
  const [row] = await db
    .select()
    .from(jobs)
    .where(and(eq(jobs.id, id), eq(jobs.projectId, projectId)));
  return row;
}

/** A job's attempts, oldest first. */
export async function listAttempts(db: Database, jobId: string): Promise<JobAttemptRow[]> {
  return db.select().from(jobAttempts).where(eq(jobAttempts.jobId, jobId)).orderBy(asc(jobAttempts.attempt));
}

export interface ClaimOptions {
  /** Claim jobs whose run_at is at or before this instant. */
  dueBy: Date;
  /** The lease: until then no other claimer or rescuer touches the job. */
  lockedUntil: Date;
  now: Date;
  limit: number;
}

/**
 * Claims up to `limit` due jobs, soonest first, and starts their next attempt.
 * Concurrency: one statement; `FOR UPDATE SKIP LOCKED` makes concurrent claimers take
 * disjoint sets, and a claimed row leaves the `scheduled` state so no later claim sees it
 * until it finishes or its lease is rescued.
 */
export async function claimDueJobs(db: Database, options: ClaimOptions): Promise<JobRow[]> {
  const due = db
    .select({ id: jobs.id })
    .from(jobs)
    .where(and(eq(jobs.status, "scheduled"), lte(jobs.runAt, options.dueBy)))
    .orderBy(asc(jobs.runAt))
    .limit(options.limit)
    .for("update", { skipLocked: true });
  return db
    .update(jobs)
    .set({
      status: "running",
      attempt: sql`${jobs.attempt} + 1`,
      lockedUntil: options.lockedUntil,
      updatedAt: options.now,
    })
    .where(and(inArray(jobs.id, due), eq(jobs.status, "scheduled")))
    .returning();
}

/** The result of one attempt and the job state it leads to, ready to be written. */
export interface FinishedAttempt {
  jobId: string;
  attempt: number;
  status: Extract<JobStatus, "succeeded" | "scheduled" | "failed">;
  nextRunAt: Date | null;
  finishedAt: Date | null;
  plannedAt: Date;
  firedAt: Date;
  latenessMs: number;
  durationMs: number;
  statusCode: number | null;
  responseExcerpt: string | null;
  errorClass: string | null;
  errorMessage: string | null;
  outcome: AttemptOutcome;
  now: Date;
}

/**
 * Writes a batch of attempt results in one statement: moves each job to its next state
 * and records its attempt.
 * Guard: only a job still `running` with the same attempt number is touched, and the
 * attempt row is written only for jobs that guard let through. A late write from a lost
 * lease (the job was rescued, retried or canceled since) changes nothing.
 * Returns the ids of the jobs actually updated.
 */
export async function finishAttempts(db: Database, batch: FinishedAttempt[]): Promise<string[]> {
  if (batch.length === 0) return [];
  const input = JSON.stringify(
    batch.map((a) => ({
      job_id: a.jobId,
      attempt: a.attempt,
      status: a.status,
      next_run_at: a.nextRunAt?.toISOString() ?? null,
      finished_at: a.finishedAt?.toISOString() ?? null,
      planned_at: a.plannedAt.toISOString(),
      fired_at: a.firedAt.toISOString(),
      lateness_ms: a.latenessMs,
      duration_ms: a.durationMs,
      status_code: a.statusCode,
      response_excerpt: a.responseExcerpt,
      error_class: a.errorClass,
      error_message: a.errorMessage,
      outcome: a.outcome,
      now: a.now.toISOString(),
    })),
  );
  const result = await db.execute<{ job_id: string }>(sql`
    WITH input AS (
      SELECT * FROM jsonb_to_recordset(${input}::jsonb) AS r(
        job_id uuid, attempt int, status job_status, next_run_at timestamptz, finished_at timestamptz,
        planned_at timestamptz, fired_at timestamptz, lateness_ms int, duration_ms int, status_code int,
        response_excerpt text, error_class text, error_message text, outcome attempt_outcome, now timestamptz)
    ),
    moved AS (
      UPDATE jobs j
      SET status = i.status,
          run_at = COALESCE(i.next_run_at, j.run_at),
          locked_until = NULL,
          last_status_code = i.status_code,
          last_error = i.error_class,
          finished_at = i.finished_at,
          updated_at = i.now
      FROM input i
      WHERE j.id = i.job_id AND j.status = 'running' AND j.attempt = i.attempt
      RETURNING j.id, j.attempt
    )
    INSERT INTO job_attempts (job_id, attempt, planned_at, fired_at, lateness_ms, duration_ms, status_code,
                              response_excerpt, error_class, error_message, outcome)
    SELECT i.job_id, i.attempt, i.planned_at, i.fired_at, i.lateness_ms, i.duration_ms, i.status_code,
           i.response_excerpt, i.error_class, i.error_message, i.outcome
    FROM input i JOIN moved m ON m.id = i.job_id AND m.attempt = i.attempt
    ON CONFLICT (job_id, attempt) DO NOTHING
    RETURNING job_id`);
  return result.rows.map((row) => row.job_id);
}

/**
 * Returns jobs whose lease expired (their tick died or ran out of time) to `scheduled`,
 * due now, or to `failed` when that attempt was their last. Idempotent; guarded by
 * `status = 'running' AND locked_until < now`, so a live lease is never touched.
 * The lost attempt counts: the callback may have been made (at-least-once).
 */
export async function rescueExpiredLeases(db: Database, now: Date): Promise<number> {
  const at = sql`${now.toISOString()}::timestamptz`;
  const spent = sql`${jobs.attempt} > ${jobs.maxRetries}`;
  const rescued = await db
    .update(jobs)
    .set({
      status: sql`CASE WHEN ${spent} THEN 'failed' ELSE 'scheduled' END::job_status`,
      runAt: sql`CASE WHEN ${spent} THEN ${jobs.runAt} ELSE ${at} END`,
      finishedAt: sql`CASE WHEN ${spent} THEN ${at} END`,
      lockedUntil: null,
      lastError: "lease_expired",
      updatedAt: now,
    })
    .where(and(eq(jobs.status, "running"), lt(jobs.lockedUntil, now)))
    .returning({ id: jobs.id });
  return rescued.length;
}
