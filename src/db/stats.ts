/**
 * Read-only SQL behind the dashboard's overview: how a project's jobs stand and how their
 * callbacks went lately. Every statement is scoped to one project and reads only through an
 * index (jobs by project, attempts by fired_at), so the overview stays cheap.
 */
import { and, desc, eq, inArray, sql } from "drizzle-orm";
import type { JobStatus } from "../jobs/states";
import type { Database } from "./client";
import { type JobAttemptRow, type JobRow, jobAttempts, jobs } from "./schema";

/** How many of a project's jobs are in each status (statuses without jobs are absent). */
export async function countJobsByStatus(db: Database, projectId: string): Promise<Partial<Record<JobStatus, number>>> {
  const rows = await db
    .select({ status: jobs.status, count: sql<number>`count(*)::int` })
    .from(jobs)
    .where(eq(jobs.projectId, projectId))
    .groupBy(jobs.status);
  return Object.fromEntries(rows.map((row) => [row.status, row.count]));
}

/** Attempts fired in a span of time: how many, how many succeeded, and how late they fired. */
export interface AttemptSummary {
  attempts: number;
  succeeded: number;
  /** Median and 99th percentile of lateness (fired_at - planned_at), in ms; null without attempts. */
  latenessP50Ms: number | null;
  latenessP99Ms: number | null;
}

export interface AttemptBucket extends AttemptSummary {
  /** Start of the bucket. */
  start: Date;
}

/** Attempts of the last span, in total and per bucket (buckets without attempts are absent). */
export interface AttemptActivity {
  total: AttemptSummary;
  buckets: AttemptBucket[];
}

/**
 * A project's callback attempts fired in [since, until), summed up in total and per bucket of
 * `bucketMs` aligned on `since`, in one statement (GROUPING SETS: the row without a bucket is
 * the total, as percentiles cannot be added up from buckets). Reads attempts through their
 * fired_at index and each one's job by primary key.
 */
export async function attemptActivity(
  db: Database,
  projectId: string,
  since: Date,
  until: Date,
  bucketMs: number,
): Promise<AttemptActivity> {
  const from = sql`${since.toISOString()}::timestamptz`;
  const result = await db.execute<{
    bucket: string | null;
    attempts: number;
    succeeded: number;
    p50: number | null;
    p99: number | null;
  }>(sql`
    SELECT bucket,
           count(*)::int AS attempts,
           (count(*) FILTER (WHERE outcome = 'succeeded'))::int AS succeeded,
           -- A lost attempt's firing time is not known, so it has no lateness to count.
           percentile_cont(0.5) WITHIN GROUP (ORDER BY lateness_ms) FILTER (WHERE outcome <> 'unknown') AS p50,
           percentile_cont(0.99) WITHIN GROUP (ORDER BY lateness_ms) FILTER (WHERE outcome <> 'unknown') AS p99
    FROM (
      SELECT date_bin(${`${bucketMs} milliseconds`}::interval, a.fired_at, ${from}) AS bucket, a.outcome, a.lateness_ms
      FROM job_attempts a
      JOIN jobs j ON j.id = a.job_id
      WHERE j.project_id = ${projectId}
        AND a.fired_at >= ${from}
        AND a.fired_at < ${until.toISOString()}::timestamptz
    ) fired
    GROUP BY GROUPING SETS ((bucket), ())
    ORDER BY bucket NULLS FIRST`);
  const summary = (row: (typeof result.rows)[number] | undefined): AttemptSummary => ({
    attempts: row?.attempts ?? 0,
    succeeded: row?.succeeded ?? 0,
    latenessP50Ms: row?.p50 == null ? null : Math.round(Number(row.p50)),
    latenessP99Ms: row?.p99 == null ? null : Math.round(Number(row.p99)),
  });
  const totalRow = result.rows.find((row) => row.bucket === null);
  return {
    total: summary(totalRow),
    buckets: result.rows
      .filter((row) => row.bucket !== null)
      .map((row) => ({ start: new Date(row.bucket as string), ...summary(row) })),
  };
}

/** A project's most recently failed jobs, newest failure first. */
export async function recentFailures(db: Database, projectId: string, limit: number): Promise<JobRow[]> {
  return db
    .select()
    .from(jobs)
    .where(and(eq(jobs.projectId, projectId), eq(jobs.status, "failed")))
    .orderBy(desc(jobs.finishedAt), desc(jobs.id))
    .limit(limit);
}

/** The latest attempt of a job, as a list of jobs shows it. */
export interface LatestAttempt {
  attempt: number;
  outcome: JobAttemptRow["outcome"];
  latenessMs: number;
}

/**
 * The latest attempt of each of these jobs (jobs without one are absent), in one statement
 * through the (job_id, attempt) unique index. Read-only; `jobIds` is one page of a list.
 */
export async function latestAttempts(db: Database, jobIds: string[]): Promise<Map<string, LatestAttempt>> {
  if (jobIds.length === 0) return new Map();
  const rows = await db
    .selectDistinctOn([jobAttempts.jobId], {
      jobId: jobAttempts.jobId,
      attempt: jobAttempts.attempt,
      outcome: jobAttempts.outcome,
      latenessMs: jobAttempts.latenessMs,
    })
    .from(jobAttempts)
    .where(inArray(jobAttempts.jobId, jobIds))
    .orderBy(jobAttempts.jobId, desc(jobAttempts.attempt));
  return new Map(rows.map(({ jobId, ...latest }) => [jobId, latest]));
}
