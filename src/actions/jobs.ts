/**
 * What a caller can do to its project's jobs: create, list, read, change, cancel, run now,
 * replay, one at a time or in bulk. Each is a function of the request's context and its
 * validated input, returning rows or throwing the one error type (wire/errors); the API and
 * the dashboard are adapters over them, so both act through the same statements and answer the
 * same errors.
 */
import type { z } from "zod";
import {
  BULK_LIMIT,
  cancelJob,
  cancelJobs,
  createJobsAsCaller,
  findJob,
  type JobChanges,
  type JobFilter,
  type JobToCreate,
  listAttempts,
  listJobs,
  type PresentedToken,
  replayJob,
  replayJobs,
  updateScheduledJob,
} from "../db/jobs";
import type { JobAttemptRow, JobRow } from "../db/schema";
import { deliverSoon } from "../dispatch/deliver-soon";
import { windowOwnersOf } from "../dispatch/tick-watchdog";
import { callbackTargetRefusal, targetPolicyOf } from "../jobs/callback-target";
import type { FlowLimits } from "../jobs/flow-control";
import { jobRuleViolations, type RuleViolation } from "../jobs/job-rules";
import { keepRedactedValues } from "../jobs/redaction";
import { guardedStatuses } from "../jobs/states";
import { apiClaimLeaseEnd, apiDeliveryWindowEnd, CANCEL_CLOSES_BEFORE_MS, FULL_LOOK_INTERVAL_MS } from "../jobs/timing";
import { ApiError, notFound, validationFailed } from "../wire/errors";
import type { JobFlow } from "../wire/flow-keys";
import {
  type attemptsQuery,
  type bulkRequest,
  type CreateJobRequest,
  encodeCursor,
  etagOf,
  type listJobsQuery,
  type UpdateJobRequest,
} from "../wire/jobs";
import { insufficientScope, lastUsedStaleBefore, scopesGranting } from "./caller";
import type { ActionContext, Caller, RequestContext } from "./context";

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
  return { claimant, lockedUntil: apiClaimLeaseEnd(runAt), windowEnd };
}

/**
 * Fires the claimed jobs from this invocation, after the response, on the request's own
 * database connection (kept open until the delivery ends).
 */
export function deliverFromHere(
  ctx: RequestContext,
  claimant: string,
  claimed: Array<{ job: JobRow; claim: ApiClaim }>,
) {
  if (claimed.length === 0) return;
  const windowEnd = new Date(Math.max(...claimed.map(({ claim }) => claim.windowEnd.getTime())));
  const planned = claimed.map(({ job }) => ({ id: job.id, runAt: job.runAt, flowKey: job.flowKey }));
  ctx.waitUntil(deliverSoon(ctx.db, ctx.settings, claimant, windowEnd, planned));
}

/**
 * How far ahead a write tells the engine's clock what falls due. The clock has a tick look at the
 * database at most FULL_LOOK_INTERVAL_MS after its last look, and that look finds anything
 * committed before it; a look that read just before this write committed settles a little later
 * than its read, and the minute on top covers that (a look reads, then settles, in well under a
 * minute). A job due after this horizon is found by a look that happens before it falls due.
 */
export const ANNOUNCE_HORIZON_MS = FULL_LOOK_INTERVAL_MS + 60_000;

/**
 * Tells the engine's clock (see TickWatchdog), after the response, when what this request wrote
 * falls due: an idle tick then knows to look at the database, and a window's owner looks at once
 * for a job due before its next poll that this invocation does not fire itself (its timeout
 * reaches past the after-response window). Jobs this invocation does fire are told too: if it is
 * cut short, the tick must take them over. One call to the watchdog, after the write committed,
 * and none when everything falls due after ANNOUNCE_HORIZON_MS: the clock's periodic look finds it.
 */
export function announceDue(ctx: RequestContext, times: ReadonlyArray<Date | null>) {
  // Read after the write committed (ctx.now is the request's start).
  const horizon = Date.now() + ANNOUNCE_HORIZON_MS;
  const earliest = Math.min(...times.flatMap((time) => (time && time.getTime() < horizon ? [time.getTime()] : [])));
  if (!Number.isFinite(earliest)) return;
  ctx.waitUntil(
    windowOwnersOf(ctx.settings.tickWatchdog)
      .due(earliest)
      .catch((error: unknown) => {
        console.error("telling the engine's clock failed; the next periodic look finds the jobs", error);
      }),
  );
}

type CheckedJob = Parameters<typeof jobRuleViolations>[0] & {
  url: string;
  failureUrl?: string | null;
  successUrl?: string | null;
};

