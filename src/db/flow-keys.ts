/**
 * Every SQL statement on flow keys besides the start's and the result write's (keyedStart and
 * slotsGivenBack in db/jobs.ts, which keep in_flight and next_slot_at). A key belongs to one
 * project; every statement is scoped to it. `now` always comes from the caller.
 */
import { type SQL, sql } from "drizzle-orm";
import type { FlowLimits } from "../jobs/flow-control";
import { type GuardedStatement, guardedStatuses } from "../jobs/states";
import type { Database } from "./client";

/** Why a key is paused: by hand, or because an ordered key's head failed for good. */
export type PausedReason = "manual" | "head_failed";

/** A flow key with its backlog, as the API and dashboard show it. */
export interface FlowKeyWithBacklog extends FlowLimits {
  key: string;
  paused: boolean;
  pausedReason: PausedReason | null;
  inFlight: number;
  /** Jobs of the key still to be delivered and not running. */
  waiting: number;
  /** Of those, jobs the key has held back past their time. */
  held: number;
  oldestDueAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

interface FlowKeyJson extends Record<string, unknown> {
  key: string;
  rate_limit: number | null;
  rate_period_ms: number | null;
  parallelism: number | null;
  ordered: boolean;
  on_head_failure: FlowLimits["onHeadFailure"];
  paused: boolean;
  paused_reason: PausedReason | null;
  in_flight: number;
  waiting: number;
  held: number;
  oldest_due_at: string | null;
  created_at: string;
  updated_at: string;
}

/** A guard's statuses as literals (see statusGuard in db/jobs.ts): `j.status IN ('scheduled')`. */
function statusGuard(statement: GuardedStatement, column: "status" | "j.status"): SQL {
  return sql.raw(
    `${column} IN (${guardedStatuses(statement)
      .map((status) => `'${status}'`)
      .join(", ")})`,
  );
}

/** The keys matching `where` (an SQL condition on flow_keys f), with their backlogs read through jobs_flow_idx. */
function selectWithBacklog(where: SQL, limit: number): SQL {
  return sql`
    SELECT f.key, f.rate_limit, f.rate_period_ms, f.parallelism, f.ordered, f.on_head_failure, f.paused,
           f.paused_reason, f.in_flight, b.waiting, b.held, b.oldest_due_at, f.created_at, f.updated_at
    FROM flow_keys f CROSS JOIN LATERAL (
      SELECT count(*)::int AS waiting, count(*) FILTER (WHERE j.held_since IS NOT NULL)::int AS held,
             min(COALESCE(j.held_since, j.run_at)) AS oldest_due_at
      FROM jobs j
      WHERE j.project_id = f.project_id AND j.flow_key = f.key AND ${statusGuard("flowKeyBacklog", "j.status")}
    ) b
    WHERE ${where}
    ORDER BY f.key
    LIMIT ${limit}`;
}

function fromRow(row: FlowKeyJson): FlowKeyWithBacklog {
  return {
    key: row.key,
    rateLimit: row.rate_limit,
    ratePeriodMs: row.rate_period_ms,
    parallelism: row.parallelism,
    ordered: row.ordered,
    onHeadFailure: row.on_head_failure,
    paused: row.paused,
    pausedReason: row.paused_reason,
    inFlight: row.in_flight,
    waiting: row.waiting,
    held: row.held,
    oldestDueAt: row.oldest_due_at ? new Date(row.oldest_due_at) : null,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

/** A page of the project's keys in name order, after `after`. Read-only. */
export async function listFlowKeys(
  db: Database,
  projectId: string,
  page: { after?: string; limit: number },
): Promise<FlowKeyWithBacklog[]> {
  const after = page.after === undefined ? sql`true` : sql`f.key > ${page.after}`;
  const result = await db.execute<FlowKeyJson>(
    selectWithBacklog(sql`f.project_id = ${projectId} AND ${after}`, page.limit),
  );
  return result.rows.map(fromRow);
}

/** The project's key `key`, or undefined. Read-only. */
export async function findFlowKey(
  db: Database,
  projectId: string,
  key: string,
): Promise<FlowKeyWithBacklog | undefined> {
  const result = await db.execute<FlowKeyJson>(
    selectWithBacklog(sql`f.project_id = ${projectId} AND f.key = ${key}`, 1),
  );
  return result.rows[0] ? fromRow(result.rows[0]) : undefined;
}

/**
 * Changes a key's limits; false when the project has no such key. One statement: the next
 * start of the key's jobs reads the new limits under the row's lock. A rate removed or changed
 * leaves next_slot_at as it is: slots already given stand.
 */
export async function updateFlowKeyLimits(
  db: Database,
  projectId: string,
  key: string,
  changes: Partial<FlowLimits>,
  now: Date,
): Promise<boolean> {
  const set: SQL[] = [sql`updated_at = ${now.toISOString()}::timestamptz`];
  if (changes.rateLimit !== undefined) set.push(sql`rate_limit = ${changes.rateLimit}`);
  if (changes.ratePeriodMs !== undefined) set.push(sql`rate_period_ms = ${changes.ratePeriodMs}`);
  if (changes.parallelism !== undefined) set.push(sql`parallelism = ${changes.parallelism}`);
  if (changes.ordered !== undefined) set.push(sql`ordered = ${changes.ordered}`);
  if (changes.onHeadFailure !== undefined) set.push(sql`on_head_failure = ${changes.onHeadFailure}`);
  const result = await db.execute(sql`
    UPDATE flow_keys SET ${sql.join(set, sql`, `)}
    WHERE project_id = ${projectId} AND key = ${key}
    RETURNING key`);
  return result.rows.length > 0;
}

/** Pauses a key: none of its jobs starts until it is resumed. False when there is no such key. */
export async function pauseFlowKey(db: Database, projectId: string, key: string, now: Date): Promise<boolean> {
  const result = await db.execute(sql`
    UPDATE flow_keys
    SET paused = true, paused_reason = COALESCE(paused_reason, 'manual'), updated_at = ${now.toISOString()}::timestamptz
    WHERE project_id = ${projectId} AND key = ${key}
    RETURNING key`);
  return result.rows.length > 0;
}

/**
 * Resumes a key and, in the same statement, makes the jobs it held due at once (a paused key's
 * jobs are otherwise looked at only once a minute), dropping any claim on them so whichever
 * invocation looks first takes them. Returns whether the key exists and how many jobs were made due.
 * Guard: only `scheduled` jobs the key held back (held_since set) whose next look is still ahead.
 */
export async function resumeFlowKey(
  db: Database,
  projectId: string,
  key: string,
  now: Date,
): Promise<{ found: boolean; released: number }> {
  const at = sql`${now.toISOString()}::timestamptz`;
  const result = await db.execute<{ found: boolean; released: number }>(sql`
    WITH resumed AS (
      UPDATE flow_keys SET paused = false, paused_reason = NULL, updated_at = ${at}
      WHERE project_id = ${projectId} AND key = ${key}
      RETURNING key
    ), released AS (
      UPDATE jobs SET run_at = ${at}, claimed_by = NULL, locked_until = NULL, updated_at = ${at}
      WHERE project_id = ${projectId} AND flow_key = (SELECT key FROM resumed)
        AND ${statusGuard("releaseHeldJobs", "status")}
        AND held_since IS NOT NULL AND run_at > ${at}
      RETURNING id
    )
    SELECT EXISTS (SELECT FROM resumed) AS found, (SELECT count(*) FROM released)::int AS released`);
  return result.rows[0];
}
