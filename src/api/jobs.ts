import { type Context, Hono } from "hono";
import {
  BULK_LIMIT,
  cancelJob,
  cancelJobs,
  countScheduledJobs,
  findJob,
  insertJobOnce,
  insertJobs,
  type JobChanges,
  type JobFilter,
  listAttempts,
  listJobs,
  type NewJob,
  replayJob,
  replayJobs,
  updateScheduledJob,
} from "../db/jobs";
import type { JobRow } from "../db/schema";
import { apiDeliveryWindowEnd, deliverSoon } from "../dispatch/deliver-soon";
import { TIMING } from "../dispatch/delivery-run";
import { callbackTargetRefusal, targetPolicyOf } from "../jobs/callback-target";
import { jobRuleViolations, type RuleViolation } from "../jobs/job-rules";
import { keepRedactedValues } from "../jobs/redaction";
import { readSettings } from "../settings";
import type { AppEnv } from "./context";
import { ApiError, notFound } from "./errors";
import {
  attemptsQuery,
  bulkRequest,
  type CreateJobRequest,
  createJobRequest,
  createJobsRequest,
  encodeCursor,
  etagOf,
  idempotencyKeyHeader,
  jobIdParam,
  listJobsQuery,
  toAttemptJson,
  toJobJson,
  type UpdateJobRequest,
  updateJobRequest,
} from "./job-schemas";
import { parseJsonBody, parseOrThrow } from "./validation";

/** The jobs API, mounted at /jobs behind requireToken. */
export const jobsApi = new Hono<AppEnv>();

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
  return { claimant, lockedUntil: new Date(runAt.getTime() + TIMING.claimLeaseMs), windowEnd };
}

/** Fires the claimed jobs from this invocation, after the response, in waitUntil. */
export function deliverFromHere(
  c: Context<AppEnv>,
  claimant: string,
  claimed: Array<{ job: JobRow; claim: ApiClaim }>,
) {
  if (claimed.length === 0) return;
  const windowEnd = new Date(Math.max(...claimed.map(({ claim }) => claim.windowEnd.getTime())));
  const planned = claimed.map(({ job }) => ({ id: job.id, runAt: job.runAt }));
  c.executionCtx.waitUntil(deliverSoon(readSettings(c.env), claimant, windowEnd, planned));
}

type CheckedJob = Parameters<typeof jobRuleViolations>[0] & { url: string; failureUrl?: string | null };

/** The SSRF policy for a request: this deployment's settings, and the host the API was called on. */
function targetPolicyFor(c: Context<AppEnv>) {
  return targetPolicyOf(readSettings(c.env), [new URL(c.req.url).hostname]);
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
function assertJobRules(c: Context<AppEnv>, job: CheckedJob, prefix = ""): void {
  const violations = [...jobRuleViolations(job, c.var.now), ...targetViolations(c, job)].map((v) => ({
    ...v,
    path: prefix + v.path,
  }));
  if (violations.length > 0) {
    throw new ApiError(422, "validation_failed", "The request is not valid; see details.", violations);
  }
}

/** The row for a validated create request, checked against the cross-field rules. */
function newJobFrom(c: Context<AppEnv>, request: CreateJobRequest, prefix = ""): NewJob {
  const { now } = c.var;
  const { projectId } = c.var.auth;
  const scheduledAt = request.scheduled_at
    ? new Date(request.scheduled_at)
    : new Date(now.getTime() + (request.delay ?? 0));
  const job = {
    id: crypto.randomUUID(),
    projectId,
    url: request.url,
    httpMethod: request.http_method,
    headers: request.headers,
    body: request.body,
    labels: request.labels,
    failureUrl: request.failure_url,
    scheduledAt,
    runAt: scheduledAt,
    maxRetries: request.max_retries,
    timeoutMs: request.timeout_ms,
    backoffInitialMs: request.retry_backoff.initial_delay_ms,
    backoffMaxMs: request.retry_backoff.max_delay_ms,
    createdAt: now,
  };
  assertJobRules(c, job, prefix);
  return job;
}

/**
 * Refuses new jobs that would take the project past its cap on waiting jobs. A soft cap:
 * the count and the insert are separate statements, so creates racing each other may each
 * pass and together overshoot it by at most what they insert.
 */
async function assertRoomFor(c: Context<AppEnv>, count: number): Promise<void> {
  const cap = readSettings(c.env).maxScheduledJobsPerProject;
  const waiting = await countScheduledJobs(c.var.db, c.var.auth.projectId, cap);
  if (waiting + count > cap) {
    throw new ApiError(
      429,
      "scheduled_jobs_limit",
      `A project may have at most ${cap} scheduled jobs waiting; it has ${waiting}. Cancel some, or wait for them to fire.`,
    );
  }
}

/** A stable digest of a create request: the same request under the same key is a repeat. */
export async function fingerprintOf(request: object): Promise<string> {
  const canonical = JSON.stringify(request, (_key, value) =>
    value && typeof value === "object" && !Array.isArray(value)
      ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => a.localeCompare(b)))
      : value,
  );
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(canonical));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