/** Where the job's URLs may not go (see jobs/callback-target): this deployment's policy, from the host it was called on. */
export function targetViolations(
  ctx: RequestContext,
  job: Pick<CheckedJob, "url" | "failureUrl" | "successUrl">,
): RuleViolation[] {
  const policy = targetPolicyOf(ctx.settings, ctx.origin);
  const violations: RuleViolation[] = [];
  const urls = { url: job.url, failure_url: job.failureUrl, success_url: job.successUrl };
  for (const [path, url] of Object.entries(urls)) {
    const refusal = url ? callbackTargetRefusal(url, policy) : null;
    if (refusal) violations.push({ path, message: refusal });
  }
  return violations;
}

/**
 * Cross-field rules and the callback target policy, as a 422 in the one error shape; `prefix`
 * locates the job in a batch.
 */
export function assertJobRules(ctx: RequestContext, job: CheckedJob, prefix = ""): void {
  const violations = [...jobRuleViolations(job, ctx.now), ...targetViolations(ctx, job)].map((v) => ({
    ...v,
    path: prefix + v.path,
  }));
  if (violations.length > 0) {
    throw validationFailed(violations);
  }
}

/** The caller's job `id` (a UUID, checked by the adapter); another project's job is not found. */
export async function requireJob(ctx: ActionContext, id: string): Promise<JobRow> {
  const job = await findJob(ctx.db, ctx.caller.projectId, id);
  if (!job) throw notFound("Job");
  return job;
}

/** The caller's job with every attempt, oldest first. */
export async function readCallersJob(
  ctx: ActionContext,
  id: string,
): Promise<{ job: JobRow; attempts: JobAttemptRow[] }> {
  const job = await requireJob(ctx, id);
  return { job, attempts: await listAttempts(ctx.db, job.id) };
}

/** One page of the attempts of a job of the caller's (see requireJob), and where the next page starts (null on the last). */
export async function listAttemptsOf(
  ctx: ActionContext,
  job: JobRow,
  query: z.output<typeof attemptsQuery>,
): Promise<{ attempts: JobAttemptRow[]; nextAfter: number | null }> {
  const page = await listAttempts(ctx.db, job.id, { after: query.after, limit: query.limit + 1 });
  const attempts = page.slice(0, query.limit);
  return { attempts, nextAfter: page.length > query.limit ? (attempts.at(-1)?.attempt ?? null) : null };
}

