/**
 * Every SQL statement on schedules, and the ones that turn a schedule's occurrences into jobs.
 * Each states what it guarantees when several ticks and API requests run it at once. `now`
 * always comes from the caller.
 */
import { and, desc, eq, inArray, lt, type SQL, sql } from "drizzle-orm";
import type { ScheduleStatus } from "../jobs/schedule-policy";
import type { Database } from "./client";
import { type JobRow, jobs, type ScheduleRow, schedules } from "./schema";

export type NewSchedule = Omit<typeof schedules.$inferInsert, "updatedAt">;

/** Inserts a schedule. */
export async function insertSchedule(db: Database, schedule: NewSchedule): Promise<ScheduleRow> {
  const [row] = await db
    .insert(schedules)
    .values({ ...schedule, updatedAt: schedule.createdAt })
    .returning();
  return row;
}

/**
 * Inserts a schedule unless its project already has one with the same idempotency key; then that
 * one is returned, with `created: false`. Concurrency: the unique index on (project_id,
 * idempotency_key) lets exactly one of concurrent repeats insert.
 */
export async function insertScheduleOnce(
  db: Database,
  schedule: NewSchedule,
): Promise<{ schedule: ScheduleRow; created: boolean }> {
  const [inserted] = await db
    .insert(schedules)
    .values({ ...schedule, updatedAt: schedule.createdAt })
    .onConflictDoNothing({
      target: [schedules.projectId, schedules.idempotencyKey],
      where: sql`idempotency_key IS NOT NULL`,
    })
    .returning();
  if (inserted) return { schedule: inserted, created: true };
  const key = schedule.idempotencyKey;
  if (!key) throw new Error("a schedule without an idempotency key cannot conflict");
  const [existing] = await db
    .select()
    .from(schedules)
    .where(and(eq(schedules.projectId, schedule.projectId), eq(schedules.idempotencyKey, key)));
  return { schedule: existing, created: false };
}

/** A project's schedule by id; another project's id finds nothing. */
export async function findSchedule(db: Database, projectId: string, id: string): Promise<ScheduleRow | undefined> {
  const [row] = await db
    .select()
    .from(schedules)
    .where(and(eq(schedules.id, id), eq(schedules.projectId, projectId)));
  return row;
}

export interface ScheduleFilter {
  projectId: string;
  statuses?: ScheduleStatus[];
  /** Schedules carrying all these labels with these values. */
  labels?: Record<string, string>;
}

/**
 * One page of a project's schedules, newest first, keyset-paginated on (created_at, id) so a
 * page never repeats or skips one because of schedules created meanwhile. Read-only.
 */
export async function listSchedules(
  db: Database,
  filter: ScheduleFilter,
  page: { after?: { at: Date; id: string }; limit: number },
): Promise<ScheduleRow[]> {
  const conditions: SQL[] = [eq(schedules.projectId, filter.projectId)];
  if (filter.statuses?.length) conditions.push(inArray(schedules.status, filter.statuses));
  if (filter.labels && Object.keys(filter.labels).length > 0) {
    conditions.push(sql`${schedules.labels} @> ${JSON.stringify(filter.labels)}::jsonb`);
  }
  if (page.after) {
    conditions.push(
      sql`(${schedules.createdAt}, ${schedules.id}) < (${page.after.at.toISOString()}::timestamptz, ${page.after.id}::uuid)`,
    );
  }
  return db
    .select()
    .from(schedules)
    .where(and(...conditions))
    .orderBy(desc(schedules.createdAt), desc(schedules.id))
    .limit(page.limit);
}

/** The stored fields a change may set; absent ones keep their value. */
export type ScheduleChanges = Partial<
  Omit<ScheduleRow, "id" | "projectId" | "idempotencyKey" | "idempotencyFingerprint" | "createdAt" | "updatedAt">
>;

/** A handle statements run on: the database, or a transaction on it. */
type Executor = Pick<Database, "select" | "insert" | "update" | "delete" | "execute">;

/**
 * Applies a change as a compare-and-set and re-plans the schedule, in one transaction: guarded
 * by `updated_at = expectedUpdatedAt`, so a concurrent change in between makes it change
 * nothing (undefined). The occurrences created but not started are withdrawn (they were planned
 * from the old version), and `planFor` plans again from the changed row; its occurrences are
 * created before the transaction commits. The row lock taken by the update makes a concurrent
 * tick wait and then find its plan stale, and the withdrawal (a later statement) sees every
 * occurrence a tick committed before it.
 */
export async function updateSchedule(
  db: Database,
  key: { projectId: string; id: string; expectedUpdatedAt: Date },
  changes: ScheduleChanges,
  now: Date,
  planFor: (schedule: ScheduleRow) => OccurrenceBatch[],
  claim?: OccurrenceClaim,
): Promise<{ schedule: ScheduleRow; occurrences: MaterializeResult } | undefined> {
  return db.transaction(async (tx) => {
    const [updated] = await tx
      .update(schedules)
      .set({ ...changes, updatedAt: now })
      .where(
        and(
          eq(schedules.id, key.id),
          eq(schedules.projectId, key.projectId),
          eq(schedules.updatedAt, key.expectedUpdatedAt),
        ),
      )
      .returning();
    if (!updated) return undefined;
    await withdrawPendingOccurrences(tx, updated.id);
    const occurrences = await materializeOccurrences(tx, planFor(updated), now, claim);
    return { schedule: updated, occurrences };
  });
}

