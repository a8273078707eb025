/**
 * The jobs API: HTTP in and out over the job actions (src/actions/jobs.ts), each route declared
 * beside its handler. Creating jobs (jobCreationRoutes) is mounted ahead of the token middleware,
 * since it checks the token inside its own statement.
 */
import type { Context } from "hono";
import type { Caller } from "../actions/context";
import {
  cancelCallersJob,
  cancelCallersJobs,
  createCallersJob,
  createCallersJobBatch,
  listAttemptsOf,
  listCallersJobs,
  type PresentingCaller,
  prepareJob,
  prepareJobBatch,
  readCallersJob,
  replayCallersJob,
  replayCallersJobs,
  requireJob,
  runCallersJobNow,
  updateCallersJob,
} from "../actions/jobs";
import type { JobRow } from "../db/schema";
import { actionContextOf, requestContextOf } from "../http/action-context";
import { authFailure } from "../http/auth-failure";
import type { AppEnv } from "../http/env";
import { ApiError, notFound } from "../wire/errors";
import {
  attemptPageResponse,
  attemptsQuery,
  bulkCancelResponse,
  bulkReplayResponse,
  bulkRequest,
  createdJobsResponse,
  createJobRequest,
  createJobsRequest,
  etagOf,
  idempotencyKeyHeader,
  ifMatchHeader,
  jobDetailResponse,
  jobIdParam,
  jobPageResponse,
  jobResponse,
  listJobsQuery,
  updateJobRequest,
} from "../wire/jobs";
import { IDEMPOTENCY_KEY, parseOrThrow } from "../wire/validation";
import { assertScope, presentedToken, rateLimitBeforeLookup, requireCaller } from "./auth";
import { COMMON_ERRORS } from "./openapi";
import { toAttemptJson, toJobJson } from "./render";
import { ApiRoutes } from "./routes";
import { parseJsonBody } from "./validation";

