import { type Context, Hono } from "hono";
import {
  BULK_LIMIT,
  cancelJobs,
  countScheduledJobs,
  insertJobOnce,
  insertJobs,
  type JobChanges,
  type JobFilter,
  listAttempts,
  type NewJob,
  replayJobs,
} from "../db/jobs";
import type { JobRow } from "../db/schema";
import { keepRedactedValues } from "../jobs/redaction";
import { readSettings } from "../settings";
import type { AppEnv } from "./context";
import { ApiError, validationFailed } from "./errors";
import {
  assertJobRules,
  cancelCallersJob,
  changeScheduledJob,
  claimIfDueSoon,
  deliverFromHere,
  listCallersJobs,
  replayCallersJob,
  requireJob,
  runCallersJobNow,
} from "./job-actions";
import {
  attemptsQuery,
  bulkRequest,
  type CreateJobRequest,
  createJobRequest,
  createJobsRequest,
  etagOf,
  idempotencyKeyHeader,
  listJobsQuery,
  toAttemptJson,
  toJobJson,
  type UpdateJobRequest,
  updateJobRequest,
} from "./job-schemas";
import { IDEMPOTENCY_KEY, parseJsonBody, parseOrThrow } from "./validation";

/** The jobs API, mounted at /jobs behind requireToken. */
export const jobsApi = new Hono<AppEnv>();

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
  const key = parseOrThrow(idempotencyKeyHeader, c.req.header("idempotency-key"), IDEMPOTENCY_KEY);
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
  const query = parseOrThrow(
    listJobsQuery,
    {
      ...c.req.query(),
      status: c.req.queries("status"),
      label: c.req.queries("label"),
    },
    { in: "query" },
  );
  const page = await listCallersJobs(c, query);
  return c.json({ jobs: page.jobs.map(toJobJson), next_cursor: page.nextCursor });
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

/**
 * Bulk cancel: each named job that has not started is canceled, with the single cancel's
 * guarantee; those already running are named in `running_ids` and left as they are.
 */
jobsApi.post("/cancel", async (c) => {
  const filter = await bulkFilterOf(c);
  const { canceled, running } = await cancelJobs(c.var.db, filter, c.var.now);
  return c.json({
    count: canceled.length,
    ids: canceled,
    running_ids: running,
    // Running jobs are picked last, so a full page of them means nothing is left to cancel.
    has_more: canceled.length + running.length === BULK_LIMIT && canceled.length > 0,
  });
});

/** Bulk replay: each named finished job runs again as a new run, picked up by the tick. */
jobsApi.post("/replay", async (c) => {
  const filter = await bulkFilterOf(c);
  return bulkResult(c, await replayJobs(c.var.db, filter, c.var.now, c.var.now));
});

jobsApi.get("/:id", async (c) => {
  const job = await requireJob(c);
  const attempts = await listAttempts(c.var.db, job.id);
  c.header("ETag", etagOf(job));
  return c.json({ ...toJobJson(job), attempts: attempts.map(toAttemptJson) });
});

jobsApi.get("/:id/attempts", async (c) => {
  const job = await requireJob(c);
  const query = parseOrThrow(attemptsQuery, c.req.query(), { in: "query" });
  const page = await listAttempts(c.var.db, job.id, { after: query.after, limit: query.limit + 1 });
  const attempts = page.slice(0, query.limit);
  return c.json({
    attempts: attempts.map(toAttemptJson),
    next_after: page.length > query.limit ? (attempts.at(-1)?.attempt ?? null) : null,
  });
});

/** Cancel: once this answers `200`, no attempt of the job starts; a running job answers 409. */
async function cancel(c: Context<AppEnv>) {
  return c.json(toJobJson(await cancelCallersJob(c)));
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
    throw validationFailed(
      unknown.map((name) => ({
        path: `headers.${name}`,
        message: '"[redacted]" keeps a stored secret, but this job has no such header; send its value',
      })),
    );
  }
  return headers;
}

/** Answers a changed job with its new ETag. */
function answerChanged(c: Context<AppEnv>, job: JobRow) {
  c.header("ETag", etagOf(job));
  return c.json(toJobJson(job));
}

jobsApi.patch("/:id", async (c) => {
  const request = await parseJsonBody(c, updateJobRequest);
  const job = await changeScheduledJob(c, (current) => changesOf(request, current), c.req.header("if-match"));
  return answerChanged(c, job);
});

/** Fire now: a scheduled job's next attempt moves to this instant (its scheduled_at is kept). */
jobsApi.post("/:id/run", async (c) => answerChanged(c, await runCallersJobNow(c)));

/** Replay: a finished job runs again as a new run, with a new webhook-id; its history is kept. */
jobsApi.post("/:id/replay", async (c) => answerChanged(c, await replayCallersJob(c)));