/**
 * Deletes the occurrences of a schedule that have not started (scheduled, attempt 0): a plan
 * made from a version of the schedule that no longer holds. Guard: `status = 'scheduled' AND
 * attempt = 0`; an occurrence a tick has already started is left to run, and one it has only
 * claimed is not started (its row is gone). A run waiting for a retry is not touched.
 */
async function withdrawPendingOccurrences(db: Executor, scheduleId: string): Promise<number> {
  const deleted = await db
    .delete(jobs)
    .where(and(eq(jobs.scheduleId, scheduleId), eq(jobs.status, "scheduled"), eq(jobs.attempt, 0)))
    .returning({ id: jobs.id });
  return deleted.length;
}

/**
 * Deletes a schedule and withdraws its occurrences that have not started, in one transaction
 * that locks the schedule first (a concurrent tick waits, then finds it gone). Its past runs
 * stay, as ordinary jobs (their schedule_id becomes null). Returns the deleted row.
 */
export async function deleteSchedule(db: Database, projectId: string, id: string): Promise<ScheduleRow | undefined> {
  return db.transaction(async (tx) => {
    const [locked] = await tx
      .select({ id: schedules.id })
      .from(schedules)
      .where(and(eq(schedules.id, id), eq(schedules.projectId, projectId)))
      .for("update");
    if (!locked) return undefined;
    await withdrawPendingOccurrences(tx, id);
    const [deleted] = await tx.delete(schedules).where(eq(schedules.id, id)).returning();
    return deleted;
  });
}

/** The latest runs of a schedule, newest first. Read-only. */
export async function recentRuns(db: Database, scheduleId: string, limit: number): Promise<JobRow[]> {
  return db
    .select()
    .from(jobs)
    .where(eq(jobs.scheduleId, scheduleId))
    .orderBy(desc(jobs.scheduledAt), desc(jobs.id))
    .limit(limit);
}

/** What the tick plans a schedule's occurrences from: its timing, policies and version, not its request. */
export type DueSchedule = Pick<
  ScheduleRow,
  "id" | "cron" | "timezone" | "startsAt" | "endsAt" | "missedPolicy" | "overlapPolicy" | "nextRunAt" | "updatedAt"
>;

/**
 * Active schedules with an occurrence before `before`, by id after `after`, up to `limit`.
 * Read-only: what to do with each is decided by the caller and written by materializeOccurrences
 * (the request itself is copied in SQL there, so large bodies never travel through the tick).
 */
export async function dueSchedules(db: Database, before: Date, limit: number, after?: string): Promise<DueSchedule[]> {
  const conditions: SQL[] = [eq(schedules.status, "active"), lt(schedules.nextRunAt, before)];
  if (after) conditions.push(sql`${schedules.id} > ${after}::uuid`);
  return db
    .select({
      id: schedules.id,
      cron: schedules.cron,
      timezone: schedules.timezone,
      startsAt: schedules.startsAt,
      endsAt: schedules.endsAt,
      missedPolicy: schedules.missedPolicy,
      overlapPolicy: schedules.overlapPolicy,
      nextRunAt: schedules.nextRunAt,
      updatedAt: schedules.updatedAt,
    })
    .from(schedules)
    .where(and(...conditions))
    .orderBy(schedules.id)
    .limit(limit);
}

/** The occurrences planned for one schedule, from the version of it they were planned on. */
export interface OccurrenceBatch {
  schedule: Pick<ScheduleRow, "id" | "nextRunAt" | "updatedAt">;
  occurrences: Date[];
  nextRunAt: Date | null;
}

/** A job just created for an occurrence. */
export interface CreatedOccurrence {
  id: string;
  scheduleId: string;
  occurrenceAt: Date;
  /** Claimed at insert for the caller, which fires it itself. */
  claimed: boolean;
}

/**
 * An API invocation's claim on the occurrences it creates that fall due before it can no longer
 * deliver: within `windowMs` of now, less each one's timeout (as POST /jobs claims a job due soon).
 */
export interface OccurrenceClaim {
  claimant: string;
  windowMs: number;
  leaseMs: number;
}

export interface MaterializeResult {
  created: CreatedOccurrence[];
  /** The schedules whose plan held (the others changed or were handled meanwhile). */
  advanced: string[];
}