/** One page of the caller's jobs for a validated list query, and the cursor of the next page (null on the last). */
export async function listCallersJobs(
  ctx: ActionContext,
  query: z.output<typeof listJobsQuery>,
): Promise<{ jobs: JobRow[]; nextCursor: string | null }> {
  const page = await listJobs(
    ctx.db,
    {
      projectId: ctx.caller.projectId,
      statuses: query.status,
      labels: query.label,
      urlPrefix: query.url_prefix,
      scheduledFrom: query.scheduled_after ? new Date(query.scheduled_after) : undefined,
      scheduledTo: query.scheduled_before ? new Date(query.scheduled_before) : undefined,
      scheduleId: query.schedule_id,
      topic: query.topic,
      messageId: query.message_id,
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

/** The row for a validated create request, checked against the cross-field rules. */
function newJobFrom(ctx: RequestContext, request: CreateJobRequest, prefix = "") {
  const { now } = ctx;
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
    successUrl: request.success_url,
    scheduledAt,
    runAt: scheduledAt,
    expiresAt: request.expires_at === null ? null : new Date(request.expires_at),
    maxRetryDurationMs: request.max_retry_duration,
    maxRetries: request.max_retries,
    timeoutMs: request.timeout_ms,
    backoffInitialMs: request.retry_backoff.initial_delay_ms,
    backoffMaxMs: request.retry_backoff.max_delay_ms,
    flowKey: request.flow?.key ?? null,
    flowLimits: request.flow ? flowLimitsOf(request.flow) : null,
    createdAt: now,
  };
  assertJobRules(ctx, job, prefix);
  return job;
}

/** The limits a job's `flow` asks for, as a key is stored (an ordered key runs one at a time). */
export function flowLimitsOf(flow: JobFlow): FlowLimits {
  return {
    rateLimit: flow.rate?.limit ?? null,
    ratePeriodMs: flow.rate ? flow.rate.period : null,
    parallelism: flow.ordered ? 1 : (flow.parallelism ?? null),
    ordered: flow.ordered,
    onHeadFailure: flow.on_head_failure,
  };
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
 * Who creates jobs: the token the request presents, looked up inside the insert statement
 * (createJobsAsCaller), and the answer when that finds no live token (the adapter's 401, or 429
 * once the client address has failed too often).
 */
export interface PresentingCaller {
  token: PresentedToken;
  unknownToken: () => Promise<ApiError>;
}

/**
 * Creates jobs as the presenting caller in one statement (createJobsAsCaller) and answers its
 * refusals: the caller's unknownToken for a failing token, 403 without the `write` scope, 429
 * over the project's cap.
 */
async function createAsCaller(ctx: RequestContext, presenting: PresentingCaller, rows: JobToCreate[]) {
  const { now, db, statementDb } = ctx;
  const cap = ctx.settings.maxScheduledJobsPerProject;
  // One job: one HTTP round trip through Neon, with no connection to open. A batch goes over the
  // request's connection: up to 8 MiB of jobs and their rows back would travel as JSON text in an
  // HTTP body, under the endpoint's size limits, and measured no faster that way.
  const outcome = await createJobsAsCaller(rows.length === 1 ? statementDb : db, presenting.token, rows, {
    grantingScopes: scopesGranting("write"),
    cap,
    now,
    staleBefore: lastUsedStaleBefore(now),
  });
  if (outcome.kind === "unknown_token") throw await presenting.unknownToken();
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
 * against the cross-field rules and the target policy (422 otherwise). It needs no caller, so a
 * request is refused for what it asks before its token is looked up (see createCallersJob).
 */
export async function prepareJob(
  ctx: RequestContext,
  request: CreateJobRequest,
  key: string | undefined,
): Promise<PreparedJob> {
  const job = newJobFrom(ctx, request);
  const claim = claimIfDueSoon(job.runAt, job.timeoutMs, ctx.now);
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
 * Creates a prepared job as the presenting caller, in one statement (see createAsCaller), and
 * fires it from here when it is due within seconds. A repeat of an Idempotency-Key answers the
 * job created first (`repeat`), or 409 when its request was a different one.
 */
export async function createCallersJob(
  ctx: RequestContext,
  presenting: PresentingCaller,
  { row, claim }: PreparedJob,
): Promise<{ job: JobRow; repeat: boolean; caller: Caller }> {
  const outcome = await createAsCaller(ctx, presenting, [row]);
  if (outcome.kind === "repeat") {
    if (outcome.job.idempotencyFingerprint !== row.idempotencyFingerprint) {
      throw new ApiError(
        "idempotency_key_reused",
        "This Idempotency-Key was used for a different request; use a new key for a new job.",
      );
    }
    return { job: outcome.job, repeat: true, caller: outcome.caller };
  }
  const [created] = outcome.jobs;
  if (claim) deliverFromHere(ctx, claim.claimant, [{ job: created, claim }]);
  announceDue(ctx, [created.runAt]);
  return { job: created, repeat: false, caller: outcome.caller };
}

/** A validated batch, ready to insert: its rows, each with its claim, all under one claimant. */
export interface PreparedBatch {
  claimant: string;
  jobs: PreparedJob[];
}

/** Turns a validated batch into rows (see prepareJob); a problem's path names the job's index (`pathOf`). */
export function prepareJobBatch(
  ctx: RequestContext,
  requests: CreateJobRequest[],
  pathOf: (index: number) => string = (index) => `jobs.${index}.`,
): PreparedBatch {
  // One claimant for the whole batch: the jobs due soon are fired together from here.
  const claimant = crypto.randomUUID();
  const jobs = requests.map((request, index) => {
    const job = newJobFrom(ctx, request, pathOf(index));
    const claim = claimIfDueSoon(job.runAt, job.timeoutMs, ctx.now, claimant);
    return { row: { ...job, claimedBy: claim?.claimant ?? null, lockedUntil: claim?.lockedUntil ?? null }, claim };
  });
  return { claimant, jobs };
}

/** Creates a prepared batch in one statement, with the token's checks in it (see createCallersJob). */
export async function createCallersJobBatch(
  ctx: RequestContext,
  presenting: PresentingCaller,
  batch: PreparedBatch,
): Promise<{ jobs: JobRow[]; caller: Caller }> {
  const outcome = await createAsCaller(
    ctx,
    presenting,
    batch.jobs.map(({ row }) => row),
  );
  if (outcome.kind !== "created") throw new Error("a batch without idempotency keys cannot repeat a job");
  const claims = new Map(batch.jobs.map(({ row, claim }) => [row.id, claim]));
  deliverFromHere(
    ctx,
    batch.claimant,
    outcome.jobs.flatMap((job) => {
      const claim = claims.get(job.id);
      return claim ? [{ job, claim }] : [];
    }),
  );
  announceDue(
    ctx,
    outcome.jobs.map((job) => job.runAt),
  );
  return { jobs: outcome.jobs, caller: outcome.caller };
}

/** The jobs a bulk request names, within the caller's project. */
function bulkFilterOf(ctx: ActionContext, { ids, filter }: z.output<typeof bulkRequest>): JobFilter {
  return {
    projectId: ctx.caller.projectId,
    ids,
    statuses: filter?.status,
    labels: filter?.labels,
    urlPrefix: filter?.url_prefix,
    scheduledFrom: filter?.scheduled_after ? new Date(filter.scheduled_after) : undefined,
    scheduledTo: filter?.scheduled_before ? new Date(filter.scheduled_before) : undefined,
  };
}

/**
 * Bulk cancel: each named job that has not started is canceled, with the single cancel's
 * guarantee; those already running are named in `running` and left as they are. `hasMore`:
 * the caller should repeat the request.
 */
export async function cancelCallersJobs(ctx: ActionContext, request: z.output<typeof bulkRequest>) {
  const { canceled, running } = await cancelJobs(ctx.db, bulkFilterOf(ctx, request), ctx.now);
  // Running jobs are picked last, so a full page of them means nothing is left to cancel.
  const hasMore = canceled.length + running.length === BULK_LIMIT && canceled.length > 0;
  return { canceled, running, hasMore };
}

/** Bulk replay: each named finished job runs again as a new run, picked up by the tick. */
export async function replayCallersJobs(ctx: ActionContext, request: z.output<typeof bulkRequest>) {
  const ids = await replayJobs(ctx.db, bulkFilterOf(ctx, request), ctx.now, ctx.now);
  return { ids, hasMore: ids.length === BULK_LIMIT };
}

/**
 * Cancel: a job answered `canceled` means no attempt of it starts after this. A job whose
 * attempt has started (`running`, from up to CANCEL_CLOSES_BEFORE_MS before its time) is left as
 * it is and answers `409 job_running`: its callback may already be on its way.
 */
export async function cancelCallersJob(ctx: ActionContext, id: string): Promise<JobRow> {
  const job = await cancelJob(ctx.db, ctx.caller.projectId, id, ctx.now);
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
  ctx: ActionContext,
  id: string,
  changesFor: (job: JobRow) => JobChanges,
  ifMatch?: string,
): Promise<JobRow> {
  const { db, now } = ctx;
  for (let attempt = 1; attempt <= UPDATE_ATTEMPTS; attempt++) {
    const job = await requireJob(ctx, id);
    if (ifMatch !== undefined && ifMatch !== etagOf(job)) throw preconditionFailed();
    if (!guardedStatuses("updateScheduledJob").includes(job.status)) throw notChangeable(job);
    const changes = changesFor(job);
    const merged = { ...job, ...changes };
    assertJobRules(ctx, merged);
    const claim = claimIfDueSoon(merged.runAt, merged.timeoutMs, now);
    const updated = await updateScheduledJob(db, job.projectId, job.id, job.updatedAt, changes, claim, now);
    if (updated) {
      if (claim) deliverFromHere(ctx, claim.claimant, [{ job: updated, claim }]);
      announceDue(ctx, [updated.runAt]);
      return updated;
    }
    if (ifMatch !== undefined) throw preconditionFailed();
  }
  throw new ApiError("conflict", "The job kept changing while this change was applied; try again.");
}

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
    ...(request.success_url !== undefined && { successUrl: request.success_url }),
    ...(request.expires_at !== undefined && {
      expiresAt: request.expires_at === null ? null : new Date(request.expires_at),
    }),
    ...(request.max_retry_duration !== undefined && { maxRetryDurationMs: request.max_retry_duration }),
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

/** A validated PATCH: the change it makes to a job that has not started (see changeScheduledJob). */
export function updateCallersJob(
  ctx: ActionContext,
  id: string,
  request: UpdateJobRequest,
  ifMatch?: string,
): Promise<JobRow> {
  return changeScheduledJob(ctx, id, (current) => changesOf(request, current), ifMatch);
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

/** Fire now: a scheduled job's next attempt moves to this instant (its scheduled_at is kept). */
export function runCallersJobNow(ctx: ActionContext, id: string): Promise<JobRow> {
  return changeScheduledJob(ctx, id, () => ({ runAt: ctx.now }));
}

/** Replay: a finished job runs again as a new run, with a new webhook-id; its history is kept. */
export async function replayCallersJob(ctx: ActionContext, id: string): Promise<JobRow> {
  const { db, now } = ctx;
  const existing = await requireJob(ctx, id);
  const claim = claimIfDueSoon(now, existing.timeoutMs, now);
  const job = await replayJob(db, ctx.caller.projectId, existing.id, now, claim, now);
  if (!job) {
    const current = await requireJob(ctx, id);
    throw new ApiError("job_not_finished", `The job is ${current.status}; only a finished job can be replayed.`);
  }
  if (claim) deliverFromHere(ctx, claim.claimant, [{ job, claim }]);
  announceDue(ctx, [job.runAt]);
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
