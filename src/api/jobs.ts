import { type Context, Hono } from "hono";
import { cancelJob, findJob, insertJob, type JobChanges, listAttempts, updateScheduledJob } from "../db/jobs";
import type { JobRow } from "../db/schema";
import { apiDeliveryWindowEnd, deliverSoon } from "../dispatch/deliver-soon";
import { TIMING } from "../dispatch/delivery-run";
import { jobRuleViolations } from "../jobs/job-rules";
import { readSettings } from "../settings";
import type { AppEnv } from "./context";
import { ApiError, notFound } from "./errors";
import {
  createJobRequest,
  etagOf,
  jobIdParam,
  toAttemptJson,
  toJobJson,
  type UpdateJobRequest,
  updateJobRequest,
} from "./job-schemas";
import { parseJsonBody } from "./validation";

/** The jobs API, mounted at /jobs behind requireToken. */
export const jobsApi = new Hono<AppEnv>();

jobsApi.post("/", async (c) => {
  const request = await parseJsonBody(c, createJobRequest);
  const now = c.var.now;
  const scheduledAt = request.scheduled_at ? new Date(request.scheduled_at) : now;
  const fields = {
    url: request.url,
    httpMethod: request.http_method,
    headers: request.headers,
    body: request.body,
    scheduledAt,
    maxRetries: request.max_retries,
    timeoutMs: request.timeout_ms,
    backoffInitialMs: request.retry_backoff.initial_delay_ms,
    backoffMaxMs: request.retry_backoff.max_delay_ms,
  };
  assertJobRules(fields, now);
  const claim = claimIfDueSoon(scheduledAt, fields.timeoutMs, now);
  const job = await insertJob(c.var.db, {
    ...fields,
    id: crypto.randomUUID(),
    projectId: c.var.auth.projectId,
    runAt: scheduledAt,
    claimedBy: claim?.claimant ?? null,
    lockedUntil: claim?.lockedUntil ?? null,
    createdAt: now,
  });
  if (claim) deliverFromHere(c, claim, job);
  c.header("ETag", etagOf(job));
  return c.json(toJobJson(job), 201);
});

/** Cross-field rules, as a 422 in the one error shape. */
function assertJobRules(job: Parameters<typeof jobRuleViolations>[0], now: Date): void {
  const violations = jobRuleViolations(job, now);
  if (violations.length > 0) {
    throw new ApiError(422, "validation_failed", "The request is not valid; see details.", violations);
  }
}

interface ApiClaim {
  claimant: string;
  lockedUntil: Date;
  windowEnd: Date;
}

/** A job due before this invocation's after-response window closes is claimed to be fired from here. */
function claimIfDueSoon(runAt: Date, timeoutMs: number, now: Date): ApiClaim | null {
  const windowEnd = apiDeliveryWindowEnd(now, timeoutMs);
  if (runAt >= windowEnd) return null;
  return { claimant: crypto.randomUUID(), lockedUntil: new Date(runAt.getTime() + TIMING.claimLeaseMs), windowEnd };
}

function deliverFromHere(c: Context<AppEnv>, claim: ApiClaim, job: JobRow): void {
  const settings = readSettings(c.env);
  c.executionCtx.waitUntil(deliverSoon(settings, claim.claimant, claim.windowEnd, [{ id: job.id, runAt: job.runAt }]));
}

/** The job id in the path; one that is not a UUID names no job. */
function jobIdOf(c: Context<AppEnv>): string {
  const id = jobIdParam.safeParse(c.req.param("id"));
  if (!id.success) throw notFound("Job");
  return id.data;
}

jobsApi.get("/:id", async (c) => {
  const job = await findJob(c.var.db, c.var.auth.projectId, jobIdOf(c));
  if (!job) throw notFound("Job");
  const attempts = await listAttempts(c.var.db, job.id);
  c.header("ETag", etagOf(job));
  return c.json({ ...toJobJson(job), attempts: attempts.map(toAttemptJson) });
});

/** Cancel: once this answers, a scheduled job never fires; a running one is not retried. */
async function cancel(c: Context<AppEnv>) {
  const job = await cancelJob(c.var.db, c.var.auth.projectId, jobIdOf(c), c.var.now);
  if (!job) throw notFound("Job");
  if (job.status !== "canceled") {
    throw new ApiError(409, "job_finished", `The job has already ${job.status}; there is nothing to cancel.`);
  }
  return c.json(toJobJson(job));
}

jobsApi.delete("/:id", cancel);
jobsApi.post("/:id/cancel", cancel);

/** The stored fields a PATCH body sets. */
function changesOf(request: UpdateJobRequest, job: JobRow): JobChanges {
  return {
    ...(request.url !== undefined && { url: request.url }),
    ...(request.http_method !== undefined && { httpMethod: request.http_method }),
    ...(request.headers !== undefined && { headers: request.headers }),
    ...(request.body !== undefined && { body: request.body }),
    ...(request.scheduled_at !== undefined && { scheduledAt: new Date(request.scheduled_at) }),
    ...(request.max_retries !== undefined && { maxRetries: request.max_retries }),
    ...(request.timeout_ms !== undefined && { timeoutMs: request.timeout_ms }),
    ...(request.retry_backoff && {
      backoffInitialMs: request.retry_backoff.initial_delay_ms ?? job.backoffInitialMs,
      backoffMaxMs: request.retry_backoff.max_delay_ms ?? job.backoffMaxMs,
    }),
  };
}

/** How often a PATCH without If-Match re-reads the job when a concurrent write got there first. */
const UPDATE_ATTEMPTS = 3;

/**
 * Change a job that has not started. With `If-Match`, the change applies only to that
 * version of the job (412 otherwise); without it, to the current version.
 */
jobsApi.patch("/:id", async (c) => {
  const id = jobIdOf(c);
  const request = await parseJsonBody(c, updateJobRequest);
  const ifMatch = c.req.header("if-match");
  const { db, now } = c.var;
  for (let attempt = 1; attempt <= UPDATE_ATTEMPTS; attempt++) {
    const job = await findJob(db, c.var.auth.projectId, id);
    if (!job) throw notFound("Job");
    if (ifMatch !== undefined && ifMatch !== etagOf(job)) throw preconditionFailed();
    if (job.status !== "scheduled") throw notChangeable(job);
    const changes = changesOf(request, job);
    const merged = { ...job, ...changes };
    assertJobRules(merged, now);
    // The next attempt moves only when the schedule does.
    const claim = claimIfDueSoon(changes.scheduledAt ?? job.runAt, merged.timeoutMs, now);
    const updated = await updateScheduledJob(db, job.projectId, id, job.updatedAt, changes, claim, now);
    if (updated) {
      if (claim) deliverFromHere(c, claim, updated);
      c.header("ETag", etagOf(updated));
      return c.json(toJobJson(updated));
    }
    if (ifMatch !== undefined) throw preconditionFailed();
  }
  throw new ApiError(409, "conflict", "The job kept changing while this change was applied; try again.");
});

const preconditionFailed = () =>
  new ApiError(412, "precondition_failed", "The job has changed since that ETag: read it again and retry.");

function notChangeable(job: JobRow): ApiError {
  return job.status === "running"
    ? new ApiError(409, "job_running", "The job is being delivered now; change it once this attempt ends.")
    : new ApiError(409, "job_finished", `The job has already ${job.status}; it can no longer be changed.`);
}
