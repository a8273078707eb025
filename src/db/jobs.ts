/**
 * Every SQL statement on jobs and job_attempts. Each states what it guarantees when
 * several ticks and API requests run it at once. `now` always comes from the caller.
 */
import { and, asc, desc, eq, getTableColumns, gt, gte, inArray, lt, type SQL, sql } from "drizzle-orm";
import type { PassedOnResponse } from "../jobs/delivery-policy";
import {
  DESTINATION_PAUSE_AFTER,
  type DestinationVerdict,
  FIRST_PROBE_AFTER_MS,
  PROBE_INTERVAL_MAX_MS,
} from "../jobs/destination-health";
import { FLOW_PAUSED_RECHECK_MS, FLOW_RECHECK_MS, FLOW_SLOT_MARGIN, type FlowLimits } from "../jobs/flow-control";
import { type HttpMethod, JOB_LIMITS } from "../jobs/limits";
import {
  type AttemptOutcome,
  type GuardedStatement,
  guardedStatuses,
  type JobStatus,
  MAX_LOST_ATTEMPTS,
} from "../jobs/states";
import { builtOnce } from "./built-once";
import type { Database } from "./client";
import { DESTINATION_PATTERN, JOB_COUNT_STRIPES, type JobAttemptRow, type JobRow, jobAttempts, jobs } from "./schema";

/** The stripes a create takes room from: all but stripe 0 (see projectJobCountStripes). */
const CREATE_STRIPES = JOB_COUNT_STRIPES - 1;

/**
 * A statement's status guard, from its entry in GUARDED_MOVES (jobs/states.ts), the one place
 * the lists live: `status = 'scheduled'` or `status IN ('succeeded', 'failed', 'canceled')`.
 * Written as literals, not parameters, so the planner matches the partial indexes on status
 * (jobs_due_idx, jobs_leased_idx, jobs_finished_idx) whatever plan it caches.
 */
function statusGuard(
  statement: GuardedStatement,
  column: "status" | "j.status" | "jobs.status" | "m.status" = "status",
): SQL {
  const literals = guardedStatuses(statement).map((status) => `'${status}'`);
  return sql.raw(literals.length === 1 ? `${column} = ${literals[0]}` : `${column} IN (${literals.join(", ")})`);
}

/** The same guard as a condition of drizzle's query builder. */
function statusIn(statement: GuardedStatement): SQL {
  return inArray(jobs.status, guardedStatuses(statement));
}

export type NewJob = Omit<typeof jobs.$inferInsert, "status" | "attempt" | "updatedAt">;

function scheduledRow(job: NewJob) {
  return { ...job, status: "scheduled" as const, attempt: 0, updatedAt: job.createdAt };
}

/**
 * Inserts jobs as `scheduled`, some perhaps already claimed (by the API invocation that will
 * fire them itself), in one multi-row statement: all are there, or none.
 */
export async function insertJobs(db: Database, batch: NewJob[]): Promise<JobRow[]> {
  if (batch.length === 0) return [];
  return db.insert(jobs).values(batch.map(scheduledRow)).returning();
}

/** A job as the API creates it: the project is the token's, and the statement fills it in. */
export type JobToCreate = Omit<NewJob, "projectId" | "scheduleId" | "occurrenceAt" | "heldSince"> & {
  /** The limits its flow key (flowKey) is created with, if the project has no key of that name yet. */
  flowLimits?: FlowLimits | null;
};

/** The token a request presents, as stored: its clear lookup prefix and the SHA-256 of the whole. */
export interface PresentedToken {
  prefix: string;
  hash: string;
}

/** What createJobsAsCaller found and did; `kind` tells the cases apart. */
export type CallerCreation =
  | { kind: "unknown_token" }
  | { kind: "insufficient_scope"; caller: CallerRow }
  | { kind: "over_cap"; caller: CallerRow; waiting: number }
  | { kind: "created"; caller: CallerRow; jobs: JobRow[] }
  | { kind: "repeat"; caller: CallerRow; job: JobRow };

/** The token's row, as the request's caller. */
export interface CallerRow {
  projectId: string;
  tokenId: string;
  scopes: string[];
}

/**
 * Creates jobs for the bearer of a token in ONE statement (one round trip, one snapshot): it
 * finds the token, records its use, checks its scopes and the project's cap on waiting jobs,
 * and inserts the jobs, or says which check refused them. Guards, all inside the statement:
 * - the token must match prefix and hash and be unrevoked (`revoked_at IS NULL`), read in this
 *   statement's snapshot, so a revocation committed before it takes effect on this request;
 * - it must hold one of `grantingScopes`; otherwise nothing is inserted;
 * - the project's unfinished jobs plus these must not exceed `cap`, exactly, however many
 *   creates, result writes and cancels race. The count is the sum of the project's stripes in
 *   project_job_count_stripes (see schema.ts and migration 0013), and the statement takes one
 *   of two paths, chosen on its snapshot:
 *   - fast: the stripe drawn for this create (1 to 15) holds `room` for the whole batch,
 *     granted for this very cap. It locks that stripe alone, re-reads it as committed (READ
 *     COMMITTED re-reads a row it had to wait for) and takes the room and counts the jobs there.
 *     Room is only ever granted out of places that were free (see the exact path), taken back
 *     when jobs become unfinished otherwise (the triggers), and never granted twice, so the
 *     rooms of all stripes together never exceed the free places: a create that fits in its
 *     stripe's room fits under the cap, whatever the other stripes do meanwhile. Creates on
 *     different stripes never wait for each other; result writes (stripe 0) never wait for them.
 *   - exact: no room, or the cap changed. It locks all the project's stripes in order, so no
 *     other create, and nothing else that changes the count, is halfway, and sums them: the
 *     count as committed. It inserts if the batch fits, refuses otherwise (a refusal only ever
 *     comes from this exact count), and hands the places still free out again, evenly over
 *     stripes 1 to 15.
 *   The snapshot may say there is room that a racing create takes first: then the stripe's
 *   re-read finds too little, nothing is inserted, and the statement runs again on the exact
 *   path (the one case of two statements).
 *   The statement counts its own jobs; the insert's trigger leaves them alone (fliq.jobs_counted).
 * - with an idempotency key, the unique index on (project_id, idempotency_key) lets exactly
 *   one of concurrent repeats insert (ON CONFLICT DO NOTHING), and the statement returns the
 *   row already there. A repeat whose original commits while this statement runs is not in its
 *   snapshot: then a second statement reads it.
 * - last_used_at is written only when older than `staleBefore` (one write a minute per token),
 *   whatever the outcome, as any authenticated request does.
 * All jobs are inserted, or none. The statement is the function create_jobs_as_caller (migration
 * 0017), so that Postgres plans it once per server connection, not on every create.
 */
export async function createJobsAsCaller(
  db: Database,
  token: PresentedToken,
  batch: JobToCreate[],
  options: { grantingScopes: readonly string[]; cap: number; now: Date; staleBefore: Date },
  path: { exact: boolean } = { exact: false },
): Promise<CallerCreation> {
  const key = batch.length === 1 ? (batch[0].idempotencyKey ?? null) : null;
  const flowKeys = flowKeysOf(batch);
  const iso = (value: Date | undefined | null) => value?.toISOString() ?? null;
  const column = <K extends keyof JobToCreate>(name: K, map: (value: JobToCreate[K]) => unknown = (v) => v ?? null) =>
    batch.map((job) => map(job[name]));
  const { rows } = await createJobsStatement(db, {
    prefix: token.prefix,
    hash: token.hash,
    now: options.now.toISOString(),
    staleBefore: options.staleBefore.toISOString(),
    grantingScopes: [...options.grantingScopes],
    exact: path.exact,
    // The stripe this create may take room from; any of 1 to 15 (stripe 0 is the ledger of result writes).
    stripe: 1 + Math.floor(Math.random() * CREATE_STRIPES),
    count: batch.length,
    cap: options.cap,
    key,
    id: column("id"),
    url: column("url"),
    httpMethod: column("httpMethod"),
    headers: column("headers"),
    body: column("body"),
    labels: column("labels", (v) => v ?? {}),
    failureUrl: column("failureUrl"),
    successUrl: column("successUrl"),
    scheduledAt: column("scheduledAt", iso),
    runAt: column("runAt", iso),
    maxRetries: column("maxRetries"),
    timeoutMs: column("timeoutMs"),
    backoffInitialMs: column("backoffInitialMs", (v) => v ?? 10_000),
    backoffMaxMs: column("backoffMaxMs", (v) => v ?? 3_600_000),
    expiresAt: column("expiresAt", iso),
    maxRetryDurationMs: column("maxRetryDurationMs"),
    createdAt: column("createdAt", iso),
    claimedBy: column("claimedBy"),
    lockedUntil: column("lockedUntil", iso),
    idempotencyKey: column("idempotencyKey"),
    idempotencyFingerprint: column("idempotencyFingerprint"),
    topic: column("topic"),
    messageId: column("messageId"),
    flowKey: column("flowKey"),
    flowKeyNames: flowKeys.map(([name]) => name),
    flowRateLimit: flowKeys.map(([, limits]) => limits?.rateLimit ?? null),
    flowRatePeriodMs: flowKeys.map(([, limits]) => limits?.ratePeriodMs ?? null),
    flowParallelism: flowKeys.map(([, limits]) => limits?.parallelism ?? null),
    flowOrdered: flowKeys.map(([, limits]) => limits?.ordered ?? false),
    flowOnHeadFailure: flowKeys.map(([, limits]) => limits?.onHeadFailure ?? "wait"),
  });
  const [row] = rows;
  if (!row.token_id || !row.project_id) return { kind: "unknown_token" };
  const caller = { projectId: row.project_id, tokenId: row.token_id, scopes: row.scopes ?? [] };
  if (!row.permitted) return { kind: "insufficient_scope", caller };
  // A racing create took the room this one's snapshot saw: nothing was written; count exactly.
  if (row.fast && !row.fast_won) return createJobsAsCaller(db, token, batch, options, { exact: true });
  // Every project gets its stripes with it (a trigger); missing ones are a broken schema, not a full project.
  if (row.counted_stripes === 0)
    throw new Error(`project ${caller.projectId} has no rows in project_job_count_stripes`);
  if (!row.fast && row.waiting !== null && row.waiting + batch.length > options.cap) {
    return { kind: "over_cap", caller, waiting: row.waiting };
  }
  const inserted = (row.inserted ?? []).map(jobFromJson);
  if (inserted.length > 0 || key === null) return { kind: "created", caller, jobs: inserted };
  if (row.repeated) return { kind: "repeat", caller, job: jobFromJson(row.repeated) };
  // The original committed while this statement ran, after its snapshot was taken: read it now.
  const [existing] = await db
    .select()
    .from(jobs)
    .where(and(eq(jobs.projectId, caller.projectId), eq(jobs.idempotencyKey, key)));
  return { kind: "repeat", caller, job: existing };
}