/**
 * Creates planned occurrences as jobs and moves each schedule's next_run_at past them, for many
 * schedules in one statement. Guard (a compare-and-set per schedule): the schedule is still
 * active, unchanged since it was read (`updated_at`), and its next_run_at is still the one
 * planned from; otherwise that schedule's occurrences are not created (a concurrent tick or API
 * call handled them, or a change or pause made the plan stale; the caller may plan again). The
 * unique index on (schedule_id, occurrence_at) makes a second job for one occurrence impossible
 * in any case.
 * With `overlap_policy = 'skip'`, an occurrence is not created while an earlier run of the
 * schedule has started and not finished (running, or scheduled for a retry: attempt > 0).
 * Occurrence jobs copy the schedule's request and policy; updated_at is left alone, so
 * bookkeeping does not change the schedule's ETag. With `claim`, occurrences due within the
 * caller's after-response window are created already claimed by it. Returns the jobs created and the schedules
 * whose plan held.
 */
export async function materializeOccurrences(
  db: Executor,
  batch: OccurrenceBatch[],
  now: Date,
  claim?: OccurrenceClaim,
): Promise<MaterializeResult> {
  if (batch.length === 0) return { created: [], advanced: [] };
  const plans = JSON.stringify(
    batch.map((b) => ({
      schedule_id: b.schedule.id,
      expected_next_run_at: b.schedule.nextRunAt?.toISOString() ?? null,
      expected_updated_at: b.schedule.updatedAt.toISOString(),
      next_run_at: b.nextRunAt?.toISOString() ?? null,
      occurrences: b.occurrences.map((at) => at.toISOString()),
    })),
  );
  const at = sql`${now.toISOString()}::timestamptz`;
  // Claimed at insert when the caller fires them itself: due before its window closes, less the timeout.
  const claimable = claim
    ? sql`o.at < ${at} + (${claim.windowMs} - a.timeout_ms) * interval '1 millisecond'`
    : sql`false`;
  const result = await db.execute<{
    schedule_id: string;
    job_id: string | null;
    occurrence_at: string | null;
    claimed: boolean | null;
  }>(sql`
    WITH plan AS (
      SELECT * FROM jsonb_to_recordset(${plans}::jsonb) AS p(
        schedule_id uuid, expected_next_run_at timestamptz, expected_updated_at timestamptz,
        next_run_at timestamptz, occurrences jsonb)
    ),
    advanced AS (
      UPDATE schedules s
      SET next_run_at = p.next_run_at,
          last_occurrence_at = COALESCE(
            (SELECT max(o.value::timestamptz) FROM jsonb_array_elements_text(p.occurrences) o), s.last_occurrence_at)
      FROM plan p
      WHERE s.id = p.schedule_id
        AND s.status = 'active'
        AND s.updated_at = p.expected_updated_at
        AND s.next_run_at IS NOT DISTINCT FROM p.expected_next_run_at
      RETURNING s.*, p.occurrences AS planned
    ),
    inserted AS (
      INSERT INTO jobs (id, project_id, url, http_method, headers, body, labels, failure_url, scheduled_at, run_at,
                        max_retries, timeout_ms, backoff_initial_ms, backoff_max_ms, status, attempt,
                        created_at, updated_at, schedule_id, occurrence_at, claimed_by, locked_until)
      SELECT gen_random_uuid(), a.project_id, a.url, a.http_method, a.headers, a.body, a.labels, a.failure_url,
             o.at, o.at, a.max_retries, a.timeout_ms, a.backoff_initial_ms, a.backoff_max_ms, 'scheduled', 0,
             ${at}, ${at}, a.id, o.at,
             CASE WHEN ${claimable} THEN ${claim?.claimant ?? null}::uuid END,
             CASE WHEN ${claimable} THEN GREATEST(o.at, ${at}) + ${claim?.leaseMs ?? 0} * interval '1 millisecond' END
      FROM advanced a
      CROSS JOIN LATERAL (SELECT value::timestamptz AS at FROM jsonb_array_elements_text(a.planned)) o
      WHERE NOT (a.overlap_policy = 'skip' AND EXISTS (
        SELECT 1 FROM jobs j
        WHERE j.schedule_id = a.id AND (j.status = 'running' OR (j.status = 'scheduled' AND j.attempt > 0))))
      ON CONFLICT (schedule_id, occurrence_at) WHERE occurrence_at IS NOT NULL DO NOTHING
      RETURNING id, schedule_id, occurrence_at, claimed_by IS NOT NULL AS claimed
    )
    SELECT id AS schedule_id, NULL::uuid AS job_id, NULL::timestamptz AS occurrence_at, NULL::boolean AS claimed
    FROM advanced
    UNION ALL
    SELECT schedule_id, id, occurrence_at, claimed FROM inserted`);
  const created: CreatedOccurrence[] = [];
  const advanced: string[] = [];
  for (const row of result.rows) {
    if (row.job_id === null) advanced.push(row.schedule_id);
    else {
      const occurrenceAt = new Date(row.occurrence_at ?? 0);
      created.push({ id: row.job_id, scheduleId: row.schedule_id, occurrenceAt, claimed: row.claimed === true });
    }
  }
  return { created, advanced };
}
