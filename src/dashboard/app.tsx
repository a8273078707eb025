/**
 * The dashboard: server-rendered pages (hono/jsx) mounted at /dashboard in the same Worker.
 * Pages work without client-side script; every action is a POST form guarded by the session's
 * CSRF token and an origin check, and acts through the same actions (src/actions/) as the JSON API.
 */
import { type Context, Hono, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { JSX } from "hono/jsx/jsx-runtime";
import { AUTH_FAILURE_PERIOD_SECONDS, authenticateToken, countAuthFailure, hasScope } from "../actions/caller";
import { listCallersDestinations, resumeCallersDestination } from "../actions/destinations";
import { listCallersFlowKeys, pauseCallersFlowKey, resumeCallersFlowKey } from "../actions/flow-keys";
import {
  cancelCallersJob,
  changeScheduledJob,
  createCallersJob,
  listCallersJobs,
  prepareJob,
  readCallersJob,
  replayCallersJob,
  requireJob,
  runCallersJobNow,
} from "../actions/jobs";
import { createToken, listSigningSecrets, listTokens, revokeToken, startRotation } from "../actions/project-keys";
import {
  createCallersSchedule,
  listCallersSchedules,
  pauseCallersSchedule,
  readCallersSchedule,
  resumeCallersSchedule,
  triggerCallersSchedule,
} from "../actions/schedules";
import {
  addCallersEndpoint,
  createCallersTopic,
  deleteCallersTopic,
  listCallersTopics,
  removeCallersEndpoint,
} from "../actions/topics";
import { findJob, listJobs } from "../db/jobs";
import { presentedTokenOf } from "../db/projects";
import { attemptActivity, countJobsByStatus, latestAttempts, recentFailures } from "../db/stats";
import { actionContextOf, requestContextOf } from "../http/action-context";
import { authFailure } from "../http/auth-failure";
import { databasePerRequest } from "../http/database-per-request";
import type { AppEnv } from "../http/env";
import { JOB_LIMITS } from "../jobs/limits";
import { JOB_STATUSES, type JobStatus } from "../jobs/states";
import { destinationIdParam } from "../wire/destinations";
import { ApiError, notFound, validationFailed } from "../wire/errors";
import { flowKeyName } from "../wire/flow-keys";
import { createJobRequest, idempotencyKeyHeader, jobIdParam, listJobsQuery, updateJobRequest } from "../wire/jobs";
import { createScheduleRequest, listSchedulesQuery, scheduleIdParam } from "../wire/schedules";
import { createTokenRequest, idParam, rotateSecretRequest } from "../wire/tokens";
import { addEndpointRequest, createTopicRequest, endpointIdParam, topicName } from "../wire/topics";
import { IDEMPOTENCY_KEY, parseOrThrow } from "../wire/validation";
import { formatTime, fromDateTimeLocalValue } from "./format";
import type { Viewer } from "./layout";
import { LIVE_SCRIPT } from "./live-script";
import {
  DELIVERY_CONTROL_NOTICES,
  type DeliveryControlNotice,
  DestinationsPage,
  FlowKeysPage,
} from "./pages/delivery-controls";
import { ErrorPage } from "./pages/error";
import { ACTION_NOTICES, type ActionNotice, CancelJobPage, JobPage } from "./pages/job";
import { JOB_ORDERS, type JobListFilters, type JobListOrder, JobsPage } from "./pages/jobs";
import { LoginPage } from "./pages/login";
import { type FormRefusal, NewJobPage, NewSchedulePage } from "./pages/new-request";
import { type ActivitySpan, OverviewPage } from "./pages/overview";
import { SCHEDULE_NOTICES, type ScheduleNotice, SchedulePage } from "./pages/schedule";
import { SchedulesPage } from "./pages/schedules";
import { type ShownOnce, TOKEN_NOTICES, type TokenNotice, TokensPage } from "./pages/tokens";
import { TOPIC_NOTICES, type TopicNotice, TopicsPage } from "./pages/topics";
import { type FormFields, jobInputOf, scheduleInputOf } from "./request-form";
import {
  CSRF_FIELD,
  csrfTokenFor,
  DASHBOARD_PATH,
  endSession,
  hasSessionCookie,
  isSameOriginPost,
  isValidCsrfToken,
  LIVE_POLL_HEADER,
  liveSession,
  sessionIdOf,
  startSession,
} from "./session";

type FormValue = string | File;

/** The dashboard's request variables: the API's, plus who is looking and the submitted form. */
export interface DashboardEnv {
  Bindings: AppEnv["Bindings"];
  Variables: AppEnv["Variables"] & { viewer: Viewer; form: Record<string, FormValue | FormValue[]> };
}

/** Forms are a few fields; anything bigger is not one of ours. */
const FORM_MAX_BYTES = 16 * 1024;
const UPCOMING_SHOWN = 10;
const FAILURES_SHOWN = 10;
const MINUTE_MS = 60_000;

// Not strict: `/dashboard/` is the overview, as `/dashboard` is.
export const dashboard = new Hono<DashboardEnv>({ strict: false });

/** The job id in the path (`:id`); one that is not a UUID names no job. */
function jobIdOf(c: Context<DashboardEnv>): string {
  const id = jobIdParam.safeParse(c.req.param("id"));
  if (!id.success) throw notFound("Job");
  return id.data;
}

/** The schedule id in the path; one that is not a UUID names no schedule. */
function scheduleIdOf(c: Context<DashboardEnv>): string {
  const id = scheduleIdParam.safeParse(c.req.param("id"));
  if (!id.success) throw notFound("Schedule");
  return id.data;
}

dashboard.onError((error, c) => {
  const viewer = c.get("viewer");
  if (error instanceof ApiError) {
    // A failed action links back to the page it was taken from.
    const back = /^(\/dashboard\/jobs\/[^/]+)\/[a-z]+$/.exec(c.req.path)?.[1];
    return c.html(
      <ErrorPage status={error.status} message={error.message} details={error.details} viewer={viewer} back={back} />,
      error.status,
    );
  }
  console.error("unhandled dashboard error", error);
  return c.html(<ErrorPage status={500} message="Something went wrong on our side." viewer={viewer} />, 500);
});

// Pages hold project data and CSRF tokens: never cached, never framed, and no script but the
// dashboard's own file (live.js), which may fetch nothing but this origin's pages.
dashboard.use("*", async (c, next) => {
  await next();
  c.header("Cache-Control", "no-store");
  c.header(
    "Content-Security-Policy",
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  );
  c.header("X-Content-Type-Options", "nosniff");
  // Not "no-referrer": under it browsers send `Origin: null` on form posts, and the origin check refuses them.
  c.header("Referrer-Policy", "same-origin");
});

dashboard.use(
  "*",
  bodyLimit({
    maxSize: FORM_MAX_BYTES,
    onError: () => {
      throw new ApiError("payload_too_large", `Forms are limited to ${FORM_MAX_BYTES} bytes.`);
    },
  }),
);

// The one script, the same for everyone: served before the session and the database are looked at.
dashboard.get("/live.js", (c) => {
  c.header("Content-Type", "text/javascript; charset=utf-8");
  return c.body(LIVE_SCRIPT);
});

dashboard.use("*", databasePerRequest);

/** A text field of the form; a file, or a field sent more than once, reads as absent. */
const field = (c: Context<DashboardEnv>, name: string) => {
  const value = c.get("form")?.[name];
  return typeof value === "string" ? value : undefined;
};

/** Every text value of a field that may repeat (checkboxes). */
const fieldValues = (c: Context<DashboardEnv>, name: string) =>
  [c.get("form")?.[name] ?? []].flat().filter((value): value is string => typeof value === "string");

const crossOrigin = () => new ApiError("cross_origin", "This form was sent from another site, so it was refused.");

dashboard.get("/login", (c) =>
  c.html(<LoginPage notice={c.req.query("signed_out") !== undefined ? "You are signed out." : undefined} />),
);

dashboard.post("/login", async (c) => {
  // No session yet to hold a CSRF token; the origin check keeps other sites from signing a browser in.
  if (!isSameOriginPost(c)) throw crossOrigin();
  const form = await c.req.parseBody();
  const token = typeof form.token === "string" ? form.token.trim() : "";
  const caller = await authenticateToken(c.var.db, token);
  if (!caller) {
    if (await countAuthFailure(c.env, c.req.raw)) {
      c.header("Retry-After", String(AUTH_FAILURE_PERIOD_SECONDS));
      return c.html(
        <LoginPage
          error={`Too many failed sign-ins from your address; try again in ${AUTH_FAILURE_PERIOD_SECONDS} seconds.`}
        />,
        429,
      );
    }
    return c.html(<LoginPage error="That token was not accepted: it is unknown, revoked or mistyped." />, 401);
  }
  await startSession(c, c.var.db, caller.tokenId, c.var.now);
  return c.redirect(DASHBOARD_PATH, 303);
});

dashboard.post("/logout", async (c) => {
  // Signing out needs only the cookie and its CSRF token, not a live session: an expired one can sign out too.
  const sessionId = sessionIdOf(c);
  if (!isSameOriginPost(c)) throw crossOrigin();
  const form = await c.req.parseBody();
  if (sessionId && !(await isValidCsrfToken(sessionId, form[CSRF_FIELD]))) throw badCsrf();
  await endSession(c, c.var.db);
  return c.redirect(`${DASHBOARD_PATH}/login?signed_out`, 303);
});

const badCsrf = () =>
  new ApiError("csrf_failed", "This form has expired or did not come from this dashboard; reload it and retry.");

/**
 * Every other page needs a live session: the cookie's session, unexpired and not idle, whose
 * token is still live, checked on each request. A POST must also come from this origin with
 * the session's CSRF token, and its token must have the write scope.
 */
const requireSession: MiddlewareHandler<DashboardEnv> = async (c, next) => {
  const sessionId = sessionIdOf(c);
  // A live page polling itself is not the user's activity: it does not keep the session from idling out.
  const pollOnly = c.req.method === "GET" && c.req.header(LIVE_POLL_HEADER) === "1";
  const caller = sessionId ? await liveSession(c.var.db, sessionId, c.var.now, { pollOnly }) : undefined;
  if (!sessionId || !caller) {
    if (hasSessionCookie(c)) await endSession(c, c.var.db);
    if (c.req.method === "GET" || c.req.method === "HEAD") return c.redirect(`${DASHBOARD_PATH}/login`, 303);
    throw new ApiError(
      "unauthorized",
      "Your session has ended (signed out, expired, or the token was revoked). Sign in again.",
    );
  }
  c.set("auth", caller);
  c.set("viewer", {
    csrfToken: await csrfTokenFor(sessionId),
    canAct: hasScope(caller.scopes, "write"),
    isAdmin: caller.scopes.includes("admin"),
  });
  if (c.req.method !== "GET" && c.req.method !== "HEAD") {
    if (!isSameOriginPost(c)) throw crossOrigin();
    c.set("form", await c.req.parseBody({ all: true }));
    if (!(await isValidCsrfToken(sessionId, field(c, CSRF_FIELD)))) throw badCsrf();
    if (!hasScope(caller.scopes, "write")) {
      throw new ApiError(
        "insufficient_scope",
        'This token has the read scope only; sign in with a token that has the "write" scope to act on jobs.',
      );
    }
  }
  await next();
};

dashboard.use("*", requireSession);

/** Recent activity spans: the last hour in 5-minute buckets, the last day in hours. */
function activitySpans(now: Date) {
  const spans = [
    { name: "last hour", bucketMs: 5 * MINUTE_MS, bucketCount: 12, axis: ["-1 h", "now"] as [string, string] },
    { name: "last day", bucketMs: 60 * MINUTE_MS, bucketCount: 24, axis: ["-24 h", "now"] as [string, string] },
  ];
  // Buckets align on whole periods; the newest one is the current, partial one.
  return spans.map((span) => ({
    ...span,
    since: new Date(Math.floor(now.getTime() / span.bucketMs) * span.bucketMs - (span.bucketCount - 1) * span.bucketMs),
  }));
}

dashboard.get("/", async (c) => {
  const { db, now } = c.var;
  const { projectId } = c.var.auth;
  const counts = await countJobsByStatus(db, projectId);
  const spans: ActivitySpan[] = [];
  for (const span of activitySpans(now)) {
    spans.push({ ...span, activity: await attemptActivity(db, projectId, span.since, now, span.bucketMs) });
  }
  const upcoming = await listJobs(db, { projectId, statuses: ["scheduled"] }, "soonest", { limit: UPCOMING_SHOWN });
  const failures = await recentFailures(db, projectId, FAILURES_SHOWN);
  const latest = await latestAttempts(
    db,
    [...upcoming, ...failures].map((job) => job.id),
  );
  return c.html(
    <OverviewPage
      viewer={c.var.viewer}
      counts={counts}
      spans={spans}
      upcoming={upcoming}
      failures={failures}
      latest={latest}
      now={now}
    />,
  );
});

dashboard.get("/jobs", async (c) => {
  const searchedId = c.req.query("id")?.trim();
  if (searchedId) {
    const id = jobIdParam.safeParse(searchedId);
    const job = id.success ? await findJob(c.var.db, c.var.auth.projectId, id.data) : undefined;
    if (job) return c.redirect(`${DASHBOARD_PATH}/jobs/${job.id}`, 303);
  }
  const order = c.req.query("order");
  const filters: JobListFilters = {
    status: (c.req.queries("status") ?? []).filter((s): s is JobStatus => JOB_STATUSES.includes(s as JobStatus)),
    label: c.req.query("label")?.trim() ?? "",
    url_prefix: c.req.query("url_prefix")?.trim() ?? "",
    topic: c.req.query("topic")?.trim() ?? "",
    scheduled_after: c.req.query("scheduled_after")?.trim() ?? "",
    scheduled_before: c.req.query("scheduled_before")?.trim() ?? "",
    order: order && order in JOB_ORDERS ? (order as JobListOrder) : "newest",
    limit: c.req.query("limit") || undefined,
  };
  const cursor = c.req.query("cursor");
  const limit = filters.limit;
  // The same validation as GET /jobs; empty form fields mean "no filter". The date range comes
  // from datetime-local fields, in UTC like every time on the dashboard.
  const query = parseOrThrow(
    listJobsQuery,
    {
      ...(filters.status.length > 0 && { status: filters.status }),
      ...(filters.label && { label: [filters.label] }),
      ...(filters.url_prefix && { url_prefix: filters.url_prefix }),
      ...(filters.topic && { topic: filters.topic }),
      ...(filters.scheduled_after && { scheduled_after: fromDateTimeLocalValue(filters.scheduled_after) }),
      ...(filters.scheduled_before && { scheduled_before: fromDateTimeLocalValue(filters.scheduled_before) }),
      ...(order && { order }),
      ...(cursor && { cursor }),
      ...(limit && { limit }),
    },
    { in: "query" },
  );
  const page = await listCallersJobs(actionContextOf(c), query);
  return c.html(
    <JobsPage
      viewer={c.var.viewer}
      jobs={page.jobs}
      latest={
        await latestAttempts(
          c.var.db,
          page.jobs.map((job) => job.id),
        )
      }
      now={c.var.now}
      filters={filters}
      nextCursor={page.nextCursor}
      paged={cursor !== undefined}
      searchMessage={searchedId ? `No job with id "${searchedId}" in this project.` : undefined}
    />,
    searchedId ? 404 : 200,
  );
});

/** A new form's Idempotency-Key: a form sent twice creates one job or schedule. */
const newFormKey = () => crypto.randomUUID();

/** The text fields of the submitted form, by name. */
const formFields = (c: Context<DashboardEnv>): FormFields =>
  Object.fromEntries(Object.keys(c.get("form") ?? {}).map((name) => [name, field(c, name)]));

/**
 * Runs a form's action; a refusal the API would answer (a 422 with its details, a 409, a 429)
 * shows the form again with what was typed and the API's own messages, under its status.
 */
async function submitForm(
  c: Context<DashboardEnv>,
  act: (values: FormFields) => Promise<Response>,
  page: (values: FormFields, refusal: FormRefusal) => JSX.Element,
): Promise<Response> {
  const values = formFields(c);
  try {
    return await act(values);
  } catch (error) {
    if (!(error instanceof ApiError) || error.status < 409) throw error;
    return c.html(page(values, { message: error.message, details: error.details }), error.status);
  }
}

/** The Idempotency-Key a form carries, checked as the API checks the header. */
const formKey = (values: FormFields) => parseOrThrow(idempotencyKeyHeader, values.idempotency_key, IDEMPOTENCY_KEY);

dashboard.get("/jobs/new", (c) =>
  c.html(<NewJobPage viewer={c.var.viewer} values={{ when: "now" }} idempotencyKey={newFormKey()} />),
);

dashboard.post("/jobs/new", (c) =>
  submitForm(
    c,
    async (values) => {
      const { input, problems } = jobInputOf(values);
      if (problems.length > 0) throw validationFailed(problems);
      const ctx = requestContextOf(c);
      // The API's own schema and create path: the same rules, messages, cap and idempotency.
      const prepared = await prepareJob(ctx, parseOrThrow(createJobRequest, input), formKey(values));
      const token = await presentedTokenOf(c.var.db, c.var.auth.projectId, c.var.auth.tokenId);
      if (!token) throw new ApiError("unauthorized", "Your session's token was revoked. Sign in again.");
      const { job } = await createCallersJob(ctx, { token, unknownToken: () => authFailure(c) }, prepared);
      return backToJob(c, job.id, "created");
    },
    (values, refusal) => (
      <NewJobPage viewer={c.var.viewer} values={values} idempotencyKey={newFormKey()} refusal={refusal} />
    ),
  ),
);

dashboard.get("/jobs/:id", async (c) => {
  const { job, attempts } = await readCallersJob(actionContextOf(c), jobIdOf(c));
  const done = c.req.query("done");
  const notice = done && done in ACTION_NOTICES ? (done as ActionNotice) : undefined;
  // A published message's deliveries, shown together (a topic has at most topicEndpointsMax endpoints).
  const siblings = job.messageId
    ? await listJobs(c.var.db, { projectId: job.projectId, messageId: job.messageId }, "soonest", {
        limit: JOB_LIMITS.topicEndpointsMax,
      })
    : undefined;
  return c.html(
    <JobPage viewer={c.var.viewer} job={job} attempts={attempts} now={c.var.now} notice={notice} siblings={siblings} />,
  );
});

/** After an action, back to the job's page with a notice of what was done (POST, then redirect, then GET). */
const backToJob = (c: Context<DashboardEnv>, id: string, notice: ActionNotice) =>
  c.redirect(`${DASHBOARD_PATH}/jobs/${id}?done=${notice}`, 303);

// Cancel asks first: the job page's Cancel opens this page, whose button posts the cancel.
dashboard.get("/jobs/:id/cancel", async (c) => {
  const job = await requireJob(actionContextOf(c), jobIdOf(c));
  if (job.status !== "scheduled") return c.redirect(`${DASHBOARD_PATH}/jobs/${job.id}`, 303);
  return c.html(<CancelJobPage viewer={c.var.viewer} job={job} now={c.var.now} />);
});

dashboard.post("/jobs/:id/cancel", async (c) =>
  backToJob(c, (await cancelCallersJob(actionContextOf(c), jobIdOf(c))).id, "canceled"),
);

dashboard.post("/jobs/:id/run", async (c) =>
  backToJob(c, (await runCallersJobNow(actionContextOf(c), jobIdOf(c))).id, "run"),
);

dashboard.post("/jobs/:id/replay", async (c) =>
  backToJob(c, (await replayCallersJob(actionContextOf(c), jobIdOf(c))).id, "replayed"),
);

dashboard.post("/jobs/:id/schedule", async (c) => {
  // A datetime-local input gives a time without a zone, to the minute or the second; the dashboard shows UTC.
  const request = parseOrThrow(updateJobRequest, {
    scheduled_at: fromDateTimeLocalValue(field(c, "scheduled_at") ?? ""),
  });
  const scheduledAt = new Date(request.scheduled_at as string);
  const job = await changeScheduledJob(actionContextOf(c), jobIdOf(c), () => ({ scheduledAt, runAt: scheduledAt }));
  return backToJob(c, job.id, "rescheduled");
});

dashboard.get("/schedules", async (c) => {
  const status = c.req.query("status") || undefined;
  const cursor = c.req.query("cursor") || undefined;
  // The same validation as GET /schedules; an empty status means any.
  const query = parseOrThrow(
    listSchedulesQuery,
    {
      ...(status && { status: [status] }),
      ...(cursor && { cursor }),
    },
    { in: "query" },
  );
  const page = await listCallersSchedules(actionContextOf(c), query);
  return c.html(
    <SchedulesPage
      viewer={c.var.viewer}
      schedules={page.schedules}
      status={query.status?.[0]}
      nextCursor={page.nextCursor}
      paged={cursor !== undefined}
    />,
  );
});

dashboard.get("/schedules/new", (c) =>
  c.html(<NewSchedulePage viewer={c.var.viewer} values={{ timezone: "UTC" }} idempotencyKey={newFormKey()} />),
);

dashboard.post("/schedules/new", (c) =>
  submitForm(
    c,
    async (values) => {
      const { input, problems } = scheduleInputOf(values);
      if (problems.length > 0) throw validationFailed(problems);
      // The API's own schema and create path: the same rules and messages, the same idempotency.
      const request = parseOrThrow(createScheduleRequest, input);
      const { schedule } = await createCallersSchedule(actionContextOf(c), request, formKey(values));
      return backToSchedule(c, schedule.id, "created");
    },
    (values, refusal) => (
      <NewSchedulePage viewer={c.var.viewer} values={values} idempotencyKey={newFormKey()} refusal={refusal} />
    ),
  ),
);

dashboard.get("/schedules/:id", async (c) => {
  const { schedule, nextFireTimes, runs } = await readCallersSchedule(actionContextOf(c), scheduleIdOf(c));
  const done = c.req.query("done");
  return c.html(
    <SchedulePage
      viewer={c.var.viewer}
      schedule={schedule}
      nextFireTimes={nextFireTimes}
      runs={runs}
      notice={done && done in SCHEDULE_NOTICES ? (done as ScheduleNotice) : undefined}
    />,
  );
});

/** After a schedule action, back to its page with a notice of what was done. */
const backToSchedule = (c: Context<DashboardEnv>, id: string, notice: ScheduleNotice) =>
  c.redirect(`${DASHBOARD_PATH}/schedules/${id}?done=${notice}`, 303);

dashboard.post("/schedules/:id/pause", async (c) =>
  backToSchedule(
    c,
    (await pauseCallersSchedule(actionContextOf(c), scheduleIdOf(c), c.req.header("if-match"))).id,
    "paused",
  ),
);

dashboard.post("/schedules/:id/resume", async (c) =>
  backToSchedule(
    c,
    (await resumeCallersSchedule(actionContextOf(c), scheduleIdOf(c), c.req.header("if-match"))).id,
    "resumed",
  ),
);

dashboard.post("/schedules/:id/trigger", async (c) => {
  // The run is a job linked to the schedule; the schedule's page lists it.
  const run = await triggerCallersSchedule(actionContextOf(c), scheduleIdOf(c));
  return backToSchedule(c, run.scheduleId ?? c.req.param("id"), "triggered");
});

/** Tokens and signing secrets are the admin scope's, as in the API. */
function requireAdmin(c: Context<DashboardEnv>): void {
  if (!c.var.viewer.isAdmin) {
    throw new ApiError(
      "insufficient_scope",
      'Managing tokens and signing secrets needs a token with the "admin" scope; sign in with one.',
    );
  }
}

/** The tokens page, perhaps with a secret shown this one time. */
async function tokensPage(c: Context<DashboardEnv>, shownOnce?: ShownOnce, status: 200 | 201 = 200) {
  const { auth } = c.var;
  const done = c.req.query("done");
  return c.html(
    <TokensPage
      viewer={c.var.viewer}
      tokens={await listTokens(c.var, auth.projectId)}
      secrets={await listSigningSecrets(c.var, auth.projectId)}
      ownTokenId={auth.tokenId}
      shownOnce={shownOnce}
      notice={done && done in TOKEN_NOTICES ? (done as TokenNotice) : undefined}
    />,
    status,
  );
}

dashboard.get("/tokens", async (c) => {
  requireAdmin(c);
  return tokensPage(c);
});

// Answered with the page itself, not a redirect: the secret must never travel in a URL or a cookie.
dashboard.post("/tokens", async (c) => {
  requireAdmin(c);
  const request = parseOrThrow(createTokenRequest, {
    name: field(c, "name")?.trim() ?? "",
    scopes: fieldValues(c, "scopes"),
  });
  const { row, token } = await createToken(c.var, c.var.auth.projectId, request);
  return tokensPage(
    c,
    {
      title: `Token "${row.name}" created`,
      value: token,
      explanation: "Copy it now: it is shown this once, and only its first characters are kept to recognise it.",
    },
    201,
  );
});

dashboard.post("/tokens/:id/revoke", async (c) => {
  requireAdmin(c);
  const id = idParam.safeParse(c.req.param("id"));
  const row = await revokeToken(c.var, c.var.auth.projectId, id.success ? id.data : undefined);
  // Revoking the token this session is signed in with ends the session at once.
  if (row.id === c.var.auth.tokenId) {
    await endSession(c, c.var.db);
    return c.redirect(`${DASHBOARD_PATH}/login?signed_out`, 303);
  }
  return c.redirect(`${DASHBOARD_PATH}/tokens?done=revoked`, 303);
});

dashboard.post("/secrets/rotate", async (c) => {
  requireAdmin(c);
  const { grace_hours: graceHours } = parseOrThrow(rotateSecretRequest, {
    grace_hours: Number(field(c, "grace_hours") ?? Number.NaN),
  });
  const rotated = await startRotation(c.var, c.var.auth.projectId, graceHours);
  return tokensPage(
    c,
    {
      title: "New signing secret",
      value: rotated.signing_secret,
      explanation: `It signs every callback from now on. The older secrets keep signing beside it until ${formatTime(
        new Date(rotated.previous_secrets_expire_at),
      )}: give your receivers the new one before then.`,
    },
    201,
  );
});

dashboard.get("/topics", async (c) => {
  const done = c.req.query("done");
  return c.html(
    <TopicsPage
      viewer={c.var.viewer}
      topics={await listCallersTopics(actionContextOf(c))}
      notice={done && done in TOPIC_NOTICES ? (done as TopicNotice) : undefined}
    />,
  );
});

/** After a topic action, back to the topics page with a notice of what was done. */
const backToTopics = (c: Context<DashboardEnv>, notice: TopicNotice) =>
  c.redirect(`${DASHBOARD_PATH}/topics?done=${notice}`, 303);

/** The topic name in the path; one that is not a valid name names no topic. */
function topicNameOf(c: Context<DashboardEnv>): string {
  const name = topicName.safeParse(c.req.param("name"));
  if (!name.success) throw notFound("Topic");
  return name.data;
}

dashboard.post("/topics", async (c) => {
  const endpoints = (field(c, "endpoints") ?? "")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
  const request = parseOrThrow(createTopicRequest, { name: field(c, "name")?.trim() ?? "", endpoints });
  await createCallersTopic(actionContextOf(c), request);
  return backToTopics(c, "created");
});

dashboard.post("/topics/:name/endpoints", async (c) => {
  const request = parseOrThrow(addEndpointRequest, { url: field(c, "url")?.trim() ?? "" });
  await addCallersEndpoint(actionContextOf(c), topicNameOf(c), request);
  return backToTopics(c, "added");
});

dashboard.post("/topics/:name/endpoints/:id/remove", async (c) => {
  const id = endpointIdParam.safeParse(c.req.param("id"));
  if (!id.success) throw notFound("Endpoint");
  await removeCallersEndpoint(actionContextOf(c), topicNameOf(c), id.data);
  return backToTopics(c, "removed");
});

dashboard.post("/topics/:name/delete", async (c) => {
  await deleteCallersTopic(actionContextOf(c), topicNameOf(c));
  return backToTopics(c, "deleted");
});

const deliveryNoticeOf = (c: Context<DashboardEnv>) => {
  const done = c.req.query("done");
  return done && done in DELIVERY_CONTROL_NOTICES ? (done as DeliveryControlNotice) : undefined;
};

/** Flow keys listed on one page: a project has few; the rest are named as not shown. */
const FLOW_KEYS_SHOWN = 500;

dashboard.get("/flow-keys", async (c) => {
  const { keys, nextAfter } = await listCallersFlowKeys(actionContextOf(c), { limit: FLOW_KEYS_SHOWN });
  return c.html(
    <FlowKeysPage viewer={c.var.viewer} keys={keys} more={nextAfter !== null} notice={deliveryNoticeOf(c)} />,
  );
});

/** The flow key in the path; one that is not a valid key names no key. */
function flowKeyOf(c: Context<DashboardEnv>): string {
  const key = flowKeyName.safeParse(c.req.param("key"));
  if (!key.success) throw notFound("Flow key");
  return key.data;
}

dashboard.post("/flow-keys/:key/pause", async (c) => {
  await pauseCallersFlowKey(actionContextOf(c), flowKeyOf(c));
  return c.redirect(`${DASHBOARD_PATH}/flow-keys?done=paused`, 303);
});

dashboard.post("/flow-keys/:key/resume", async (c) => {
  await resumeCallersFlowKey(actionContextOf(c), flowKeyOf(c));
  return c.redirect(`${DASHBOARD_PATH}/flow-keys?done=resumed`, 303);
});

dashboard.get("/destinations", async (c) =>
  c.html(
    <DestinationsPage
      viewer={c.var.viewer}
      destinations={await listCallersDestinations(actionContextOf(c))}
      notice={deliveryNoticeOf(c)}
    />,
  ),
);

dashboard.post("/destinations/:id/resume", async (c) => {
  const id = destinationIdParam.safeParse(c.req.param("id"));
  if (!id.success) throw notFound("Destination");
  await resumeCallersDestination(actionContextOf(c), id.data);
  return c.redirect(`${DASHBOARD_PATH}/destinations?done=destination-resumed`, 303);
});

dashboard.all("*", (c) =>
  c.html(<ErrorPage status={404} message="There is no such page." viewer={c.var.viewer} />, 404),
);