jobsApi.post("/", async (c) => {
  const request = await parseJsonBody(c, createJobRequest);
  const { now, db } = c.var;
  const key = parseOrThrow(idempotencyKeyHeader, c.req.header("idempotency-key"));
  const job = newJobFrom(c, request);
  await assertRoomFor(c, 1);
  const claim = claimIfDueSoon(job.runAt, job.timeoutMs, now);
  const row: NewJob = { ...job, claimedBy: claim?.claimant ?? null, lockedUntil: claim?.lockedUntil ?? null };
  if (key === undefined) {
    const [created] = await insertJobs(db, [row]);
    if (claim) deliverFromHere(c, claim.claimant, [{ job: created, claim }]);
    c.header("ETag", etagOf(created));
    return c.json(toJobJson(created), 201);
  }
  const fingerprint = await fingerprintOf(request);
  const result = await insertJobOnce(db, { ...row, idempotencyKey: key, idempotencyFingerprint: fingerprint });
  if (!result.created && result.job.idempotencyFingerprint !== fingerprint) {
    throw new ApiError(
      409,
      "idempotency_key_reused",
      "This Idempotency-Key was used for a different request; use a new key for a new job.",
    );
  }
  if (result.created && claim) deliverFromHere(c, claim.claimant, [{ job: result.job, claim }]);
  c.header("ETag", etagOf(result.job));
  return c.json(toJobJson(result.job), result.created ? 201 : 200);
});

jobsApi.post("/batch", async (c) => {
  const { jobs: requests } = await parseJsonBody(c, createJobsRequest);
  const { now, db } = c.var;
  // One claimant for the whole batch: the jobs due soon are fired together from here.
  const claimant = crypto.randomUUID();
  const rows = requests.map((request, index) => {
    const job = newJobFrom(c, request, `jobs.${index}.`);
    const claim = claimIfDueSoon(job.runAt, job.timeoutMs, now, claimant);
    return { row: { ...job, claimedBy: claim?.claimant ?? null, lockedUntil: claim?.lockedUntil ?? null }, claim };
  });
  await assertRoomFor(c, rows.length);
  const created = await insertJobs(
    db,
    rows.map(({ row }) => row),
  );
  const claims = new Map(rows.map(({ row, claim }) => [row.id, claim]));
  deliverFromHere(
    c,
    claimant,
    created.flatMap((job) => {
      const claim = claims.get(job.id);
      return claim ? [{ job, claim }] : [];
    }),
  );
  return c.json({ jobs: created.map(toJobJson) }, 201);
});

jobsApi.get("/", async (c) => {
  const query = parseOrThrow(listJobsQuery, {
    ...c.req.query(),
    status: c.req.queries("status"),
    label: c.req.queries("label"),
  });
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
  return c.json({
    jobs: jobs.map(toJobJson),
    next_cursor: hasMore
      ? encodeCursor(query.order, query.order === "newest" ? last.createdAt : last.runAt, last.id)
      : null,
  });
});

/** The jobs a bulk request names, within the caller's project. */
async function bulkFilterOf(c: Context<AppEnv>): Promise<JobFilter> {
  const { ids, filter } = await parseJsonBody(c, bulkRequest);
  return {
    projectId: c.var.auth.projectId,
    ids,
    statuses: filter?.status,
    labels: filter?.labels,
    urlPrefix: filter?.url_prefix,
    scheduledFrom: filter?.scheduled_after ? new Date(filter.scheduled_after) : undefined,
    scheduledTo: filter?.scheduled_before ? new Date(filter.scheduled_before) : undefined,
  };
}

/** The answer to a bulk action: what it changed, and whether the caller should repeat it. */
function bulkResult(c: Context<AppEnv>, ids: string[]) {
  return c.json({ count: ids.length, ids, has_more: ids.length === BULK_LIMIT });
}

/** Bulk cancel: each named job that can be canceled is, with the single cancel's guarantees. */
jobsApi.post("/cancel", async (c) => {
  const filter = await bulkFilterOf(c);
  return bulkResult(c, await cancelJobs(c.var.db, filter, c.var.now));
});

/** Bulk replay: each named finished job runs again as a new run, picked up by the tick. */
jobsApi.post("/replay", async (c) => {
  const filter = await bulkFilterOf(c);
  return bulkResult(c, await replayJobs(c.var.db, filter, c.var.now, c.var.now));
});

/** The job id in the path; one that is not a UUID names no job. */
function jobIdOf(c: Context<AppEnv>): string {
  const id = jobIdParam.safeParse(c.req.param("id"));
  if (!id.success) throw notFound("Job");
  return id.data;
}

async function requireJob(c: Context<AppEnv>): Promise<JobRow> {
  const job = await findJob(c.var.db, c.var.auth.projectId, jobIdOf(c));
  if (!job) throw notFound("Job");
  return job;
}