/** The flow keys a batch names, each with the limits of the first job naming it. */
function flowKeysOf(batch: JobToCreate[]): Array<[string, FlowLimits | null | undefined]> {
  const keys = new Map<string, FlowLimits | null | undefined>();
  for (const job of batch) if (job.flowKey && !keys.has(job.flowKey)) keys.set(job.flowKey, job.flowLimits);
  return [...keys];
}

/**
 * createJobsAsCaller's statement, in the function migration 0017 creates (its plan is kept per
 * server connection there, where sent as text it was planned on every create), called with
 * named arguments; the call's own text is built once (see builtOnce).
 */
const createJobsStatement = builtOnce<CallerCreationRow>(
  () => sql`SELECT * FROM create_jobs_as_caller(
    p_prefix => ${sql.placeholder("prefix")}, p_hash => ${sql.placeholder("hash")},
    p_now => ${sql.placeholder("now")}::timestamptz, p_stale_before => ${sql.placeholder("staleBefore")}::timestamptz,
    p_granting_scopes => ${sql.placeholder("grantingScopes")}::text[], p_exact => ${sql.placeholder("exact")}::boolean,
    p_stripe => ${sql.placeholder("stripe")}::int, p_count => ${sql.placeholder("count")}::int,
    p_cap => ${sql.placeholder("cap")}::int, p_key => ${sql.placeholder("key")}::text,
    p_id => ${sql.placeholder("id")}::uuid[], p_url => ${sql.placeholder("url")}::text[],
    p_http_method => ${sql.placeholder("httpMethod")}::text[], p_headers => ${sql.placeholder("headers")}::jsonb[],
    p_body => ${sql.placeholder("body")}::text[], p_labels => ${sql.placeholder("labels")}::jsonb[],
    p_failure_url => ${sql.placeholder("failureUrl")}::text[], p_success_url => ${sql.placeholder("successUrl")}::text[],
    p_scheduled_at => ${sql.placeholder("scheduledAt")}::timestamptz[], p_run_at => ${sql.placeholder("runAt")}::timestamptz[],
    p_max_retries => ${sql.placeholder("maxRetries")}::int[], p_timeout_ms => ${sql.placeholder("timeoutMs")}::int[],
    p_backoff_initial_ms => ${sql.placeholder("backoffInitialMs")}::int[],
    p_backoff_max_ms => ${sql.placeholder("backoffMaxMs")}::int[],
    p_expires_at => ${sql.placeholder("expiresAt")}::timestamptz[],
    p_max_retry_duration_ms => ${sql.placeholder("maxRetryDurationMs")}::bigint[],
    p_created_at => ${sql.placeholder("createdAt")}::timestamptz[], p_claimed_by => ${sql.placeholder("claimedBy")}::uuid[],
    p_locked_until => ${sql.placeholder("lockedUntil")}::timestamptz[],
    p_idempotency_key => ${sql.placeholder("idempotencyKey")}::text[],
    p_idempotency_fingerprint => ${sql.placeholder("idempotencyFingerprint")}::text[],
    p_topic => ${sql.placeholder("topic")}::text[], p_message_id => ${sql.placeholder("messageId")}::uuid[],
    p_flow_key => ${sql.placeholder("flowKey")}::text[],
    p_flow_key_names => ${sql.placeholder("flowKeyNames")}::text[],
    p_flow_rate_limit => ${sql.placeholder("flowRateLimit")}::int[],
    p_flow_rate_period_ms => ${sql.placeholder("flowRatePeriodMs")}::int[],
    p_flow_parallelism => ${sql.placeholder("flowParallelism")}::int[],
    p_flow_ordered => ${sql.placeholder("flowOrdered")}::boolean[],
    p_flow_on_head_failure => ${sql.placeholder("flowOnHeadFailure")}::text[])`,
);

interface CallerCreationRow extends Record<string, unknown> {
  token_id: string | null;
  project_id: string | null;
  scopes: string[] | null;
  permitted: boolean;
  fast: boolean | null;
  fast_won: boolean | null;
  waiting: number | null;
  counted_stripes: number;
  inserted: Array<Record<string, unknown>> | null;
  repeated: Record<string, unknown> | null;
}

const JOB_COLUMNS = Object.entries(getTableColumns(jobs));

/** A jobs row from its JSON (`to_json(row)`), mapped as drizzle maps a selected row. */
function jobFromJson(json: Record<string, unknown>): JobRow {
  return Object.fromEntries(
    JOB_COLUMNS.map(([key, column]) => {
      const value = json[column.name];
      return [key, value === null || value === undefined ? null : column.mapFromDriverValue(value)];
    }),
  ) as JobRow;
}

/** A project's job by id; another project's id finds nothing. */
export async function findJob(db: Database, projectId: string, id: string): Promise<JobRow | undefined> {
  const [row] = await db
    .select()
    .from(jobs)
    .where(and(eq(jobs.id, id), eq(jobs.projectId, projectId)));
  return row;
}

/** A job's attempts, oldest first: all of them, or a page of `limit` after attempt number `after`. */
export async function listAttempts(
  db: Database,
  jobId: string,
  page: { after: number; limit: number } = { after: 0, limit: 1_000_000 },
): Promise<JobAttemptRow[]> {
  return db
    .select()
    .from(jobAttempts)
    .where(and(eq(jobAttempts.jobId, jobId), gt(jobAttempts.attempt, page.after)))
    .orderBy(asc(jobAttempts.attempt))
    .limit(page.limit);
}

export interface JobFilter {
  projectId: string;
  ids?: string[];
  statuses?: JobStatus[];
  /** Jobs carrying all these labels with these values. */
  labels?: Record<string, string>;
  urlPrefix?: string;
  scheduledFrom?: Date;
  scheduledTo?: Date;
  /** Runs of this recurring schedule. */
  scheduleId?: string;
  /** Jobs published to this topic. */
  topic?: string;
  /** The deliveries of one published message. */
  messageId?: string;
}

/** The SQL conditions of a filter; always scoped to its project. */
function filterConditions(filter: JobFilter): SQL[] {
  const conditions = [eq(jobs.projectId, filter.projectId)];
  if (filter.ids) conditions.push(inArray(jobs.id, filter.ids));
  if (filter.statuses?.length) conditions.push(inArray(jobs.status, filter.statuses));
  if (filter.labels && Object.keys(filter.labels).length > 0) {
    conditions.push(sql`${jobs.labels} @> ${JSON.stringify(filter.labels)}::jsonb`);
  }
  if (filter.urlPrefix) conditions.push(sql`starts_with(${jobs.url}, ${filter.urlPrefix})`);
  if (filter.scheduledFrom) conditions.push(gte(jobs.scheduledAt, filter.scheduledFrom));
  if (filter.scheduledTo) conditions.push(lt(jobs.scheduledAt, filter.scheduledTo));
  if (filter.scheduleId) conditions.push(eq(jobs.scheduleId, filter.scheduleId));
  if (filter.topic) conditions.push(eq(jobs.topic, filter.topic));
  if (filter.messageId) conditions.push(eq(jobs.messageId, filter.messageId));
  return conditions;
}

/** Where a page starts: after this job, in the list's order. */
export interface JobCursor {
  at: Date;
  id: string;
}

export type JobOrder = "newest" | "soonest";

/**
 * One page of a project's jobs. Keyset pagination on (created_at, id) newest first or
 * (run_at, id) soonest first: a page never repeats or skips a job because of jobs inserted
 * meanwhile. Read-only.
 */
export async function listJobs(
  db: Database,
  filter: JobFilter,
  order: JobOrder,
  page: { after?: JobCursor; limit: number },
): Promise<JobRow[]> {
  const key = order === "newest" ? jobs.createdAt : jobs.runAt;
  const conditions = filterConditions(filter);
  if (page.after) {
    const at = sql`${page.after.at.toISOString()}::timestamptz`;
    conditions.push(
      order === "newest"
        ? sql`(${key}, ${jobs.id}) < (${at}, ${page.after.id}::uuid)`
        : sql`(${key}, ${jobs.id}) > (${at}, ${page.after.id}::uuid)`,
    );
  }
  return db
    .select()
    .from(jobs)
    .where(and(...conditions))
    .orderBy(order === "newest" ? desc(key) : asc(key), order === "newest" ? desc(jobs.id) : asc(jobs.id))
    .limit(page.limit);
}

/** A pre-claimed job: enough to plan its firing; the request itself is read when it starts. */
export interface ClaimedJob {
  id: string;
  runAt: Date;
  /** The URL's scheme and host (see DESTINATION_PATTERN); known when a tick claimed it. */
  destination?: string;
  /**
   * The job's flow key: null when it has none, undefined when not known (it is then started
   * through the keys' limits, as a keyed job is: see StartOptions.flow).
   */
  flowKey?: string | null;
}

export interface ClaimOptions {
  /** The claiming invocation; only it may start the jobs until their lease ends. */
  claimant: string;
  /** Claim jobs whose run_at is before this instant (the end of the claimant's window). */
  dueBefore: Date;
  /** How long after its run_at a claimed job stays reserved for the claimant. */
  leaseMs: number;
  now: Date;
  limit: number;
}

/**
 * Reserves up to `limit` scheduled jobs due before `dueBefore`, soonest first, for one
 * claimant, leaving them `scheduled` (so they can still be canceled or edited) until it starts them.
 * Concurrency: one statement; `FOR UPDATE SKIP LOCKED` gives concurrent claimers disjoint
 * sets, and a row under a live lease (locked_until >= now) is never taken from its holder.
 */
export async function claimWindow(db: Database, options: ClaimOptions): Promise<ClaimedJob[]> {
  const now = sql`${options.now.toISOString()}::timestamptz`;
  // The pick is a materialized CTE, run exactly once: inside `WHERE id IN (subquery)` Postgres
  // may re-run a LIMIT … SKIP LOCKED subquery and so take more rows than the limit.
  const result = await db.execute<{
    id: string;
    run_at: string;
    destination: string | null;
    flow_key: string | null;
  }>(sql`
    WITH picked AS MATERIALIZED (
      SELECT id FROM jobs
      WHERE ${statusGuard("claimWindow")}
        AND run_at < ${options.dueBefore.toISOString()}::timestamptz
        AND (locked_until IS NULL OR locked_until < ${now})
      ORDER BY run_at
      LIMIT ${options.limit}
      FOR UPDATE SKIP LOCKED
    )
    UPDATE jobs
    SET claimed_by = ${options.claimant},
        locked_until = GREATEST(jobs.run_at, ${now}) + ${options.leaseMs} * interval '1 millisecond'
    FROM picked
    WHERE jobs.id = picked.id
    RETURNING jobs.id, jobs.run_at, substring(jobs.url FROM ${DESTINATION_PATTERN}) AS destination, jobs.flow_key`);
  // RETURNING keeps no order; the plan wants soonest first.
  return result.rows
    .map((row) => ({
      id: row.id,
      runAt: new Date(row.run_at),
      destination: row.destination ?? undefined,
      flowKey: row.flow_key,
    }))
    .sort((a, b) => a.runAt.getTime() - b.runAt.getTime());
}

