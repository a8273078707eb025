/**
 * What a caller can do to one of its project's jobs (cancel, change, fire now, replay), with
 * the checks and the fire-from-here path each needs. Shared by the JSON API and the
 * dashboard, so both act through the same statements and answer the same errors.
 */
import type { Context } from "hono";
import type { z } from "zod";
import { cancelJob, findJob, type JobChanges, listJobs, replayJob, updateScheduledJob } from "../db/jobs";
import type { JobRow } from "../db/schema";
import { API_CLAIM_LEASE_MS, apiDeliveryWindowEnd, deliverSoon } from "../dispatch/deliver-soon";
import { TIMING } from "../dispatch/delivery-run";
import { windowOwnersOf } from "../dispatch/tick-watchdog";
import { callbackTargetRefusal, targetPolicyOf } from "../jobs/callback-target";
import { jobRuleViolations, type RuleViolation } from "../jobs/job-rules";
import { readSettings } from "../settings";
import { ApiError, notFound, validationFailed } from "../wire/errors";
import { encodeCursor, etagOf, jobIdParam, type listJobsQuery } from "../wire/jobs";
import type { AppEnv } from "./context";

/** An API invocation's claim on jobs due before its after-response window closes. */
export interface ApiClaim {
  claimant: string;
  lockedUntil: Date;
  windowEnd: Date;
}

/** Claims a job due before this invocation's after-response window closes, to fire it from here. */
export function claimIfDueSoon(
  runAt: Date,
  timeoutMs: number,
  now: Date,
  claimant = crypto.randomUUID(),
): ApiClaim | null {
  const windowEnd = apiDeliveryWindowEnd(now, timeoutMs);
  if (runAt >= windowEnd) return null;
  return { claimant, lockedUntil: new Date(runAt.getTime() + API_CLAIM_LEASE_MS), windowEnd };
}

/**
 * Fires the claimed jobs from this invocation, after the response, on the request's own
 * database connection (kept open until the delivery ends).
 */
export function deliverFromHere(
  c: Context<AppEnv>,
  claimant: string,
  claimed: Array<{ job: JobRow; claim: ApiClaim }>,
) {
  if (claimed.length === 0) return;
  const windowEnd = new Date(Math.max(...claimed.map(({ claim }) => claim.windowEnd.getTime())));
  const planned = claimed.map(({ job }) => ({ id: job.id, runAt: job.runAt }));
  c.var.afterResponse(deliverSoon(c.var.db, readSettings(c.env), claimant, windowEnd, planned));
}

/**
 * Tells the engine's clock (see TickWatchdog), after the response, when what this request wrote
 * falls due: an idle tick then knows to look at the database, and a window's owner looks at once
 * for a job due before its next poll that this invocation does not fire itself (its timeout
 * reaches past the after-response window). Jobs this invocation does fire are told too: if it is
 * cut short, the tick must take them over. One call to the watchdog, after the write committed.
 */
export function announceDue(c: Context<AppEnv>, times: ReadonlyArray<Date | null>) {
  const earliest = Math.min(...times.flatMap((time) => (time ? [time.getTime()] : [])));
  if (!Number.isFinite(earliest)) return;
  c.var.afterResponse(
    windowOwnersOf(readSettings(c.env).tickWatchdog)
      .due(earliest)
      .catch((error: unknown) => {
        console.error("telling the engine's clock failed; the next periodic look finds the jobs", error);
      }),
  );
}

type CheckedJob = Parameters<typeof jobRuleViolations>[0] & { url: string; failureUrl?: string | null };

/** The SSRF policy for a request: this deployment's settings, and the host the API was called on. */
function targetPolicyFor(c: Context<AppEnv>) {
  return targetPolicyOf(readSettings(c.env), new URL(c.req.url).origin);
}

/** Where the job's URLs may not go (see jobs/callback-target). */
export function targetViolations(c: Context<AppEnv>, job: Pick<CheckedJob, "url" | "failureUrl">): RuleViolation[] {
  const policy = targetPolicyFor(c);
  const violations: RuleViolation[] = [];
  const urlRefusal = callbackTargetRefusal(job.url, policy);
  if (urlRefusal) violations.push({ path: "url", message: urlRefusal });
  const failureUrlRefusal = job.failureUrl ? callbackTargetRefusal(job.failureUrl, policy) : null;
  if (failureUrlRefusal) violations.push({ path: "failure_url", message: failureUrlRefusal });
  return violations;
}

/**
 * Cross-field rules and the callback target policy, as a 422 in the one error shape; `prefix`
 * locates the job in a batch.
 */
export function assertJobRules(c: Context<AppEnv>, job: CheckedJob, prefix = ""): void {
  const violations = [...jobRuleViolations(job, c.var.now), ...targetViolations(c, job)].map((v) => ({
    ...v,
    path: prefix + v.path,
  }));
  if (violations.length > 0) {
    throw validationFailed(violations);
  }
}

/** The job id in the path (`:id`); one that is not a UUID names no job. */
export function jobIdOf(c: Context<AppEnv>): string {
  const id = jobIdParam.safeParse(c.req.param("id"));
  if (!id.success) throw notFound("Job");
  return id.data;
}

/** The caller's job named in the path; another project's job is not found. */
export async function requireJob(c: Context<AppEnv>): Promise<JobRow> {
  const job = await findJob(c.var.db, c.var.auth.projectId, jobIdOf(c));
  if (!job) throw notFound("Job");
  return job;
}