jobsApi.get("/:id", async (c) => {
  const job = await requireJob(c);
  const attempts = await listAttempts(c.var.db, job.id);
  c.header("ETag", etagOf(job));
  return c.json({ ...toJobJson(job), attempts: attempts.map(toAttemptJson) });
});

jobsApi.get("/:id/attempts", async (c) => {
  const job = await requireJob(c);
  const query = parseOrThrow(attemptsQuery, c.req.query());
  const page = await listAttempts(c.var.db, job.id, { after: query.after, limit: query.limit + 1 });
  const attempts = page.slice(0, query.limit);
  return c.json({
    attempts: attempts.map(toAttemptJson),
    next_after: page.length > query.limit ? (attempts.at(-1)?.attempt ?? null) : null,
  });
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

/**
 * The stored fields a PATCH body sets. `headers` replaces the stored headers, except that a
 * secret header sent back as "[redacted]" (as every response shows it) keeps its stored value.
 */
function changesOf(request: UpdateJobRequest, job: JobRow): JobChanges {
  const scheduledAt = request.scheduled_at === undefined ? undefined : new Date(request.scheduled_at);
  return {
    ...(request.url !== undefined && { url: request.url }),
    ...(request.http_method !== undefined && { httpMethod: request.http_method }),
    ...(request.headers !== undefined && { headers: headersKeepingSecrets(request.headers, job.headers) }),
    ...(request.body !== undefined && { body: request.body }),
    ...(request.labels !== undefined && { labels: request.labels }),
    ...(request.failure_url !== undefined && { failureUrl: request.failure_url }),
    // The next attempt moves only when the schedule does.
    ...(scheduledAt && { scheduledAt, runAt: scheduledAt }),
    ...(request.max_retries !== undefined && { maxRetries: request.max_retries }),
    ...(request.timeout_ms !== undefined && { timeoutMs: request.timeout_ms }),
    ...(request.retry_backoff && {
      backoffInitialMs: request.retry_backoff.initial_delay_ms ?? job.backoffInitialMs,
      backoffMaxMs: request.retry_backoff.max_delay_ms ?? job.backoffMaxMs,
    }),
  };
}

function headersKeepingSecrets(incoming: Record<string, string>, stored: Record<string, string>) {
  const { headers, unknown } = keepRedactedValues(incoming, stored);
  if (unknown.length > 0) {
    throw new ApiError(
      422,
      "validation_failed",
      "The request is not valid; see details.",
      unknown.map((name) => ({
        path: `headers.${name}`,
        message: '"[redacted]" keeps a stored secret, but this job has no such header; send its value',
      })),
    );
  }
  return headers;
}

/** How often a change without If-Match re-reads the job when a concurrent write got there first. */
const UPDATE_ATTEMPTS = 3;

/**
 * Applies a change to a job that has not started, and fires it from here when it is now due
 * within seconds. With `If-Match`, only to that version of the job (412 otherwise).
 */
async function changeScheduledJob(c: Context<AppEnv>, changesFor: (job: JobRow) => JobChanges) {
  const ifMatch = c.req.header("if-match");
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
      c.header("ETag", etagOf(updated));
      return c.json(toJobJson(updated));
    }
    if (ifMatch !== undefined) throw preconditionFailed();
  }
  throw new ApiError(409, "conflict", "The job kept changing while this change was applied; try again.");
}

jobsApi.patch("/:id", async (c) => {
  const request = await parseJsonBody(c, updateJobRequest);
  return changeScheduledJob(c, (job) => changesOf(request, job));
});

/** Fire now: a scheduled job's next attempt moves to this instant (its scheduled_at is kept). */
jobsApi.post("/:id/run", (c) => changeScheduledJob(c, () => ({ runAt: c.var.now })));

/** Replay: a finished job runs again as a new run, with a new webhook-id; its history is kept. */
jobsApi.post("/:id/replay", async (c) => {
  const id = jobIdOf(c);
  const { db, now } = c.var;
  const existing = await requireJob(c);
  const claim = claimIfDueSoon(now, existing.timeoutMs, now);
  const job = await replayJob(db, c.var.auth.projectId, id, now, claim, now);
  if (!job) {
    const current = await requireJob(c);
    throw new ApiError(409, "job_not_finished", `The job is ${current.status}; only a finished job can be replayed.`);
  }
  if (claim) deliverFromHere(c, claim.claimant, [{ job, claim }]);
  c.header("ETag", etagOf(job));
  return c.json(toJobJson(job));
});

const preconditionFailed = () =>
  new ApiError(412, "precondition_failed", "The job has changed since that ETag: read it again and retry.");

function notChangeable(job: JobRow): ApiError {
  return job.status === "running"
    ? new ApiError(409, "job_running", "The job is being delivered now; change it once this attempt ends.")
    : new ApiError(409, "job_finished", `The job has already ${job.status}; it can no longer be changed.`);
}