/** The job id in the path (`:id`); one that is not a UUID names no job. */
function jobIdOf(c: Context<AppEnv>): string {
  const id = jobIdParam.safeParse(c.req.param("id"));
  if (!id.success) throw notFound("Job");
  return id.data;
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

/** The request's token, for the create statement to look up, and the answer when it finds none. */
export async function presentingCallerOf(c: Context<AppEnv>): Promise<PresentingCaller> {
  return { token: await presentedToken(c), unknownToken: () => authFailure(c) };
}

/** Once the create statement has found the token, the request has its caller like any other. */
function identified(c: Context<AppEnv>, caller: Caller) {
  c.set("auth", caller);
}

/** Creating jobs: mounted ahead of requireToken, since the create statement looks the token up itself. */
export const jobCreationRoutes = new ApiRoutes({ basePath: "/jobs", tag: "Jobs", security: "bearer" });

/** The rest of the jobs API, mounted behind requireToken. */
export const jobRoutes = new ApiRoutes({ basePath: "/jobs", tag: "Jobs", security: "bearer" });

const jobParams = { id: jobIdParam };
const idempotencyKey = { "Idempotency-Key": idempotencyKeyHeader };
const ifMatch = { "If-Match": ifMatchHeader };
const jobAnswer = (description: string) => ({ description, body: jobResponse });
const cancelErrors = {
  401: COMMON_ERRORS[401],
  404: "No such job",
  409: "The job's attempt has started (`job_running`), or it already finished (`job_finished`)",
};

/** The token is checked, the project's cap enforced and the job inserted in one statement: one round trip. */
jobCreationRoutes.declare(
  {
    method: "post",
    path: "/",
    summary: "Schedule a callback",
    headers: idempotencyKey,
    body: createJobRequest,
    answers: {
      201: jobAnswer("The job"),
      200: jobAnswer("The original job, for a repeat with the same Idempotency-Key"),
    },
    errors: {
      ...COMMON_ERRORS,
      409: "The Idempotency-Key was used for a different request",
      413: "The request body is too large",
      429: "Too many requests with this token (`rate_limited`, with Retry-After), or the project has as many waiting jobs as it may (`scheduled_jobs_limit`)",
    },
  },
  async (c) => {
    const presenting = await presentingCallerOf(c);
    await rateLimitBeforeLookup(c);
    const ctx = requestContextOf(c);
    const prepared = await checkedBeforeLookup(c, async () => {
      const request = await parseJsonBody(c, createJobRequest);
      const key = parseOrThrow(idempotencyKeyHeader, c.req.header("idempotency-key"), IDEMPOTENCY_KEY);
      return prepareJob(ctx, request, key);
    });
    const { job, repeat, caller } = await createCallersJob(ctx, presenting, prepared);
    identified(c, caller);
    c.header("ETag", etagOf(job));
    return c.json(toJobJson(job), repeat ? 200 : 201);
  },
);

/** Up to 1,000 jobs in one statement, with the token's checks in it (as a single create). */
jobCreationRoutes.declare(
  {
    method: "post",
    path: "/batch",
    summary: "Schedule up to 1,000 callbacks, all or none",
    body: createJobsRequest,
    answers: { 201: { description: "The jobs, in the order sent", body: createdJobsResponse } },
    errors: {
      ...COMMON_ERRORS,
      429: "Too many requests with this token (`rate_limited`), or the batch would take the project past its cap on waiting jobs (`scheduled_jobs_limit`)",
    },
  },
  async (c) => {
    const presenting = await presentingCallerOf(c);
    await rateLimitBeforeLookup(c);
    const ctx = requestContextOf(c);
    const batch = await checkedBeforeLookup(c, async () => {
      const { jobs: requests } = await parseJsonBody(c, createJobsRequest);
      return prepareJobBatch(ctx, requests);
    });
    const { jobs, caller } = await createCallersJobBatch(ctx, presenting, batch);
    identified(c, caller);
    return c.json({ jobs: jobs.map(toJobJson) }, 201);
  },
);

jobRoutes.declare(
  {
    method: "get",
    path: "/",
    summary: "List jobs",
    query: listJobsQuery,
    answers: { 200: { description: "A page of jobs", body: jobPageResponse } },
    errors: COMMON_ERRORS,
  },
  async (c) => {
    const query = parseOrThrow(
      listJobsQuery,
      {
        ...c.req.query(),
        status: c.req.queries("status"),
        label: c.req.queries("label"),
      },
      { in: "query" },
    );
    const page = await listCallersJobs(actionContextOf(c), query);
    return c.json({ jobs: page.jobs.map(toJobJson), next_cursor: page.nextCursor });
  },
);

/**
 * Bulk cancel: each named job that has not started is canceled, with the single cancel's
 * guarantee; those already running are named in `running_ids` and left as they are.
 */
jobRoutes.declare(
  {
    method: "post",
    path: "/cancel",
    summary: "Cancel jobs in bulk",
    body: bulkRequest,
    answers: {
      200: {
        description: "The jobs canceled, and the matching jobs left because their attempt had started",
        body: bulkCancelResponse,
      },
    },
    errors: COMMON_ERRORS,
  },
  async (c) => {
    const request = await parseJsonBody(c, bulkRequest);
    const { canceled, running, hasMore } = await cancelCallersJobs(actionContextOf(c), request);
    return c.json({ count: canceled.length, ids: canceled, running_ids: running, has_more: hasMore });
  },
);

/** Bulk replay: each named finished job runs again as a new run, picked up by the tick. */
jobRoutes.declare(
  {
    method: "post",
    path: "/replay",
    summary: "Replay finished jobs in bulk",
    body: bulkRequest,
    answers: { 200: { description: "What changed", body: bulkReplayResponse } },
    errors: COMMON_ERRORS,
  },
  async (c) => {
    const request = await parseJsonBody(c, bulkRequest);
    const { ids, hasMore } = await replayCallersJobs(actionContextOf(c), request);
    return c.json({ count: ids.length, ids, has_more: hasMore });
  },
);

jobRoutes.declare(
  {
    method: "get",
    path: "/:id",
    summary: "A job and its attempts",
    params: jobParams,
    answers: { 200: { description: "The job", body: jobDetailResponse } },
    errors: { 401: COMMON_ERRORS[401], 404: "No such job in this project" },
  },
  async (c) => {
    const { job, attempts } = await readCallersJob(actionContextOf(c), jobIdOf(c));
    c.header("ETag", etagOf(job));
    return c.json({ ...toJobJson(job), attempts: attempts.map(toAttemptJson) });
  },
);

jobRoutes.declare(
  {
    method: "get",
    path: "/:id/attempts",
    summary: "A job's attempts, a page at a time",
    params: jobParams,
    query: attemptsQuery,
    answers: { 200: { description: "A page of attempts", body: attemptPageResponse } },
    errors: { ...COMMON_ERRORS, 404: "No such job" },
  },
  async (c) => {
    const ctx = actionContextOf(c);
    // The job first: another project's job is a 404 whatever the query says.
    const job = await requireJob(ctx, jobIdOf(c));
    const query = parseOrThrow(attemptsQuery, c.req.query(), { in: "query" });
    const page = await listAttemptsOf(ctx, job, query);
    return c.json({ attempts: page.attempts.map(toAttemptJson), next_after: page.nextAfter });
  },
);

/** Cancel: once this answers `200`, no attempt of the job starts; a running job answers 409. */
async function cancel(c: Context<AppEnv>) {
  return c.json(toJobJson(await cancelCallersJob(actionContextOf(c), jobIdOf(c))));
}

const canceled = jobAnswer("The canceled job: no attempt of it starts after this answer");
jobRoutes.declare(
  {
    method: "delete",
    path: "/:id",
    summary: "Cancel a job",
    params: jobParams,
    answers: { 200: canceled },
    errors: cancelErrors,
  },
  cancel,
);
jobRoutes.declare(
  {
    method: "post",
    path: "/:id/cancel",
    summary: "Cancel a job",
    params: jobParams,
    answers: { 200: canceled },
    errors: cancelErrors,
  },
  cancel,
);

/** Answers a changed job with its new ETag. */
function answerChanged(c: Context<AppEnv>, job: JobRow) {
  c.header("ETag", etagOf(job));
  return c.json(toJobJson(job));
}

jobRoutes.declare(
  {
    method: "patch",
    path: "/:id",
    summary: "Change a job that has not started",
    params: jobParams,
    headers: ifMatch,
    body: updateJobRequest,
    answers: { 200: jobAnswer("The changed job") },
    errors: {
      ...COMMON_ERRORS,
      404: "No such job in this project",
      409: "The job is running or finished",
      412: "If-Match names an older version",
    },
  },
  async (c) => {
    const request = await parseJsonBody(c, updateJobRequest);
    const job = await updateCallersJob(actionContextOf(c), jobIdOf(c), request, c.req.header("if-match"));
    return answerChanged(c, job);
  },
);

jobRoutes.declare(
  {
    method: "post",
    path: "/:id/run",
    summary: "Fire a scheduled job now",
    description: "The job's next attempt moves to this instant; its scheduled_at is kept.",
    params: jobParams,
    headers: ifMatch,
    answers: { 200: jobAnswer("The job, due now") },
    errors: { 401: COMMON_ERRORS[401], 404: "No such job", 409: "The job is running or finished" },
  },
  async (c) => answerChanged(c, await runCallersJobNow(actionContextOf(c), jobIdOf(c))),
);

jobRoutes.declare(
  {
    method: "post",
    path: "/:id/replay",
    summary: "Run a finished job again as a new run",
    description: "The new run has a new webhook-id; the job's history is kept.",
    params: jobParams,
    answers: { 200: jobAnswer("The job, scheduled again") },
    errors: { 401: COMMON_ERRORS[401], 404: "No such job", 409: "The job has not finished" },
  },
  async (c) => answerChanged(c, await replayCallersJob(actionContextOf(c), jobIdOf(c))),
);
