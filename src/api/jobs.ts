import { type Context, Hono } from "hono";
import {
  BULK_LIMIT,
  cancelJobs,
  createJobsAsCaller,
  type JobChanges,
  type JobFilter,
  type JobToCreate,
  listAttempts,
  type PresentedToken,
  replayJobs,
} from "../db/jobs";
import type { JobRow } from "../db/schema";
import { keepRedactedValues } from "../jobs/redaction";
import { readSettings } from "../settings";
import {
  assertScope,
  authFailure,
  insufficientScope,
  lastUsedStaleBefore,
  presentedToken,
  rateLimitBeforeLookup,
  requireCaller,
  scopesGranting,
} from "./auth";
import type { AppEnv } from "./context";
import { ApiError, validationFailed } from "./errors";
import {
  type ApiClaim,
  announceDue,
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

/**
 * The jobs API, mounted at /jobs behind requireToken; creating jobs (createJob, createJobBatch)
 * is routed ahead of it, since it checks the token inside its own statement.
 */
export const jobsApi = new Hono<AppEnv>();

/** The row for a validated create request, checked against the cross-field rules. */
function newJobFrom(c: Context<AppEnv>, request: CreateJobRequest, prefix = ""): JobToCreate {
  const { now } = c.var;
  const scheduledAt = request.scheduled_at
    ? new Date(request.scheduled_at)
    : new Date(now.getTime() + (request.delay ?? 0));
  const job = {
    id: crypto.randomUUID(),
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

/**
 * Reads and checks a create request before its token is looked up (the lookup is part of the
 * insert). A request refused here looks its token up first, so the answer is the same as on
 * every other route: 401 for a failing token, 403 for a missing scope, then the request's error.
 */
async function checkedBeforeLookup<T>(c: Context<AppEnv>, check: () => Promise<T>): Promise<T> {
  try {
    return await check();
  } catch (error) {
    if (error instanceof ApiError) {
      await requireCaller(c);
      assertScope(c, "write");
    }
    throw error;
  }
}

/**
 * Creates jobs as the request's token in one statement (createJobsAsCaller) and answers its
 * refusals: 401 for a failing token, 403 without the `write` scope, 429 over the project's cap.
 */
async function createAsCaller(c: Context<AppEnv>, token: PresentedToken, rows: JobToCreate[]) {
  const { now, db, statementDb } = c.var;
  const cap = readSettings(c.env).maxScheduledJobsPerProject;
  // One job: one HTTP round trip through Neon, with no connection to open. A batch goes over the
  // request's connection: up to 8 MiB of jobs and their rows back would travel as JSON text in an
  // HTTP body, under the endpoint's size limits, and measured no faster that way.
  const outcome = await createJobsAsCaller(rows.length === 1 ? statementDb : db, token, rows, {
    grantingScopes: scopesGranting("write"),
    cap,
    now,
    staleBefore: lastUsedStaleBefore(now),
  });
  if (outcome.kind === "unknown_token") throw await authFailure(c);
  c.set("auth", outcome.caller);
  if (outcome.kind === "insufficient_scope") throw insufficientScope("write");
  if (outcome.kind === "over_cap") {
    throw new ApiError(
      "scheduled_jobs_limit",
      `A project may have at most ${cap} jobs waiting (scheduled or being delivered); it has ${outcome.waiting}. Cancel some, or wait for them to finish.`,
    );
  }
  return outcome;
}

/** A validated create request, ready to insert: its row, and its claim when this invocation fires it. */
export interface PreparedJob {
  row: JobToCreate;
  claim: ApiClaim | null;
}

/**
 * Turns a validated create request (and its Idempotency-Key) into the row to insert, checked
 * against the cross-field rules and the target policy (422 otherwise). Shared by `POST /jobs`
 * and the dashboard's job form.
 */
export async function prepareJob(
  c: Context<AppEnv>,
  request: CreateJobRequest,
  key: string | undefined,
): Promise<PreparedJob> {
  const job = newJobFrom(c, request);
  const claim = claimIfDueSoon(job.runAt, job.timeoutMs, c.var.now);
  const fingerprint = key === undefined ? null : await fingerprintOf(request);
  const row: JobToCreate = {
    ...job,
    claimedBy: claim?.claimant ?? null,
    lockedUntil: claim?.lockedUntil ?? null,
    idempotencyKey: key ?? null,
    idempotencyFingerprint: fingerprint,
  };
  return { row, claim };
}

/**
 * Creates a prepared job as the bearer of `token`, in one statement (see createAsCaller), and
 * fires it from here when it is due within seconds. A repeat of an Idempotency-Key answers the
 * job created first (`repeat`), or 409 when its request was a different one.
 */
export async function createPreparedJob(
  c: Context<AppEnv>,
  token: PresentedToken,
  { row, claim }: PreparedJob,
): Promise<{ job: JobRow; repeat: boolean }> {
  const outcome = await createAsCaller(c, token, [row]);
  if (outcome.kind === "repeat") {
    if (outcome.job.idempotencyFingerprint !== row.idempotencyFingerprint) {
      throw new ApiError(
        "idempotency_key_reused",
        "This Idempotency-Key was used for a different request; use a new key for a new job.",
      );
    }
    return { job: outcome.job, repeat: true };
  }
  const [created] = outcome.jobs;
  if (claim) deliverFromHere(c, claim.claimant, [{ job: created, claim }]);
  announceDue(c, [created.runAt]);
  return { job: created, repeat: false };
}

/**
 * `POST /jobs`. The token is checked, the project's cap enforced and the job inserted in one
 * statement, so a create is one round trip to the database.
 */
export async function createJob(c: Context<AppEnv>) {
  const token = await presentedToken(c);
  await rateLimitBeforeLookup(c);
  const prepared = await checkedBeforeLookup(c, async () => {
    const request = await parseJsonBody(c, createJobRequest);
    const key = parseOrThrow(idempotencyKeyHeader, c.req.header("idempotency-key"), IDEMPOTENCY_KEY);
    return prepareJob(c, request, key);
  });
  const { job, repeat } = await createPreparedJob(c, token, prepared);
  c.header("ETag", etagOf(job));
  return c.json(toJobJson(job), repeat ? 200 : 201);
}

/** `POST /jobs/batch`: up to 1,000 jobs in one statement, with the token's checks in it (see createJob). */
export async function createJobBatch(c: Context<AppEnv>) {
  const token = await presentedToken(c);
  await rateLimitBeforeLookup(c);
  const { now } = c.var;
  // One claimant for the whole batch: the jobs due soon are fired together from here.
  const claimant = crypto.randomUUID();
  const rows = await checkedBeforeLookup(c, async () => {
    const { jobs: requests } = await parseJsonBody(c, createJobsRequest);
    return requests.map((request, index) => {
      const job = newJobFrom(c, request, `jobs.${index}.`);
      const claim = claimIfDueSoon(job.runAt, job.timeoutMs, now, claimant);
      return { row: { ...job, claimedBy: claim?.claimant ?? null, lockedUntil: claim?.lockedUntil ?? null }, claim };
    });
  });
  const outcome = await createAsCaller(
    c,
    token,
    rows.map(({ row }) => row),
  );
  if (outcome.kind !== "created") throw new Error("a batch without idempotency keys cannot repeat a job");
  const claims = new Map(rows.map(({ row, claim }) => [row.id, claim]));
  deliverFromHere(
    c,
    claimant,
    outcome.jobs.flatMap((job) => {
      const claim = claims.get(job.id);
      return claim ? [{ job, claim }] : [];
    }),
  );
  announceDue(
    c,
    outcome.jobs.map((job) => job.runAt),
  );
  return c.json({ jobs: outcome.jobs.map(toJobJson) }, 201);
}

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
    ...(request.headers !== undefined && { headers: headersKeepingSecrets(request.headers, job.headers, "job") }),
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

/**
 * A PATCH's `headers` with every hidden header sent back as "[redacted]" given its stored value;
 * 422 for one that has no stored value to keep. Shared by jobs and schedules.
 */
export function headersKeepingSecrets(
  incoming: Record<string, string>,
  stored: Record<string, string>,
  kind: "job" | "schedule",
): Record<string, string> {
  const { headers, unknown } = keepRedactedValues(incoming, stored);
  if (unknown.length > 0) {
    throw validationFailed(
      unknown.map((name) => ({
        path: `headers.${name}`,
        message: `"[redacted]" keeps a stored secret, but this ${kind} has no such header; send its value`,
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