/** One page of the caller's jobs for a validated list query, and the cursor of the next page (null on the last). */
export async function listCallersJobs(
  c: Context<AppEnv>,
  query: z.output<typeof listJobsQuery>,
): Promise<{ jobs: JobRow[]; nextCursor: string | null }> {
  const page = await listJobs(
    c.var.db,
    {
      projectId: c.var.auth.projectId,
      statuses: query.status,
      labels: query.label,
      urlPrefix: query.url_prefix,
      scheduledFrom: query.scheduled_after ? new Date(query.scheduled_after) : undefined,
      scheduledTo: query.scheduled_before ? new Date(query.scheduled_before) : undefined,
      scheduleId: query.schedule_id,
    },
    query.order,
    { after: query.cursor, limit: query.limit + 1 },
  );
  const jobs = page.slice(0, query.limit);
  const last = jobs.at(-1);
  const hasMore = page.length > query.limit && last;
  return {
    jobs,
    nextCursor: hasMore
      ? encodeCursor(query.order, query.order === "newest" ? last.createdAt : last.runAt, last.id)
      : null,
  };
}

/** How long before its time a job is started, and so no longer cancelable or changeable. */
export const CANCEL_CLOSES_BEFORE_MS = TIMING.startLeadMs + TIMING.startBatchMs;

/**
 * Cancel: a `200` with the job `canceled` means no attempt of it starts after this. A job
 * whose attempt has started (`running`, from up to CANCEL_CLOSES_BEFORE_MS before its time) is left
 * as it is and answers `409 job_running`: its callback may already be on its way.
 */
export async function cancelCallersJob(c: Context<AppEnv>): Promise<JobRow> {
  const job = await cancelJob(c.var.db, c.var.auth.projectId, jobIdOf(c), c.var.now);
  if (!job) throw notFound("Job");
  if (job.status === "running") {
    throw new ApiError(
      "job_running",
      `The job's attempt has started and its callback may already be on its way, so it was not canceled. A job can be canceled until ${CANCEL_CLOSES_BEFORE_MS} ms before its time; if this attempt ends in a retry, cancel it then.`,
    );
  }
  if (job.status !== "canceled") {
    throw new ApiError("job_finished", `The job has already ${job.status}; there is nothing to cancel.`);
  }
  return job;
}

/** How often a change without If-Match re-reads the job when a concurrent write got there first. */
const UPDATE_ATTEMPTS = 3;

/**
 * Applies a change to a job that has not started, and fires it from here when it is now due
 * within seconds. With `ifMatch` (an ETag), only to that version of the job (412 otherwise).
 */
export async function changeScheduledJob(
  c: Context<AppEnv>,
  changesFor: (job: JobRow) => JobChanges,
  ifMatch?: string,
): Promise<JobRow> {
  const { db, now } = c.var;
  for (let attempt = 1; attempt <= UPDATE_ATTEMPTS; attempt++) {
    const job = await requireJob(c);
    if (ifMatch !== undefined && ifMatch !== etagOf(job)) throw preconditionFailed();
    if (job.status !== "scheduled") throw notChangeable(job);
    const changes = changesFor(job);
    const merged = { ...job, ...changes };
    assertJobRules(c, merged);
    const claim = claimIfDueSoon(merged.runAt, merged.timeoutMs, now);
    const updated = await updateScheduledJob(db, job.projectId, job.id, job.updatedAt, changes, claim, now);
    if (updated) {
      if (claim) deliverFromHere(c, claim.claimant, [{ job: updated, claim }]);
      announceDue(c, [updated.runAt]);
      return updated;
    }
    if (ifMatch !== undefined) throw preconditionFailed();
  }
  throw new ApiError("conflict", "The job kept changing while this change was applied; try again.");
}

/** Fire now: a scheduled job's next attempt moves to this instant (its scheduled_at is kept). */
export function runCallersJobNow(c: Context<AppEnv>): Promise<JobRow> {
  return changeScheduledJob(c, () => ({ runAt: c.var.now }));
}

/** Replay: a finished job runs again as a new run, with a new webhook-id; its history is kept. */
export async function replayCallersJob(c: Context<AppEnv>): Promise<JobRow> {
  const { db, now } = c.var;
  const existing = await requireJob(c);
  const claim = claimIfDueSoon(now, existing.timeoutMs, now);
  const job = await replayJob(db, c.var.auth.projectId, existing.id, now, claim, now);
  if (!job) {
    const current = await requireJob(c);
    throw new ApiError("job_not_finished", `The job is ${current.status}; only a finished job can be replayed.`);
  }
  if (claim) deliverFromHere(c, claim.claimant, [{ job, claim }]);
  announceDue(c, [job.runAt]);
  return job;
}

const preconditionFailed = () =>
  new ApiError("precondition_failed", "The job has changed since that ETag: read it again and retry.");

function notChangeable(job: JobRow): ApiError {
  return job.status === "running"
    ? new ApiError(
        "job_running",
        `The job's attempt has started (jobs start ${CANCEL_CLOSES_BEFORE_MS} ms before their time), so it cannot be changed now; change it once this attempt ends.`,
      )
    : new ApiError("job_finished", `The job has already ${job.status}; it can no longer be changed.`);
}