/**
 * How long each destination took to answer lately: the 90th percentile of the durations of
 * the latest `sample` attempts fired since `since` (timeouts count at their timeout; lost
 * attempts, whose duration is unknown, not at all). One index scan of recent attempts per
 * tick, whatever the size of the history.
 */
export async function recentLatencyByDestination(
  db: Database,
  since: Date,
  sample: number,
): Promise<Map<string, number>> {
  const result = await db.execute<{ destination: string | null; p90: number }>(sql`
    SELECT substring(j.url FROM ${DESTINATION_PATTERN}) AS destination,
           percentile_cont(0.9) WITHIN GROUP (ORDER BY a.duration_ms)::float8 AS p90
    FROM (
      SELECT job_id, duration_ms FROM job_attempts
      WHERE fired_at > ${since.toISOString()}::timestamptz AND outcome <> 'unknown'
      ORDER BY fired_at DESC
      LIMIT ${sample}
    ) a
    JOIN jobs j ON j.id = a.job_id
    GROUP BY 1`);
  const latency = new Map<string, number>();
  for (const row of result.rows) if (row.destination) latency.set(row.destination, Number(row.p90));
  return latency;
}

/**
 * A job that has just started an attempt: only what its callback and its result need, with
 * the instants as epoch milliseconds. Delivery reads thousands of these a second, and a full
 * row cost the invocation a Date per timestamp column and a mapping per column.
 */
export interface StartedJob {
  id: string;
  projectId: string;
  url: string;
  httpMethod: HttpMethod;
  headers: Record<string, string>;
  body: string | null;
  webhookId: string;
  attempt: number;
  /** Earlier attempts whose outcome was never known; they do not count against maxRetries. */
  lostAttempts: number;
  timeoutMs: number;
  maxRetries: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  scheduledAtMs: number;
  /** When the callback leaves: the job's time, or the slot its flow key's rate gave it. */
  runAtMs: number;
  createdAtMs: number;
  /** The time the job was due when its flow key first held it back (null: never held). */
  heldSinceMs: number | null;
  /** The flow key it is delivered under (null: none). */
  flowKey: string | null;
  /** No attempt starts after this (null: no deadline). */
  expiresAtMs: number | null;
  /** No retry starts later than this after firstAttemptAtMs (null: no such limit). */
  maxRetryDurationMs: number | null;
  /** When the run's first attempt started: this one, or an earlier one of the run. */
  firstAttemptAtMs: number;
  /** Told the response of a successful attempt (null: nobody is, and only an excerpt is read). */
  successUrl: string | null;
  /** The project's live signing secrets, newest first. */
  signingSecrets: readonly string[];
}

export interface StartOptions {
  claimant: string;
  /**
   * Who makes the attempts (a uuid): the started jobs are held under it while running, so that
   * when that invocation falls silent its attempts alone are known lost (rescueAttemptsOf).
   * The claimant when absent; a tick's share delivered by another invocation has its own.
   */
  runner?: string;
  ids: string[];
  /** Start only jobs due by then: one rescheduled later since its claim stays put. */
  dueBy: Date;
  /** Margin after each job's timeout before its running lease expires. */
  leaseMarginMs: number;
  now: Date;
  /** Who fires the failure notifications of jobs that expire instead of starting (see finishAttempts). */
  notify?: NotificationClaim | null;
  /**
   * Some of the jobs may name a flow key: start them through their keys' limits (see
   * keyedStart). Without it, only jobs without a key are started, by the plainer statement.
   */
  flow?: FlowStart | null;
}

/** How a start treats jobs its flow keys hold back. */
export interface FlowStart {
  /** A held job whose next look falls before this stays claimed by the claimant; later ones are released. */
  keepBefore: Date;
  /** How long a claim kept for a held job lasts past its next look. */
  claimLeaseMs: number;
}

/** A job its flow key held back: still `scheduled`, due again at `runAt`. */
export interface HeldJob extends ClaimedJob {
  /** Its flow key; null when its destination held it (see destinationHold). */
  flowKey: string | null;
  /** Whether the claimant still holds it (its next look is inside keepBefore). */
  kept: boolean;
  /** Held for its key's parallelism, order or pause, not for a rate slot: a slot given back may let it go. */
  waitsForTurn: boolean;
}

/** What startClaimedJobs did: the attempts it started, and the failure notifications it queued for the caller. */
export interface StartedBatch {
  started: StartedJob[];
  /** Jobs whose turn came after their expires_at: now `expired`, with no attempt made. */
  expired: string[];
  notifications: ClaimedJob[];
  /** Jobs their flow keys held back (only with `flow`). */
  held: HeldJob[];
}

/**
 * Moves claimed jobs to `running` and starts their next attempt, returning the current
 * request (edits made after the claim are honoured) and the project's live signing secrets.
 * Guard: `status = 'scheduled' AND claimed_by = claimant`, so a job canceled, edited
 * (which drops the claim) or taken over after its lease lapsed is not started. Idempotent for
 * its claimant: a job this claimant already started (`running`, still claimed by it) is returned
 * as it stands, so a start whose answer was lost (the connection dropped as it committed) is
 * simply run again. Its claimant never asks for a job it has in flight.
 * A job whose attempt would start (at its run_at, or now if later) after its expires_at is not
 * started: under the same guard it ends `expired`, with no attempt, and its failure notification
 * is queued in the same statement (claimed by `notify.claimant` when given, as in finishAttempts).
 * Jobs with a flow key start only through their key's limits (keyedStart); without `flow`,
 * they are left as they are.
 */
export async function startClaimedJobs(db: Database, options: StartOptions): Promise<StartedBatch> {
  if (options.ids.length === 0) return { started: [], expired: [], notifications: [], held: [] };
  const now = sql`${options.now.toISOString()}::timestamptz`;
  // The ids reach the planner as a value computed once (an init plan), not as a constant array:
  // the start names them in several places, and planning each against a constant array of up to
  // a few hundred ids cost more than running the statement (about 3 ms a start for 200 ids).
  const ids = sql`(SELECT ${toUuidArray(options.ids)})::uuid[]`;
  const claimedHere = sql`claimed_by = ${options.claimant} AND run_at <= ${options.dueBy.toISOString()}::timestamptz`;
  const runner = options.runner ?? options.claimant;
  const pastDeadline = sql`expires_at < GREATEST(run_at, ${now})`;
  const columns = sql`id, project_id, url, http_method, headers, body, webhook_id, attempt, lost_attempts, timeout_ms,
                max_retries, backoff_initial_ms, backoff_max_ms, scheduled_at, run_at, created_at, held_since, flow_key,
                expires_at, max_retry_duration_ms, first_attempt_at, success_url`;
  // Jobs to a paused destination do not start (destinationHold): all but its probe wait.
  const startable = sql`id = ANY(${ids}) AND ${statusGuard("startClaimedJobs")} AND NOT coalesce(${pastDeadline}, false)
    AND id NOT IN (SELECT id FROM destination_blocked)`;
  const running = sql`status = 'running',
          claimed_by = ${runner},
          attempt = attempt + 1,
          locked_until = ${now} + (timeout_ms + ${options.leaseMarginMs}) * interval '1 millisecond',
          first_attempt_at = COALESCE(first_attempt_at, GREATEST(run_at, ${now})),
          updated_at = ${now}`;
  const flow = options.flow ?? null;
  const started = flow
    ? keyedStart({ startable, running, columns, now, options, flow })
    : sql`started AS (
      UPDATE jobs SET ${running}
      WHERE ${startable} AND ${claimedHere} AND flow_key IS NULL
      RETURNING ${columns}
    )`;
  // The secrets are read and returned once per project in the statement (on its first row),
  // not once per job: most batches hold many jobs of few projects.
  const result = await db.execute<StartedRow>(sql`
    WITH expired AS (
      UPDATE jobs
      SET status = 'expired', claimed_by = NULL, locked_until = NULL, finished_at = ${now}, updated_at = ${now}
      WHERE id = ANY(${ids}) AND ${statusGuard("expireClaimedJobs")} AND ${claimedHere} AND ${pastDeadline}
      RETURNING jobs.*
    ),
    ${failureNotificationsFor(sql`expired`, options.notify ?? null)},
    ${destinationHold({ ids, now, claimedHere })},
    ${started}, resumed AS (
      SELECT ${columns}
      FROM jobs
      WHERE id = ANY(${ids})
        AND ${statusGuard("resumeStartedJobs")}
        AND claimed_by = ${runner}
    ), numbered AS (
      SELECT s.*, row_number() OVER (PARTITION BY project_id) AS nth
      FROM (SELECT * FROM started UNION ALL SELECT * FROM resumed) s
    )
    SELECT 'started' AS kind, id, project_id, url, http_method, headers, body, webhook_id, attempt, lost_attempts,
           timeout_ms, max_retries, backoff_initial_ms, backoff_max_ms,
           ${epochMs(sql`scheduled_at`)} AS scheduled_at_ms, ${epochMs(sql`run_at`)} AS run_at_ms,
           ${epochMs(sql`created_at`)} AS created_at_ms, ${epochMs(sql`held_since`)} AS held_since_ms, flow_key,
           ${epochMs(sql`expires_at`)} AS expires_at_ms,
           max_retry_duration_ms::float8 AS max_retry_duration_ms, ${epochMs(sql`first_attempt_at`)} AS first_attempt_at_ms,
           success_url,
           CASE WHEN nth = 1 THEN ARRAY(
             SELECT s.secret FROM signing_secrets s
             WHERE s.project_id = numbered.project_id AND (s.expires_at IS NULL OR s.expires_at > ${now})
             ORDER BY s.created_at DESC) END AS signing_secrets
    FROM numbered
    UNION ALL
    SELECT 'expired', id, ${besideStarted(sql`NULL`)} FROM expired
    UNION ALL
    SELECT 'notification', id, ${besideStarted(epochMs(sql`run_at`))} FROM notified WHERE claimed_by IS NOT NULL
    UNION ALL
    SELECT 'released', id, ${besideStarted(epochMs(sql`run_at`), sql`flow_key`)} FROM destination_held
    ${flow ? sql`UNION ALL SELECT kind, id, ${besideStarted(epochMs(sql`run_at`), sql`flow_key`)} FROM held` : sql``}`);
  const secrets = new Map<string, string[]>();
  for (const row of result.rows) if (row.signing_secrets) secrets.set(row.project_id, row.signing_secrets);
  const of = (kind: StartedRow["kind"]) => result.rows.filter((row) => row.kind === kind);
  const heldJob = (row: StartedRow): HeldJob => ({
    id: row.id,
    runAt: new Date(row.run_at_ms),
    flowKey: row.flow_key,
    kept: row.kind !== "released",
    waitsForTurn: row.kind === "held_for_turn",
  });
  return {
    started: of("started").map((row) => ({
      id: row.id,
      projectId: row.project_id,
      url: row.url,
      httpMethod: row.http_method,
      headers: row.headers,
      body: row.body,
      webhookId: row.webhook_id,
      attempt: row.attempt,
      lostAttempts: row.lost_attempts,
      timeoutMs: row.timeout_ms,
      maxRetries: row.max_retries,
      backoffInitialMs: row.backoff_initial_ms,
      backoffMaxMs: row.backoff_max_ms,
      scheduledAtMs: row.scheduled_at_ms,
      runAtMs: row.run_at_ms,
      createdAtMs: row.created_at_ms,
      heldSinceMs: row.held_since_ms,
      flowKey: row.flow_key,
      expiresAtMs: row.expires_at_ms,
      maxRetryDurationMs: row.max_retry_duration_ms,
      firstAttemptAtMs: row.first_attempt_at_ms,
      successUrl: row.success_url,
      signingSecrets: secrets.get(row.project_id) ?? [],
    })),
    expired: of("expired").map((row) => row.id),
    // Notifications never carry a flow key.
    notifications: of("notification").map((row) => ({ id: row.id, runAt: new Date(row.run_at_ms), flowKey: null })),
    held: result.rows.filter((row) => row.kind.startsWith("held") || row.kind === "released").map(heldJob),
  };
}

