/**
 * The jobs API: HTTP in and out over the job actions (src/actions/jobs.ts). Creating jobs
 * (createJob, createJobBatch) is routed ahead of the token middleware, since it checks the
 * token inside its own statement.
 */
import { type Context, Hono } from "hono";
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
  attemptsQuery,
  bulkRequest,
  createJobRequest,
  createJobsRequest,
  etagOf,
  idempotencyKeyHeader,
  jobIdParam,
  listJobsQuery,
  updateJobRequest,
} from "../wire/jobs";
import { IDEMPOTENCY_KEY, parseOrThrow } from "../wire/validation";
import { assertScope, presentedToken, rateLimitBeforeLookup, requireCaller } from "./auth";
import { toAttemptJson, toJobJson } from "./render";
import { parseJsonBody } from "./validation";

/** The jobs API, mounted at /jobs behind requireToken. */
export const jobsApi = new Hono<AppEnv>();

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
async function presentingCallerOf(c: Context<AppEnv>): Promise<PresentingCaller> {
  return { token: await presentedToken(c), unknownToken: () => authFailure(c) };
}

/** Once the create statement has found the token, the request has its caller like any other. */
function identified(c: Context<AppEnv>, caller: Caller) {
  c.set("auth", caller);
}

/**
 * `POST /jobs`. The token is checked, the project's cap enforced and the job inserted in one
 * statement, so a create is one round trip to the database.
 */
export async function createJob(c: Context<AppEnv>) {
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
}

/** `POST /jobs/batch`: up to 1,000 jobs in one statement, with the token's checks in it (see createJob). */
export async function createJobBatch(c: Context<AppEnv>) {
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
  const page = await listCallersJobs(actionContextOf(c), query);
  return c.json({ jobs: page.jobs.map(toJobJson), next_cursor: page.nextCursor });
});

/**
 * Bulk cancel: each named job that has not started is canceled, with the single cancel's
 * guarantee; those already running are named in `running_ids` and left as they are.
 */
jobsApi.post("/cancel", async (c) => {
  const request = await parseJsonBody(c, bulkRequest);
  const { canceled, running, hasMore } = await cancelCallersJobs(actionContextOf(c), request);
  return c.json({ count: canceled.length, ids: canceled, running_ids: running, has_more: hasMore });
});

/** Bulk replay: each named finished job runs again as a new run, picked up by the tick. */
jobsApi.post("/replay", async (c) => {
  const request = await parseJsonBody(c, bulkRequest);
  const { ids, hasMore } = await replayCallersJobs(actionContextOf(c), request);
  return c.json({ count: ids.length, ids, has_more: hasMore });
});

jobsApi.get("/:id", async (c) => {
  const { job, attempts } = await readCallersJob(actionContextOf(c), jobIdOf(c));
  c.header("ETag", etagOf(job));
  return c.json({ ...toJobJson(job), attempts: attempts.map(toAttemptJson) });
});

jobsApi.get("/:id/attempts", async (c) => {
  const ctx = actionContextOf(c);
  // The job first: another project's job is a 404 whatever the query says.
  const job = await requireJob(ctx, jobIdOf(c));
  const query = parseOrThrow(attemptsQuery, c.req.query(), { in: "query" });
  const page = await listAttemptsOf(ctx, job, query);
  return c.json({ attempts: page.attempts.map(toAttemptJson), next_after: page.nextAfter });
});

/** Cancel: once this answers `200`, no attempt of the job starts; a running job answers 409. */
async function cancel(c: Context<AppEnv>) {
  return c.json(toJobJson(await cancelCallersJob(actionContextOf(c), jobIdOf(c))));
}

jobsApi.delete("/:id", cancel);
jobsApi.post("/:id/cancel", cancel);

/** Answers a changed job with its new ETag. */
function answerChanged(c: Context<AppEnv>, job: JobRow) {
  c.header("ETag", etagOf(job));
  return c.json(toJobJson(job));
}

jobsApi.patch("/:id", async (c) => {
  const request = await parseJsonBody(c, updateJobRequest);
  const job = await updateCallersJob(actionContextOf(c), jobIdOf(c), request, c.req.header("if-match"));
  return answerChanged(c, job);
});

/** Fire now: a scheduled job's next attempt moves to this instant (its scheduled_at is kept). */
jobsApi.post("/:id/run", async (c) => answerChanged(c, await runCallersJobNow(actionContextOf(c), jobIdOf(c))));

/** Replay: a finished job runs again as a new run, with a new webhook-id; its history is kept. */
jobsApi.post("/:id/replay", async (c) => answerChanged(c, await replayCallersJob(actionContextOf(c), jobIdOf(c))));