/**
 * The CTEs of a start that hold back jobs to paused destinations (see jobs/destination-health):
 * `destination_blocked` (the ids that do not start) and `destination_held` (those moved back).
 * Guards, in the one statement:
 * - skipped at once when no destination at all is paused (the usual case): a one-time check;
 * - of a paused destination's jobs, one is let through as its probe when next_probe_at has come:
 *   the destination's row is updated under its lock, moving next_probe_at one interval on, so of
 *   starts racing for it exactly one gets a probe (the others re-read next_probe_at as changed),
 *   and a probe lost with its invocation is followed by another an interval later;
 * - the others wait as `scheduled`, their attempt unchanged, released (any invocation may take
 *   them) and due at the next probe (at least a minute on): resuming the destination makes them
 *   due at once. held_since keeps the time they were due.
 */
function destinationHold(parts: { ids: SQL; now: SQL; claimedHere: SQL }): SQL {
  const { ids, now, claimedHere } = parts;
  return sql`destination_paused AS MATERIALIZED (
      SELECT j.id, d.project_id, d.destination, d.next_probe_at
      FROM jobs j JOIN destinations d
        ON d.project_id = j.project_id AND d.destination = substring(j.url FROM ${DESTINATION_PATTERN})
      WHERE j.id = ANY(${ids}) AND d.paused_at IS NOT NULL
        AND EXISTS (SELECT FROM destinations WHERE paused_at IS NOT NULL)
    ), destination_probe AS (
      UPDATE destinations d
      SET probe_job_id = p.id, updated_at = ${now},
          next_probe_at = ${now} + COALESCE(d.probe_interval_ms, ${FIRST_PROBE_AFTER_MS}) * interval '1 millisecond'
      FROM (SELECT DISTINCT ON (project_id, destination) id, project_id, destination
            FROM destination_paused WHERE next_probe_at <= ${now}
            ORDER BY project_id, destination, id) p
      WHERE d.project_id = p.project_id AND d.destination = p.destination
        AND d.paused_at IS NOT NULL AND d.next_probe_at <= ${now}
      RETURNING p.id
    ), destination_blocked AS MATERIALIZED (
      SELECT id, next_probe_at FROM destination_paused WHERE id NOT IN (SELECT id FROM destination_probe)
    ), destination_held AS (
      UPDATE jobs
      SET held_since = COALESCE(jobs.held_since, jobs.run_at),
          run_at = GREATEST(b.next_probe_at, ${now} + ${FIRST_PROBE_AFTER_MS} * interval '1 millisecond'),
          claimed_by = NULL, locked_until = NULL, updated_at = ${now}
      FROM destination_blocked b
      WHERE jobs.id = b.id AND ${statusGuard("holdBackJob", "jobs.status")} AND ${claimedHere}
      RETURNING jobs.id, jobs.run_at, jobs.flow_key
    )`;
}

/**
 * The `started` CTE of a start through flow keys, and the `held` CTE of the jobs their keys hold
 * back. Guards, all in the one statement:
 * - the keys' rows are locked (in key order, so two starts never wait on each other in a cycle)
 *   before anything is decided, and read as last committed: in_flight and next_slot_at are
 *   exact whatever other invocations started or finished meanwhile. Every move out of
 *   `running` gives its slot back in the statement that makes it (finishAttempts, rescues).
 * - a key's candidates are taken in due order (held_since or run_at, then creation): a paused
 *   key grants none; parallelism grants the first `parallelism - in_flight`; an ordered key
 *   grants only its head (the first of all its waiting jobs by due time, then creation), and
 *   only when nothing of it is in flight; a rate gives each of those the next free slot,
 *   slot_i = max(slot_(i-1) + interval, due_i, now), and grants those whose slot falls before
 *   dueBy. The key's in_flight grows by the attempts actually started and next_slot_at moves
 *   past the last slot granted.
 * - a granted job fires at its slot (run_at), and keeps the time it was first due (held_since)
 *   so its lateness is measured from then. A held job stays `scheduled` with its attempt
 *   unchanged, due again at its next slot (rate), a recheck (parallelism, order: not before its
 *   head's next attempt) or a minute (paused), claimed by the claimant if that is before
 *   `flow.keepBefore`, released otherwise.
 * Jobs without a key start as they would without `flow`.
 */
function keyedStart(parts: {
  startable: SQL;
  running: SQL;
  columns: SQL;
  now: SQL;
  options: StartOptions;
  flow: FlowStart;
}): SQL {
  const { startable, running, columns, now, options, flow } = parts;
  // A job its key held may be asked about before the next look it was given: a slot of its key
  // has just been given back (see DeliveryRun), and the grant below decides when it fires.
  const claimedHere = sql`claimed_by = ${options.claimant}
    AND (run_at <= ${options.dueBy.toISOString()}::timestamptz OR held_since IS NOT NULL)`;
  const nowMs = options.now.getTime();
  const dueByMs = options.dueBy.getTime();
  const recheck = sql`${now} + ${FLOW_RECHECK_MS} * interval '1 millisecond'`;
  const msToTime = (ms: SQL) => sql`to_timestamp((${ms}) / 1000.0)`;
  return sql`candidates AS MATERIALIZED (
      SELECT id, project_id, flow_key, created_at, ${epochMs(sql`COALESCE(held_since, run_at)`)} AS due_ms
      FROM jobs WHERE ${startable} AND ${claimedHere}
    ), keys AS MATERIALIZED (
      SELECT f.project_id, f.key, f.rate_limit, f.rate_period_ms, f.parallelism, f.ordered, f.paused, f.in_flight,
             ${epochMs(sql`f.next_slot_at`)} AS next_slot_ms,
             f.rate_period_ms::float8 / f.rate_limit * ${1 + FLOW_SLOT_MARGIN} AS interval_ms
      FROM flow_keys f
      WHERE (f.project_id, f.key) IN (SELECT project_id, flow_key FROM candidates WHERE flow_key IS NOT NULL)
      ORDER BY f.project_id, f.key
      FOR NO KEY UPDATE
    ), heads AS MATERIALIZED (
      SELECT k.project_id, k.key, h.id AS head_id, h.run_at AS head_run_at
      FROM keys k CROSS JOIN LATERAL (
        SELECT j.id, j.run_at FROM jobs j
        WHERE j.project_id = k.project_id AND j.flow_key = k.key AND ${statusGuard("orderedKeyHead", "j.status")}
        ORDER BY j.scheduled_at, j.created_at, j.id
        LIMIT 1
      ) h
      WHERE k.ordered
    ), queued AS MATERIALIZED (
      SELECT c.id, c.flow_key, c.due_ms, k.key IS NOT NULL AS keyed, k.paused, k.ordered, k.interval_ms,
             h.head_run_at,
             CASE
               WHEN k.key IS NULL THEN true
               WHEN k.paused THEN false
               WHEN k.ordered THEN c.id = h.head_id AND k.in_flight = 0
               ELSE k.parallelism IS NULL OR c.i < k.parallelism - k.in_flight
             END AS admitted,
             CASE WHEN k.interval_ms IS NULL THEN GREATEST(c.due_ms, ${nowMs})
                  ELSE c.i * k.interval_ms + GREATEST(COALESCE(k.next_slot_ms, 0), ${nowMs},
                         max(c.due_ms - c.i * k.interval_ms) OVER (PARTITION BY c.project_id, c.flow_key ORDER BY c.i))
             END AS slot_ms
      FROM (
        SELECT candidates.*, row_number() OVER (PARTITION BY project_id, flow_key ORDER BY due_ms, created_at, id) - 1 AS i
        FROM candidates
      ) c
      LEFT JOIN keys k ON k.project_id = c.project_id AND k.key = c.flow_key
      LEFT JOIN heads h ON h.project_id = c.project_id AND h.key = c.flow_key
    ), decided AS MATERIALIZED (
      SELECT queued.*, admitted AND (NOT keyed OR slot_ms <= ${dueByMs}) AS granted,
             CASE WHEN paused THEN ${now} + ${FLOW_PAUSED_RECHECK_MS} * interval '1 millisecond'
                  WHEN admitted THEN ${msToTime(sql`slot_ms`)}
                  WHEN ordered THEN GREATEST(${recheck}, head_run_at)
                  ELSE ${recheck}
             END AS next_at
      FROM queued
    ), started AS (
      UPDATE jobs
      SET ${running},
          held_since = CASE WHEN g.keyed AND g.slot_ms > ${epochMs(sql`jobs.run_at`)} THEN COALESCE(jobs.held_since, jobs.run_at)
                            ELSE jobs.held_since END,
          run_at = CASE WHEN g.keyed THEN ${msToTime(sql`g.slot_ms`)} ELSE jobs.run_at END
      FROM (SELECT id AS granted_id, keyed, slot_ms FROM decided WHERE granted) g
      WHERE jobs.id = g.granted_id AND ${startable} AND ${claimedHere}
      RETURNING ${columns}
    ), held AS (
      UPDATE jobs
      SET held_since = COALESCE(jobs.held_since, jobs.run_at),
          run_at = h.next_at,
          claimed_by = CASE WHEN h.next_at < ${flow.keepBefore.toISOString()}::timestamptz THEN ${options.claimant}::uuid END,
          locked_until = CASE WHEN h.next_at < ${flow.keepBefore.toISOString()}::timestamptz
                              THEN h.next_at + ${flow.claimLeaseMs} * interval '1 millisecond' END,
          updated_at = ${now}
      FROM (SELECT id AS held_id, next_at, admitted FROM decided WHERE NOT granted) h
      WHERE jobs.id = h.held_id AND ${statusGuard("holdBackJob", "jobs.status")} AND ${claimedHere}
      RETURNING jobs.id, jobs.run_at, jobs.flow_key,
                CASE WHEN jobs.claimed_by IS NULL THEN 'released' WHEN h.admitted THEN 'held_for_slot'
                     ELSE 'held_for_turn' END AS kind
    ), taken AS (
      UPDATE flow_keys f
      SET in_flight = f.in_flight + s.count,
          next_slot_at = CASE WHEN f.rate_limit IS NULL THEN f.next_slot_at
                              ELSE ${msToTime(sql`s.last_ms + k.interval_ms`)} END,
          updated_at = ${now}
      FROM (SELECT project_id, flow_key, count(*)::int AS count, max(${epochMs(sql`run_at`)}) AS last_ms
            FROM started WHERE flow_key IS NOT NULL GROUP BY 1, 2) s, keys k
      WHERE f.project_id = s.project_id AND f.key = s.flow_key AND k.project_id = s.project_id AND k.key = s.flow_key
    )`;
}

/**
 * The columns of a started job's row after its id, for a row of another kind in the same result
 * (an expired job, a notification, a held job): all NULL but run_at_ms, the 14th, and flow_key, the 17th.
 */
function besideStarted(runAtMs: SQL, flowKey: SQL = sql`NULL`): SQL {
  const nulls = (count: number) => sql.raw(Array(count).fill("NULL").join(", "));
  return sql`${nulls(13)}, ${runAtMs}, ${nulls(2)}, ${flowKey}, ${nulls(5)}`;
}

type StartedRow = {
  kind: "started" | "expired" | "notification" | "held_for_slot" | "held_for_turn" | "released";
  id: string;
  project_id: string;
  url: string;
  http_method: HttpMethod;
  headers: Record<string, string>;
  body: string | null;
  webhook_id: string;
  attempt: number;
  lost_attempts: number;
  timeout_ms: number;
  max_retries: number;
  backoff_initial_ms: number;
  backoff_max_ms: number;
  scheduled_at_ms: number;
  run_at_ms: number;
  created_at_ms: number;
  held_since_ms: number | null;
  flow_key: string | null;
  expires_at_ms: number | null;
  max_retry_duration_ms: number | null;
  first_attempt_at_ms: number;
  success_url: string | null;
  signing_secrets: string[] | null;
};

/**
 * An instant as epoch milliseconds, a float8 the driver reads with parseFloat. Truncated to
 * the millisecond, as a JavaScript Date of it would be.
 */
function epochMs(column: SQL): SQL {
  return sql`floor(extract(epoch FROM ${column}) * 1000)::float8`;
}

/** The result of one attempt and the job state it leads to, ready to be written. */
export interface FinishedAttempt {
  jobId: string;
  attempt: number;
  /** The flow key it was delivered under (null: none): recording the attempt gives the key's slot back. */
  flowKey: string | null;
  /** For a retry the finishing invocation will fire itself: keep it claimed, until this lease end. */
  reclaim: { claimant: string; lockedUntil: Date } | null;
  status: Extract<JobStatus, "succeeded" | "scheduled" | "failed" | "expired">;
  nextRunAt: Date | null;
  finishedAt: Date | null;
  plannedAt: Date;
  firedAt: Date;
  latenessMs: number;
  durationMs: number;
  statusCode: number | null;
  responseExcerpt: string | null;
  /** What a successful attempt's response passes on to the job's success_url (null without one). */
  response?: PassedOnResponse | null;
  errorClass: string | null;
  errorMessage: string | null;
  outcome: AttemptOutcome;
  /** What the attempt says about its destination's health (absent: nothing); told once recorded (tellDestinations). */
  verdict?: DestinationVerdict;
  now: Date;
}

/**
 * Writes a batch of attempt results in one statement: moves each job to its next state
 * and records its attempt. A retry is either released (any tick may claim it) or kept
 * claimed by the finishing invocation when it will fire the retry itself.
 * Guard: only a job still on the same attempt number is touched, and the attempt row is
 * written only for jobs that guard let through: a late write from a lost lease (the job was
 * rescued and started again since) changes nothing. A job canceled while its attempt was in
 * flight (only an older Fliq canceled running jobs) records that attempt and stays canceled. A job that ends `failed`
 * or `expired` with a failure_url gets its failure notification queued in the same statement, claimed by
 * `notify.claimant` when given, so the finishing run fires it at once instead of leaving it to a poll;
 * a job that ends `succeeded` with a success_url gets its success notification the same way.
 * Returns the ids of the jobs actually updated, and the notifications claimed for the caller.
 */
export async function finishAttempts(
  db: Database,
  batch: FinishedAttempt[],
  notify: NotificationClaim | null = null,
): Promise<{ recorded: string[]; notifications: ClaimedJob[] }> {
  if (batch.length === 0) return { recorded: [], notifications: [] };
  const input = JSON.stringify(
    batch.map((a) => ({
      job_id: a.jobId,
      attempt: a.attempt,
      claimed_by: a.reclaim?.claimant ?? null,
      reclaimed_until: a.reclaim?.lockedUntil.toISOString() ?? null,
      status: a.status,
      next_run_at: a.nextRunAt?.toISOString() ?? null,
      finished_at: a.finishedAt?.toISOString() ?? null,
      planned_at: a.plannedAt.toISOString(),
      fired_at: a.firedAt.toISOString(),
      lateness_ms: a.latenessMs,
      duration_ms: a.durationMs,
      status_code: a.statusCode,
      response_excerpt: a.responseExcerpt,
      response_headers: a.response?.headers ?? null,
      response_body: a.response?.body ?? null,
      response_body_truncated: a.response?.bodyTruncated ?? null,
      error_class: a.errorClass,
      error_message: a.errorMessage,
      outcome: a.outcome,
      now: a.now.toISOString(),
    })),
  );
  const result = await db.execute<{ id: string; run_at: string | null }>(sql`
    WITH input AS (
      SELECT * FROM jsonb_to_recordset(${input}::jsonb) AS r(
        job_id uuid, attempt int, claimed_by uuid, reclaimed_until timestamptz, status job_status, next_run_at timestamptz, finished_at timestamptz,
        planned_at timestamptz, fired_at timestamptz, lateness_ms int, duration_ms int, status_code int,
        response_excerpt text, response_headers jsonb, response_body text, response_body_truncated boolean,
        error_class text, error_message text, outcome attempt_outcome, now timestamptz)
    ),
    moved AS (
      UPDATE jobs j
      SET status = CASE WHEN j.status = 'canceled' THEN j.status ELSE i.status END,
          run_at = CASE WHEN j.status = 'canceled' THEN j.run_at ELSE COALESCE(i.next_run_at, j.run_at) END,
          claimed_by = CASE WHEN j.status = 'canceled' THEN NULL ELSE i.claimed_by END,
          locked_until = CASE WHEN j.status = 'canceled' THEN NULL ELSE i.reclaimed_until END,
          last_status_code = i.status_code,
          last_error = i.error_class,
          finished_at = COALESCE(j.finished_at, i.finished_at),
          held_since = NULL,
          updated_at = i.now
      FROM input i
      WHERE j.id = i.job_id AND ${statusGuard("finishAttempts", "j.status")} AND j.attempt = i.attempt
      RETURNING j.*, i.response_headers, i.response_body, i.response_body_truncated
    ),
    ${
      // Most batches hold no keyed job: the statement then goes without the slots' part, which
      // the database would otherwise plan with every write (a job's key never changes).
      batch.some((a) => a.flowKey !== null)
        ? sql`${slotsGivenBack(sql`moved`, sql`(SELECT max(now) FROM input)`)},`
        : sql``
    }
    ${failureNotificationsFor(sql`moved`, notify)},
    ${successNotificationsFor(sql`moved`, notify)},
    recorded AS (
      INSERT INTO job_attempts (job_id, attempt, planned_at, fired_at, lateness_ms, duration_ms, status_code,
                                response_excerpt, error_class, error_message, outcome)
      SELECT i.job_id, i.attempt, i.planned_at, i.fired_at, i.lateness_ms, i.duration_ms, i.status_code,
             i.response_excerpt, i.error_class, i.error_message, i.outcome
      FROM input i JOIN moved m ON m.id = i.job_id AND m.attempt = i.attempt
      ON CONFLICT (job_id, attempt) DO NOTHING
      RETURNING job_id
    )
    SELECT job_id AS id, NULL AS run_at FROM recorded
    UNION ALL
    SELECT id, run_at FROM notified WHERE claimed_by IS NOT NULL
    UNION ALL
    SELECT id, run_at FROM success_notified WHERE claimed_by IS NOT NULL`);
  return {
    recorded: result.rows.filter((row) => row.run_at === null).map((row) => row.id),
    notifications: result.rows
      .filter((row) => row.run_at !== null)
      .map((row) => ({ id: row.id, runAt: new Date(row.run_at as string), flowKey: null })),
  };
}

/**
 * Returns running jobs whose lease expired (their invocation died mid-attempt) to `scheduled`,
 * due now (or at their time, for an attempt given up before it: see rescueAttemptsOf), and records each lost attempt as a row with outcome `unknown` (the callback may
 * have been made: at-least-once). A lost attempt does not count against max_retries, so a job
 * never fails without an attempt that got an answer or a timeout, except after
 * MAX_LOST_ATTEMPTS lost ones. Idempotent; guarded by `status = 'running' AND
 * locked_until < now`, so a live lease is never touched, and the attempt row by its unique
 * (job_id, attempt), so a rescue never records an attempt twice.
 */
export async function rescueExpiredLeases(db: Database, now: Date): Promise<number> {
  return rescueLostAttempts(db, now, sql`locked_until < ${now.toISOString()}::timestamptz`);
}

/**
 * Does for the attempts of one runner that fell silent (a tick cut short, a share whose
 * invocation failed; see StartOptions.runner) what rescueExpiredLeases does once their lease
 * lapses, at once: the job is due now, with an `unknown` attempt row. Its callback may still
 * have been in flight, so it may arrive twice (at-least-once). Guard: `status = 'running'` and
 * held by that runner; a runner's id is never reused, so no other invocation's attempt is touched.
 */
export async function rescueAttemptsOf(db: Database, runner: string, now: Date): Promise<number> {
  return rescueLostAttempts(db, now, sql`claimed_by = ${runner}`);
}

async function rescueLostAttempts(db: Database, now: Date, lost: SQL): Promise<number> {
  const at = sql`${now.toISOString()}::timestamptz`;
  const result = await db.execute(sql`
    WITH lapsed AS (
      SELECT id, run_at, created_at, updated_at AS started_at FROM jobs
      WHERE ${statusGuard("rescueExpiredLeases")} AND ${lost}
      FOR UPDATE SKIP LOCKED
    ),
    rescued AS (
      UPDATE jobs j
      SET status = CASE WHEN j.lost_attempts + 1 >= ${MAX_LOST_ATTEMPTS} THEN 'failed' ELSE 'scheduled' END::job_status,
          run_at = CASE WHEN j.lost_attempts + 1 >= ${MAX_LOST_ATTEMPTS} THEN j.run_at ELSE GREATEST(j.run_at, ${at}) END,
          finished_at = CASE WHEN j.lost_attempts + 1 >= ${MAX_LOST_ATTEMPTS} THEN ${at} END,
          lost_attempts = j.lost_attempts + 1,
          claimed_by = NULL,
          locked_until = NULL,
          last_error = 'lease_expired',
          held_since = NULL,
          updated_at = ${at}
      FROM lapsed l
      WHERE j.id = l.id AND ${statusGuard("rescueExpiredLeases", "j.status")} AND ${lost}
      RETURNING j.*, l.run_at AS lost_run_at, l.created_at AS lost_created_at, l.started_at AS lost_started_at
    ),
    ${slotsGivenBack(sql`rescued`, at)},
    ${failureNotificationsFor(sql`rescued`)},
    recorded AS (
      INSERT INTO job_attempts (job_id, attempt, planned_at, fired_at, lateness_ms, duration_ms, status_code,
                                response_excerpt, error_class, error_message, outcome)
      SELECT r.id, r.attempt, GREATEST(r.lost_run_at, r.lost_created_at), GREATEST(r.lost_run_at, r.lost_started_at),
             0, GREATEST(0, floor(extract(epoch FROM ${at} - GREATEST(r.lost_run_at, r.lost_started_at)) * 1000))::int,
             NULL, NULL, 'lease_expired',
             'The invocation making this attempt ended before it recorded a result; the callback may have reached the target.',
             'unknown'
      FROM rescued r
      ON CONFLICT (job_id, attempt) DO NOTHING
    )
    SELECT id FROM rescued`);
  return result.rows.length;
}

/**
 * A CTE (named `slots_freed`) giving back the flow-key slots of the jobs in `moved`, each of which
 * has just left `running` (its attempt recorded, or rescued as lost): the key's in_flight drops
 * by their number. An ordered key set to `wait` whose job has just failed for good (failed or
 * expired) pauses, so nothing behind it is delivered out of order until a person resumes it.
 * The keys' rows are locked in key order, as the start locks them (keyedStart).
 */
function slotsGivenBack(moved: SQL, now: SQL): SQL {
  return sql`slots_freed AS (
      UPDATE flow_keys f
      SET in_flight = GREATEST(0, f.in_flight - m.count),
          paused = f.paused OR (f.ordered AND f.on_head_failure = 'wait' AND m.failed),
          paused_reason = CASE WHEN NOT f.paused AND f.ordered AND f.on_head_failure = 'wait' AND m.failed
                               THEN 'head_failed' ELSE f.paused_reason END,
          updated_at = ${now}
      FROM (SELECT project_id, flow_key, count(*)::int AS count,
                   bool_or(${statusGuard("notifyFailures", "m.status")}) AS failed
            FROM ${moved} m WHERE flow_key IS NOT NULL GROUP BY 1, 2) m,
           (SELECT project_id, key FROM flow_keys
            WHERE (project_id, key) IN (SELECT project_id, flow_key FROM ${moved})
            ORDER BY project_id, key FOR NO KEY UPDATE) l
      WHERE f.project_id = m.project_id AND f.key = m.flow_key AND l.project_id = f.project_id AND l.key = f.key
    )`;
}

/** What a recorded attempt said about its destination (see jobs/destination-health). */
export interface DestinationWord {
  jobId: string;
  verdict: Exclude<DestinationVerdict, "unknown">;
  firedAt: Date;
  durationMs: number;
  now: Date;
}

/**
 * Tells the destinations what recorded attempts said, in a statement of its own, after the
 * attempts are written (finishAttempts). Every telling updates its destinations' rows under
 * their locks, held to its commit, so the runs delivering to one destination tell it in turn:
 * a run gathers what it tells (see DeliveryRun.shouldTellDestinations) rather than telling with
 * every result write. Each word must be told once: the caller passes only recorded attempts.
 * Its commit does not wait for the WAL to reach disk (synchronous_commit off, for this
 * transaction only), so the row's lock is held for the statement, not also for a disk flush:
 * health is statistics, and a telling lost with the database's own crash loses no job or
 * attempt (a lost pause comes back with the next failures, a lost resume with the next probe).
 */
export async function tellDestinations(db: Database, words: readonly DestinationWord[]): Promise<void> {
  if (words.length === 0) return;
  const input = JSON.stringify(
    words.map((w) => ({
      job_id: w.jobId,
      verdict: w.verdict,
      fired_at: w.firedAt.toISOString(),
      duration_ms: w.durationMs,
      now: w.now.toISOString(),
    })),
  );
  await db.execute(sql`
    WITH input AS (
      SELECT * FROM jsonb_to_recordset(${input}::jsonb) AS r(job_id uuid, verdict text, fired_at timestamptz,
                                                              duration_ms int, now timestamptz)
    ),
    ${destinationsTold()}
    SELECT set_config('synchronous_commit', 'off', true)`);
}

/** Labels of the jobs Fliq creates to tell a project's alert_url that a destination paused or resumed. */
export const DESTINATION_ALERT_LABELS = { fliq: "destination-alert" };

/**
 * The CTEs (after tellDestinations' `input`) that tell each destination what the attempts
 * said (see jobs/destination-health). Guards, in the one statement:
 * - the destinations' rows are locked in key order and read as last committed before they
 *   change (`health_before`), so two tellings to one destination add up and never wait on
 *   each other in a cycle;
 * - the run of consecutive failures restarts at the telling's last success, or grows by its
 *   failures; reaching DESTINATION_PAUSE_AFTER pauses the destination with its first
 *   probe due FIRST_PROBE_AFTER_MS later; a paused destination's failed probe puts the next one
 *   twice as far (at most PROBE_INTERVAL_MAX_MS); any answer from it resumes it, and the jobs it
 *   held are made due at once (`health_released`);
 * - a pause or a resume queues one signed POST to the project's alert_url, if it has one.
 */
function destinationsTold(): SQL {
  const run = sql`CASE WHEN EXCLUDED.last_success_at IS NOT NULL THEN EXCLUDED.consecutive_failures
                       ELSE d.consecutive_failures + EXCLUDED.consecutive_failures END`;
  const newlyPaused = sql`(d.paused_at IS NULL AND EXCLUDED.last_success_at IS NULL AND ${run} >= ${DESTINATION_PAUSE_AFTER})`;
  const probeFailed = sql`(d.paused_at IS NOT NULL AND EXCLUDED.last_success_at IS NULL AND d.probe_job_id IS NOT NULL AND EXCLUDED.failures > 0)`;
  const nextInterval = sql`LEAST(COALESCE(d.probe_interval_ms * 2, ${FIRST_PROBE_AFTER_MS}), ${PROBE_INTERVAL_MAX_MS})`;
  const at = sql`EXCLUDED.updated_at`;
  return sql`health_told AS (
      SELECT m.project_id, substring(m.url FROM ${DESTINATION_PATTERN}) AS destination, i.verdict, i.fired_at,
             i.duration_ms, i.now,
             max(i.fired_at) FILTER (WHERE i.verdict = 'up')
               OVER (PARTITION BY m.project_id, substring(m.url FROM ${DESTINATION_PATTERN})) AS last_up
      FROM input i JOIN jobs m ON m.id = i.job_id
    ), health_tally AS (
      SELECT project_id, destination, count(*)::int AS attempts,
             count(*) FILTER (WHERE verdict = 'down')::int AS failures,
             count(*) FILTER (WHERE verdict = 'down' AND (last_up IS NULL OR fired_at > last_up))::int AS trailing,
             max(last_up) AS last_up, avg(CASE WHEN verdict = 'up' THEN 1.0 ELSE 0.0 END)::float8 AS success_rate,
             avg(duration_ms)::float8 AS latency_ms, max(fired_at) AS last_attempt_at, max(now) AS now
      FROM health_told WHERE destination IS NOT NULL GROUP BY 1, 2
    ), health_before AS MATERIALIZED (
      SELECT d.project_id, d.destination, d.paused_at FROM destinations d
      WHERE (d.project_id, d.destination) IN (SELECT project_id, destination FROM health_tally)
      ORDER BY d.project_id, d.destination
      FOR NO KEY UPDATE
    ), health_after AS (
      INSERT INTO destinations AS d (project_id, destination, consecutive_failures, attempts, failures, success_rate,
                                     latency_ms, last_attempt_at, last_success_at, created_at, updated_at)
      SELECT t.project_id, t.destination, t.trailing, t.attempts, t.failures, t.success_rate, t.latency_ms,
             t.last_attempt_at, t.last_up, t.now, t.now
      FROM health_tally t
      -- A destination seen for the first time waits for the rows locked before it.
      WHERE (SELECT count(*) FROM health_before) >= 0
      ORDER BY t.project_id, t.destination
      ON CONFLICT (project_id, destination) DO UPDATE SET
        consecutive_failures = ${run},
        attempts = d.attempts + EXCLUDED.attempts,
        failures = d.failures + EXCLUDED.failures,
        success_rate = COALESCE(d.success_rate * power(0.9, EXCLUDED.attempts), 0)
                       + EXCLUDED.success_rate * (1 - CASE WHEN d.success_rate IS NULL THEN 0 ELSE power(0.9, EXCLUDED.attempts) END),
        latency_ms = COALESCE(d.latency_ms * power(0.9, EXCLUDED.attempts), 0)
                     + EXCLUDED.latency_ms * (1 - CASE WHEN d.latency_ms IS NULL THEN 0 ELSE power(0.9, EXCLUDED.attempts) END),
        last_attempt_at = GREATEST(d.last_attempt_at, EXCLUDED.last_attempt_at),
        last_success_at = COALESCE(EXCLUDED.last_success_at, d.last_success_at),
        paused_at = CASE WHEN EXCLUDED.last_success_at IS NOT NULL THEN NULL
                         WHEN ${newlyPaused} THEN ${at} ELSE d.paused_at END,
        next_probe_at = CASE WHEN EXCLUDED.last_success_at IS NOT NULL THEN NULL
                             WHEN ${newlyPaused} THEN ${at} + ${FIRST_PROBE_AFTER_MS} * interval '1 millisecond'
                             WHEN ${probeFailed} THEN ${at} + ${nextInterval} * interval '1 millisecond'
                             ELSE d.next_probe_at END,
        probe_interval_ms = CASE WHEN EXCLUDED.last_success_at IS NOT NULL THEN NULL
                                 WHEN ${newlyPaused} THEN ${FIRST_PROBE_AFTER_MS}
                                 WHEN ${probeFailed} THEN ${nextInterval}
                                 ELSE d.probe_interval_ms END,
        probe_job_id = CASE WHEN EXCLUDED.last_success_at IS NOT NULL OR ${probeFailed} THEN NULL ELSE d.probe_job_id END,
        updated_at = ${at}
      RETURNING d.project_id, d.destination, d.paused_at, d.updated_at
    ), health_changed AS (
      SELECT a.project_id, a.destination, a.updated_at,
             CASE WHEN a.paused_at IS NOT NULL AND b.paused_at IS NULL THEN 'destination.paused'
                  WHEN a.paused_at IS NULL AND b.paused_at IS NOT NULL THEN 'destination.resumed' END AS type
      FROM health_after a LEFT JOIN health_before b ON b.project_id = a.project_id AND b.destination = a.destination
    ), health_released AS (
      UPDATE jobs j SET run_at = c.updated_at, claimed_by = NULL, locked_until = NULL, updated_at = c.updated_at
      FROM health_changed c
      WHERE c.type = 'destination.resumed' AND j.project_id = c.project_id
        AND substring(j.url FROM ${DESTINATION_PATTERN}) = c.destination
        AND ${statusGuard("releaseHeldJobs", "j.status")} AND j.held_since IS NOT NULL AND j.run_at > c.updated_at
    ), health_alerts AS (
      INSERT INTO jobs (id, project_id, url, http_method, headers, body, labels, scheduled_at, run_at,
                        max_retries, timeout_ms, status, attempt, created_at, updated_at)
      SELECT gen_random_uuid(), c.project_id, p.alert_url, 'POST', '{"Content-Type": "application/json"}'::jsonb,
             json_build_object('type', c.type, 'destination', c.destination, 'at', c.updated_at)::text,
             ${JSON.stringify(DESTINATION_ALERT_LABELS)}::jsonb, c.updated_at, c.updated_at,
             ${JOB_LIMITS.maxRetriesDefault}, ${JOB_LIMITS.timeoutMsDefault}, 'scheduled', 0, c.updated_at, c.updated_at
      FROM health_changed c JOIN projects p ON p.id = c.project_id
      WHERE c.type IS NOT NULL AND p.alert_url IS NOT NULL
    )`;
}

/** Labels of the jobs Fliq creates to tell a failure_url about a failed or expired job. */
export const FAILURE_NOTIFICATION_LABELS = { fliq: "failure-notification" };

/** Labels of the jobs Fliq creates to tell a success_url about a successful attempt. */
export const SUCCESS_NOTIFICATION_LABELS = { fliq: "success-notification" };

/**
 * Who fires the notifications a statement queues: the finishing run, for those due
 * (queued) before `dueBefore` (all when null), reserved until `leaseMs` after their time like any claim.
 */
export interface NotificationClaim {
  claimant: string;
  dueBefore: Date | null;
  leaseMs: number;
}

/**
 * A CTE (named `notified`) queuing one failure notification per job in `moved` that has just
 * become `failed` or `expired` and has a failure_url: a POST of a JSON summary. See notificationsFor.
 */
function failureNotificationsFor(moved: SQL, claim: NotificationClaim | null = null): SQL {
  return notificationsFor(sql`notified`, moved, claim, {
    guard: sql`${statusGuard("notifyFailures", "m.status")} AND m.failure_url IS NOT NULL`,
    url: sql`m.failure_url`,
    body: sql`json_build_object('type', CASE WHEN m.status = 'failed' THEN 'job.failed' ELSE 'job.expired' END,
                               'job_id', m.id, 'url', m.url, 'attempts', m.attempt,
                               'last_status_code', m.last_status_code, 'last_error', m.last_error,
                               'failed_at', m.finished_at, 'expires_at', m.expires_at, 'labels', m.labels)`,
    labels: FAILURE_NOTIFICATION_LABELS,
  });
}

/**
 * A CTE (named `success_notified`) queuing one success notification per job in `moved` (a
 * finishAttempts `moved`, which carries each attempt's response) that has just `succeeded` and
 * has a success_url: a POST of the attempt's outcome. See notificationsFor.
 */
function successNotificationsFor(moved: SQL, claim: NotificationClaim | null): SQL {
  return notificationsFor(sql`success_notified`, moved, claim, {
    guard: sql`${statusGuard("notifySuccesses", "m.status")} AND m.success_url IS NOT NULL`,
    url: sql`m.success_url`,
    body: sql`json_build_object('type', 'job.succeeded', 'job_id', m.id, 'url', m.url, 'attempt', m.attempt,
                               'status_code', m.last_status_code, 'headers', COALESCE(m.response_headers, '{}'::jsonb),
                               'body', COALESCE(m.response_body, ''),
                               'body_truncated', COALESCE(m.response_body_truncated, false),
                               'succeeded_at', m.finished_at, 'labels', m.labels)`,
    labels: SUCCESS_NOTIFICATION_LABELS,
  });
}

/**
 * A CTE queuing notification jobs for rows of `moved` that pass `notice.guard`: each a POST of
 * `notice.body` as JSON to `notice.url`, delivered, signed and retried like any job, due when its
 * row changed, and claimed by `claim` when given (otherwise the next tick or poll claims it).
 * Notifications carry no failure_url or success_url themselves, so none cascades.
 */
function notificationsFor(
  name: SQL,
  moved: SQL,
  claim: NotificationClaim | null,
  notice: { guard: SQL; url: SQL; body: SQL; labels: Record<string, string> },
): SQL {
  let claimed = sql`false`;
  if (claim) claimed = claim.dueBefore ? sql`m.updated_at < ${claim.dueBefore.toISOString()}::timestamptz` : sql`true`;
  return sql`${name} AS (
      INSERT INTO jobs (id, project_id, url, http_method, headers, body, labels, scheduled_at, run_at,
                        max_retries, timeout_ms, status, attempt, claimed_by, locked_until, created_at, updated_at)
      SELECT gen_random_uuid(), m.project_id, ${notice.url}, 'POST', '{"Content-Type": "application/json"}'::jsonb,
             ${notice.body}::text,
             ${JSON.stringify(notice.labels)}::jsonb, m.updated_at, m.updated_at,
             ${JOB_LIMITS.maxRetriesDefault}, ${JOB_LIMITS.timeoutMsDefault}, 'scheduled', 0,
             CASE WHEN ${claimed} THEN ${claim?.claimant ?? null}::uuid END,
             CASE WHEN ${claimed} THEN m.updated_at + ${claim?.leaseMs ?? 0} * interval '1 millisecond' END,
             m.updated_at, m.updated_at
      FROM ${moved} m
      WHERE ${notice.guard}
      RETURNING id, run_at, claimed_by
    )`;
}

/**
 * Gives claimed-but-unstarted jobs back, so any invocation may claim them at once.
 * Guard: only rows still `scheduled` and claimed by this claimant. Returns how many were released.
 */
export async function releaseClaims(db: Database, claimant: string, ids: string[]): Promise<number> {
  if (ids.length === 0) return 0;
  const released = await db
    .update(jobs)
    .set({ claimedBy: null, lockedUntil: null })
    .where(and(sql`${jobs.id} = ANY(${toUuidArray(ids)})`, statusIn("releaseClaims"), eq(jobs.claimedBy, claimant)))
    .returning({ id: jobs.id });
  return released.length;
}

/**
 * Gives back every claimed-but-unstarted job of a claimant that fell silent, so its window's
 * new owner may claim them at once. Guard: only rows still `scheduled` and claimed by it; a job
 * it has started keeps its running lease. Returns how many were released.
 */
export async function releaseClaimant(db: Database, claimant: string): Promise<number> {
  const released = await db
    .update(jobs)
    .set({ claimedBy: null, lockedUntil: null })
    .where(and(statusIn("releaseClaims"), eq(jobs.claimedBy, claimant)))
    .returning({ id: jobs.id });
  return released.length;
}

/**
 * Cancels a project's job that has not started. Guard: `status = 'scheduled'`, and any claim on
 * it is dropped, so the start statement (guarded by `status = 'scheduled' AND claimed_by`) can
 * never start it afterwards: once this returns the job canceled, no attempt of it begins. A
 * `running` job is left as it is (its callback may already be on its way); the row lock makes
 * a cancel and a start racing for one job come out one way or the other, never both.
 * Returns the job after the statement, canceled or not (undefined when it does not exist).
 */
export async function cancelJob(db: Database, projectId: string, id: string, now: Date): Promise<JobRow | undefined> {
  const [canceled] = await db
    .update(jobs)
    .set(canceledState(now))
    .where(and(eq(jobs.id, id), eq(jobs.projectId, projectId), statusIn("cancel")))
    .returning();
  return canceled ?? findJob(db, projectId, id);
}

/** How many jobs one bulk call changes at most; the caller repeats the call for the rest. */
export const BULK_LIMIT = 10_000;

function canceledState(now: Date) {
  return { status: "canceled" as const, claimedBy: null, lockedUntil: null, finishedAt: now, updatedAt: now };
}

/** What a bulk cancel did: the jobs it canceled, and those it left because they had started. */
export interface BulkCancel {
  canceled: string[];
  running: string[];
}

/**
 * Cancels up to BULK_LIMIT of a project's not-yet-started jobs matching a filter, with
 * cancelJob's guard and guarantee for each, and names the matching jobs it left because they
 * are `running` (scheduled ones first, so a repeat call reaches new jobs). One statement: a job
 * picked as scheduled that a run starts meanwhile fails the update's re-check and is reported
 * as running, which it is.
 */
export async function cancelJobs(db: Database, filter: JobFilter, now: Date): Promise<BulkCancel> {
  const at = sql`${now.toISOString()}::timestamptz`;
  const result = await db.execute<{ id: string; canceled: boolean }>(sql`
    WITH picked AS MATERIALIZED (
      SELECT id FROM jobs
      WHERE ${and(...filterConditions(filter), statusIn("pickForCancel"))}
      ORDER BY status = 'running'
      LIMIT ${BULK_LIMIT}
    ), canceled AS (
      UPDATE jobs
      SET status = 'canceled', claimed_by = NULL, locked_until = NULL, finished_at = ${at}, updated_at = ${at}
      FROM picked
      WHERE jobs.id = picked.id AND ${statusGuard("cancel", "jobs.status")}
      RETURNING jobs.id
    )
    SELECT picked.id, canceled.id IS NOT NULL AS canceled FROM picked LEFT JOIN canceled ON canceled.id = picked.id`);
  return {
    canceled: result.rows.filter((row) => row.canceled).map((row) => row.id),
    running: result.rows.filter((row) => !row.canceled).map((row) => row.id),
  };
}

/** Up to BULK_LIMIT ids of jobs matching the filter that a statement's guard accepts (its update re-checks the status). */
function matching(db: Database, filter: JobFilter, statement: GuardedStatement) {
  return db
    .select({ id: jobs.id })
    .from(jobs)
    .where(and(...filterConditions(filter), statusIn(statement)))
    .limit(BULK_LIMIT);
}

/** The stored fields a change may set; absent ones keep their value. */
export type JobChanges = Partial<
  Pick<
    JobRow,
    | "url"
    | "httpMethod"
    | "headers"
    | "body"
    | "scheduledAt"
    | "runAt"
    | "maxRetries"
    | "timeoutMs"
    | "backoffInitialMs"
    | "backoffMaxMs"
    | "labels"
    | "failureUrl"
    | "successUrl"
    | "expiresAt"
    | "maxRetryDurationMs"
  >
>;

/**
 * Applies a change to a job that has not started, as a compare-and-set: guarded by
 * `status = 'scheduled' AND updated_at = expectedUpdatedAt`, so a concurrent change, a start
 * or a cancel in between makes it update nothing (undefined). Any claim on the job is
 * dropped (the claimant re-reads nothing and will not start it), or handed to `claim` when
 * the caller fires the job itself.
 */
export async function updateScheduledJob(
  db: Database,
  projectId: string,
  id: string,
  expectedUpdatedAt: Date,
  changes: JobChanges,
  claim: { claimant: string; lockedUntil: Date } | null,
  now: Date,
): Promise<JobRow | undefined> {
  const [updated] = await db
    .update(jobs)
    .set({
      ...changes,
      // A job moved to another time is due from then: its key's hold no longer counts.
      ...(changes.runAt ? { heldSince: null } : {}),
      claimedBy: claim?.claimant ?? null,
      lockedUntil: claim?.lockedUntil ?? null,
      updatedAt: now,
    })
    .where(
      and(
        eq(jobs.id, id),
        eq(jobs.projectId, projectId),
        statusIn("updateScheduledJob"),
        eq(jobs.updatedAt, expectedUpdatedAt),
      ),
    )
    .returning();
  return updated;
}

function replayedState(runAt: Date, claim: { claimant: string; lockedUntil: Date } | null, now: Date) {
  return {
    status: "scheduled" as const,
    runAt,
    // A new run, asked for now: a deadline already passed would expire it at once, so it is
    // dropped (one still ahead holds), and its retries count from its own first attempt.
    expiresAt: sql`CASE WHEN ${jobs.expiresAt} > ${now.toISOString()}::timestamptz THEN ${jobs.expiresAt} END`,
    firstAttemptAt: null,
    heldSince: null,
    webhookId: sql`'msg_' || replace(gen_random_uuid()::text, '-', '')`,
    claimedBy: claim?.claimant ?? null,
    lockedUntil: claim?.lockedUntil ?? null,
    finishedAt: null,
    lastStatusCode: null,
    lastError: null,
    updatedAt: now,
  };
}

/**
 * Starts a new run of a finished job (`POST /jobs/:id/replay`): back to `scheduled` at
 * `runAt` with a new webhook-id, its attempt history kept (attempt numbers carry on).
 * Guard: only a finished job (succeeded, failed, canceled or expired) is replayed.
 */
export async function replayJob(
  db: Database,
  projectId: string,
  id: string,
  runAt: Date,
  claim: { claimant: string; lockedUntil: Date } | null,
  now: Date,
): Promise<JobRow | undefined> {
  const [replayed] = await db
    .update(jobs)
    .set(replayedState(runAt, claim, now))
    .where(and(eq(jobs.id, id), eq(jobs.projectId, projectId), statusIn("replay")))
    .returning();
  return replayed;
}

/** Replays up to BULK_LIMIT finished jobs matching a filter, due at `runAt`; returns their ids. */
export async function replayJobs(db: Database, filter: JobFilter, runAt: Date, now: Date): Promise<string[]> {
  const rows = await db
    .update(jobs)
    .set(replayedState(runAt, null, now))
    .where(and(inArray(jobs.id, matching(db, filter, "replay")), statusIn("replay")))
    .returning({ id: jobs.id });
  return rows.map((row) => row.id);
}

/** How much history one pruneHistory call may delete: rows per statement, and time for all of them. */
export interface PruneLimits {
  /** Finished jobs, and separately attempts, deleted by one statement at most. */
  batchSize: number;
  /** No further statement starts once this much time has passed, or would pass by its end. */
  budgetMs: number;
  /** Milliseconds, for the budget; Date.now by default (in a Worker it advances with each statement's I/O). */
  clock?: () => number;
}

/**
 * Retention in each tick: statements of 1,000 finished jobs and 1,000 attempts each (150 ms on
 * average in the bench, so their row locks are short), for up to 1.5 s before the tick claims
 * (the previous tick's window reaches 5 s into this minute). The bench's `retention` scenario
 * measured 18,000 rows a tick from a 10-million-row backlog: 13 million jobs a day (see docs/benchmark.md).
 */
export const PRUNE_PER_TICK: PruneLimits = { batchSize: 1_000, budgetMs: 1_500 };

/** What one pruneHistory call deleted, and how long its longest statement (and so any row lock it took) lasted. */
export interface PruneReport {
  jobs: number;
  attempts: number;
  statements: number;
  longestStatementMs: number;
}

/**
 * History retention: deletes finished jobs and attempts older than `cutoff`, oldest first, in
 * statements of at most `batchSize` of each, until nothing old is left or the time budget is
 * spent. Each statement is its own transaction, so row locks last one statement, and the rows it
 * locks are history nobody else writes (see pruneHistoryBatch). Idempotent; safe beside any
 * other statement and beside another pruneHistory.
 */
export async function pruneHistory(db: Database, cutoff: Date, limits: PruneLimits): Promise<PruneReport> {
  const clock = limits.clock ?? Date.now;
  const started = clock();
  const report: PruneReport = { jobs: 0, attempts: 0, statements: 0, longestStatementMs: 0 };
  // Keyset positions: within one call, each statement starts where the last one stopped, so it
  // never walks again over index entries of rows just deleted (dead until VACUUM).
  let after: { firedAt: string | null; finishedAt: string | null } = { firedAt: null, finishedAt: null };
  for (;;) {
    const statementStarted = clock();
    const batch = await pruneHistoryBatch(db, cutoff, limits.batchSize, after);
    const elapsed = clock() - statementStarted;
    report.jobs += batch.jobs;
    report.attempts += batch.attempts;
    report.statements++;
    report.longestStatementMs = Math.max(report.longestStatementMs, elapsed);
    after = {
      firedAt: timestampText(batch.last_fired_at) ?? after.firedAt,
      finishedAt: timestampText(batch.last_finished_at) ?? after.finishedAt,
    };
    const more = batch.jobs === limits.batchSize || batch.attempts === limits.batchSize;
    if (!more || clock() - started + elapsed > limits.budgetMs) return report;
  }
}

/**
 * One statement of retention: up to `limit` attempts fired before `cutoff` (any job's: an
 * attempt that old is past retention whatever became of its job) and up to `limit` jobs that
 * finished before it (their remaining attempts cascade). Guards: the jobs are locked with SKIP
 * LOCKED, so a replay or cancel holding one is never waited for, and the delete re-checks each
 * one's status and finished_at on the row as locked, so a job replayed meanwhile is kept.
 */
async function pruneHistoryBatch(
  db: Database,
  cutoff: Date,
  limit: number,
  after: { firedAt: string | null; finishedAt: string | null },
) {
  const before = sql`${cutoff.toISOString()}::timestamptz`;
  const firedFrom = sql`${after.firedAt ?? "-infinity"}::timestamptz`;
  const finishedFrom = sql`${after.finishedAt ?? "-infinity"}::timestamptz`;
  const result = await db.execute<{
    jobs: number;
    attempts: number;
    last_fired_at: string | Date | null;
    last_finished_at: string | Date | null;
  }>(sql`
    WITH old_attempts AS (
      DELETE FROM job_attempts WHERE id IN (
        SELECT id FROM job_attempts
        WHERE fired_at >= ${firedFrom} AND fired_at < ${before}
        ORDER BY fired_at LIMIT ${limit}
      ) RETURNING fired_at
    ), doomed AS (
      SELECT id FROM jobs
      WHERE ${statusGuard("deleteFinished")} AND finished_at >= ${finishedFrom} AND finished_at < ${before}
      ORDER BY finished_at LIMIT ${limit}
      FOR UPDATE SKIP LOCKED
    ), old_jobs AS (
      DELETE FROM jobs USING doomed
      WHERE jobs.id = doomed.id
        AND ${statusGuard("deleteFinished", "jobs.status")} AND jobs.finished_at < ${before}
      RETURNING jobs.finished_at
    )
    SELECT (SELECT count(*) FROM old_jobs)::int AS jobs, (SELECT count(*) FROM old_attempts)::int AS attempts,
           (SELECT max(fired_at) FROM old_attempts) AS last_fired_at,
           (SELECT max(finished_at) FROM old_jobs) AS last_finished_at`);
  return result.rows[0];
}

/** A timestamp as the driver returned it, as text to send back (a Date keeps milliseconds only: never past the value). */
function timestampText(value: string | Date | null): string | null {
  return value instanceof Date ? value.toISOString() : value;
}

/**
 * Job ids as one `uuid[]` parameter (drizzle would spread a JS array into one parameter per
 * element). The ids come from our own rows; the cast rejects anything that is not a uuid.
 */
function toUuidArray(ids: readonly string[]): SQL {
  return sql`${`{${ids.join(",")}}`}::uuid[]`;
}

/**
 * The earliest instant anything needs a tick: a scheduled job's run time (claimed or not), a
 * running attempt's lease end (its rescue), or an active schedule's next occurrence; null when
 * there is none. Three index lookups (jobs_due_idx, jobs_leased_idx, schedules_due_idx).
 */
export async function nextDueAt(db: Database): Promise<number | null> {
  const result = await db.execute<{ next_ms: string | null }>(sql`
    SELECT (extract(epoch FROM least(
      (SELECT min(run_at) FROM jobs WHERE ${statusGuard("nextDueRun")}),
      (SELECT min(locked_until) FROM jobs WHERE ${statusGuard("nextLeaseEnd")}),
      (SELECT min(next_run_at) FROM schedules WHERE status = 'active')
    )) * 1000)::text AS next_ms`);
  const next = result.rows[0]?.next_ms;
  return next === null || next === undefined ? null : Number(next);
}
