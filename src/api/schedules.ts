import { type Context, Hono } from "hono";
import type { z } from "zod";
import { insertJobs } from "../db/jobs";
import type { CreatedOccurrence, OccurrenceClaim } from "../db/schedules";
import {
  deleteSchedule,
  findSchedule,
  insertSchedule,
  insertScheduleOnce,
  listSchedules,
  type NewSchedule,
  recentRuns,
  type ScheduleChanges,
  updateSchedule,
} from "../db/schedules";
import type { JobRow, ScheduleRow } from "../db/schema";
import {
  apiOccurrenceClaim,
  deliverClaimedOccurrences,
  materializeSchedule,
  planForCurrentWindow,
} from "../dispatch/schedule-occurrences";
import { firstFireAtOrAfter, nextFireTimes, scheduleRuleViolations } from "../jobs/schedule-policy";
import { readSettings } from "../settings";
import { ApiError, notFound, validationFailed } from "../wire/errors";
import { etagOf, idempotencyKeyHeader } from "../wire/jobs";
import {
  type CreateScheduleRequest,
  createScheduleRequest,
  encodeScheduleCursor,
  listSchedulesQuery,
  RECENT_RUNS,
  scheduleEtagOf,
  scheduleIdParam,
  type UpdateScheduleRequest,
  updateScheduleRequest,
} from "../wire/schedules";
import { IDEMPOTENCY_KEY, parseOrThrow } from "../wire/validation";
import type { AppEnv } from "./context";
import { announceDue, claimIfDueSoon, deliverFromHere, targetViolations } from "./job-actions";
import { fingerprintOf, headersKeepingSecrets } from "./jobs";
import { toJobJson, toScheduleJson, toScheduleRunJson } from "./render";
import { parseJsonBody } from "./validation";

/** The schedules API, mounted at /schedules behind requireToken. */
export const schedulesApi = new Hono<AppEnv>();

/**
 * Cross-field rules (including the cron expression and time zone) and the callback target
 * policy, as a 422 in the one error shape.
 */
function assertScheduleRules(
  c: Context<AppEnv>,
  schedule: Parameters<typeof scheduleRuleViolations>[0] & { url: string; failureUrl?: string | null },
  now: Date,
): void {
  const violations = [...scheduleRuleViolations(schedule, now), ...targetViolations(c, schedule)];
  if (violations.length > 0) {
    throw validationFailed(violations);
  }
}

/** Fires, after the response, the occurrences this invocation created already claimed. */
function deliverOccurrences(c: Context<AppEnv>, claim: OccurrenceClaim, occurrences: CreatedOccurrence[]) {
  const delivery = deliverClaimedOccurrences(c.var.db, readSettings(c.env), claim, occurrences, c.var.now);
  if (delivery) c.var.afterResponse(delivery);
}

/** Tells the engine's clock when the schedule's occurrences fall due (see announceDue). */
function announceOccurrences(c: Context<AppEnv>, schedule: ScheduleRow, created: CreatedOccurrence[]) {
  const next = schedule.status === "active" ? schedule.nextRunAt : null;
  announceDue(c, [next, ...created.map((occurrence) => occurrence.occurrenceAt)]);
}

/**
 * Creates a schedule from a validated request (422 when its cron, time zone, times or target
 * are refused), and the occurrences inside the minute under way. With an Idempotency-Key, a
 * repeat answers the schedule created first (`created: false`), and 409 for a different
 * request. Shared by `POST /schedules` and the dashboard's schedule form.
 */
export async function createCallersSchedule(
  c: Context<AppEnv>,
  request: CreateScheduleRequest,
  key: string | undefined,
): Promise<{ schedule: ScheduleRow; created: boolean }> {
  const { now, db } = c.var;
  const timing = {
    cron: request.cron,
    timezone: request.timezone,
    startsAt: request.starts_at ? new Date(request.starts_at) : null,
    endsAt: request.ends_at ? new Date(request.ends_at) : null,
  };
  const shape = {
    ...timing,
    httpMethod: request.http_method,
    body: request.body,
    backoffInitialMs: request.retry_backoff.initial_delay_ms,
    backoffMaxMs: request.retry_backoff.max_delay_ms,
  };
  assertScheduleRules(c, { ...shape, url: request.url, failureUrl: request.failure_url }, now);
  const row: NewSchedule = {
    ...shape,
    id: crypto.randomUUID(),
    projectId: c.var.auth.projectId,
    url: request.url,
    headers: request.headers,
    labels: request.labels,
    failureUrl: request.failure_url,
    maxRetries: request.max_retries,
    timeoutMs: request.timeout_ms,
    status: request.paused ? "paused" : "active",
    missedPolicy: request.missed_policy,
    overlapPolicy: request.overlap_policy,
    nextRunAt: firstFireAtOrAfter(timing, now),
    createdAt: now,
  };
  let schedule: ScheduleRow;
  let created = true;
  if (key === undefined) {
    schedule = await insertSchedule(db, row);
  } else {
    const fingerprint = await fingerprintOf(request);
    const result = await insertScheduleOnce(db, { ...row, idempotencyKey: key, idempotencyFingerprint: fingerprint });
    if (!result.created && result.schedule.idempotencyFingerprint !== fingerprint) {
      throw new ApiError(
        "idempotency_key_reused",
        "This Idempotency-Key was used for a different request; use a new key for a new schedule.",
      );
    }
    ({ schedule, created } = result);
  }
  // An occurrence inside the minute under way is created now: fired from here when it is due
  // within seconds, as a job would be, and otherwise picked up by the running tick.
  const occurrences: CreatedOccurrence[] = [];
  if (created) {
    const claim = apiOccurrenceClaim();
    occurrences.push(...(await materializeSchedule(db, schedule, now, claim)));
    deliverOccurrences(c, claim, occurrences);
  }
  const current = (await findSchedule(db, schedule.projectId, schedule.id)) ?? schedule;
  announceOccurrences(c, current, occurrences);
  return { schedule: current, created };
}

schedulesApi.post("/", async (c) => {
  const request = await parseJsonBody(c, createScheduleRequest);
  const key = parseOrThrow(idempotencyKeyHeader, c.req.header("idempotency-key"), IDEMPOTENCY_KEY);
  const { schedule, created } = await createCallersSchedule(c, request, key);
  c.header("ETag", scheduleEtagOf(schedule));
  return c.json(toScheduleJson(schedule), created ? 201 : 200);
});

/** One page of the caller's schedules, newest first, and the cursor of the next page (null on the last). */
export async function listCallersSchedules(
  c: Context<AppEnv>,
  query: z.output<typeof listSchedulesQuery>,
): Promise<{ schedules: ScheduleRow[]; nextCursor: string | null }> {
  const page = await listSchedules(
    c.var.db,
    { projectId: c.var.auth.projectId, statuses: query.status, labels: query.label },
    { after: query.cursor, limit: query.limit + 1 },
  );
  const schedules = page.slice(0, query.limit);
  const last = schedules.at(-1);
  return {
    schedules,
    nextCursor: page.length > query.limit && last ? encodeScheduleCursor(last.createdAt, last.id) : null,
  };
}

schedulesApi.get("/", async (c) => {
  const query = parseOrThrow(
    listSchedulesQuery,
    {
      ...c.req.query(),
      status: c.req.queries("status"),
      label: c.req.queries("label"),
    },
    { in: "query" },
  );
  const page = await listCallersSchedules(c, query);
  return c.json({ schedules: page.schedules.map(toScheduleJson), next_cursor: page.nextCursor });
});

/** The schedule id in the path; one that is not a UUID names no schedule. */
function scheduleIdOf(c: Context<AppEnv>): string {
  const id = scheduleIdParam.safeParse(c.req.param("id"));
  if (!id.success) throw notFound("Schedule");
  return id.data;
}

/** The caller's schedule named in the path, or 404. */
export async function requireSchedule(c: Context<AppEnv>): Promise<ScheduleRow> {
  const schedule = await findSchedule(c.var.db, c.var.auth.projectId, scheduleIdOf(c));
  if (!schedule) throw notFound("Schedule");
  return schedule;
}

schedulesApi.get("/:id", async (c) => {
  const schedule = await requireSchedule(c);
  const runs = await recentRuns(c.var.db, schedule.id, RECENT_RUNS);
  c.header("ETag", scheduleEtagOf(schedule));
  return c.json({
    ...toScheduleJson(schedule),
    // A paused schedule fires nothing until it is resumed.
    next_fire_times:
      schedule.status === "active" ? nextFireTimes(schedule, c.var.now).map((at) => at.toISOString()) : [],
    recent_runs: runs.map(toScheduleRunJson),
  });
});

/**
 * The stored fields a PATCH body sets. `headers` replaces the stored headers, except that a
 * hidden header sent back as "[redacted]" (as every response shows it) keeps its stored value.
 */
function changesOf(request: UpdateScheduleRequest, schedule: ScheduleRow): ScheduleChanges {
  const date = (value: string | null | undefined) =>
    value === undefined ? undefined : value === null ? null : new Date(value);
  return {
    ...(request.cron !== undefined && { cron: request.cron }),
    ...(request.timezone !== undefined && { timezone: request.timezone }),
    ...(request.url !== undefined && { url: request.url }),
    ...(request.http_method !== undefined && { httpMethod: request.http_method }),
    ...(request.headers !== undefined && {
      headers: headersKeepingSecrets(request.headers, schedule.headers, "schedule"),
    }),
    ...(request.body !== undefined && { body: request.body }),
    ...(request.labels !== undefined && { labels: request.labels }),
    ...(request.failure_url !== undefined && { failureUrl: request.failure_url }),
    ...(request.max_retries !== undefined && { maxRetries: request.max_retries }),
    ...(request.timeout_ms !== undefined && { timeoutMs: request.timeout_ms }),
    ...(request.retry_backoff && {
      backoffInitialMs: request.retry_backoff.initial_delay_ms ?? schedule.backoffInitialMs,
      backoffMaxMs: request.retry_backoff.max_delay_ms ?? schedule.backoffMaxMs,
    }),
    ...(request.starts_at !== undefined && { startsAt: date(request.starts_at) }),
    ...(request.ends_at !== undefined && { endsAt: date(request.ends_at) }),
    ...(request.missed_policy !== undefined && { missedPolicy: request.missed_policy }),
    ...(request.overlap_policy !== undefined && { overlapPolicy: request.overlap_policy }),
  };
}

/** How often a change without If-Match re-reads the schedule when a concurrent change got there first. */
const UPDATE_ATTEMPTS = 3;

const preconditionFailed = () =>
  new ApiError("precondition_failed", "The schedule has changed since that ETag: read it again and retry.");

/**
 * Applies a change to a schedule (with `If-Match`, only to that version: 412 otherwise), and
 * plans its occurrences again from now: the ones created from the old version and not started
 * are withdrawn, and those inside the minute under way are created from the new one.
 */
async function changeSchedule(
  c: Context<AppEnv>,
  changesFor: (schedule: ScheduleRow) => ScheduleChanges | null,
  options: { honourIfMatch: boolean },
): Promise<ScheduleRow> {
  const ifMatch = options.honourIfMatch ? c.req.header("if-match") : undefined;
  const { db, now } = c.var;
  for (let attempt = 1; attempt <= UPDATE_ATTEMPTS; attempt++) {
    const schedule = await requireSchedule(c);
    if (ifMatch !== undefined && ifMatch !== scheduleEtagOf(schedule)) throw preconditionFailed();
    const changes = changesFor(schedule);
    if (changes === null) return schedule;
    const merged = { ...schedule, ...changes };
    assertScheduleRules(c, merged, now);
    const claim = apiOccurrenceClaim();
    const result = await updateSchedule(
      db,
      { projectId: schedule.projectId, id: schedule.id, expectedUpdatedAt: schedule.updatedAt },
      changes,
      now,
      (updated) => planForCurrentWindow(updated, now),
      claim,
    );
    if (result) {
      deliverOccurrences(c, claim, result.occurrences.created);
      const current = (await findSchedule(db, schedule.projectId, schedule.id)) ?? result.schedule;
      announceOccurrences(c, current, result.occurrences.created);
      return current;
    }
    if (ifMatch !== undefined) throw preconditionFailed();
  }
  throw new ApiError("conflict", "The schedule kept changing while this change was applied; try again.");
}

/** A schedule as the API answers it, with its version. */
function answerSchedule(c: Context<AppEnv>, schedule: ScheduleRow) {
  c.header("ETag", scheduleEtagOf(schedule));
  return c.json(toScheduleJson(schedule));
}

schedulesApi.patch("/:id", async (c) => {
  const request = await parseJsonBody(c, updateScheduleRequest);
  const { now } = c.var;
  const schedule = await changeSchedule(
    c,
    (schedule) => {
      const changes = changesOf(request, schedule);
      const merged = { ...schedule, ...changes };
      assertScheduleRules(c, merged, now);
      // Planned again from now: the first occurrence of the (perhaps new) timing from this instant.
      return { ...changes, nextRunAt: firstFireAtOrAfter(merged, now) };
    },
    { honourIfMatch: true },
  );
  return answerSchedule(c, schedule);
});

/**
 * Pause: no occurrence fires until resume; those created and not started are withdrawn. The
 * schedule remembers its first occurrence from now, so resume knows what was missed meanwhile.
 */
export function pauseCallersSchedule(c: Context<AppEnv>): Promise<ScheduleRow> {
  return changeSchedule(
    c,
    (schedule) => {
      if (schedule.status === "paused") return null;
      const fromNow = firstFireAtOrAfter(schedule, c.var.now);
      const earliest = schedule.nextRunAt && (!fromNow || schedule.nextRunAt < fromNow) ? schedule.nextRunAt : fromNow;
      return { status: "paused", nextRunAt: earliest };
    },
    { honourIfMatch: true },
  );
}

schedulesApi.post("/:id/pause", async (c) => answerSchedule(c, await pauseCallersSchedule(c)));

/** Resume: occurrences missed while paused follow the missed policy; the next ones fire as planned. */
export function resumeCallersSchedule(c: Context<AppEnv>): Promise<ScheduleRow> {
  return changeSchedule(c, (schedule) => (schedule.status === "active" ? null : { status: "active" }), {
    honourIfMatch: true,
  });
}

schedulesApi.post("/:id/resume", async (c) => answerSchedule(c, await resumeCallersSchedule(c)));

/**
 * Trigger: one run now, outside the cron and its policies (even while paused), as a job linked
 * to the schedule. Fired from this invocation when it can be, like a job due at once.
 */
export async function triggerCallersSchedule(c: Context<AppEnv>): Promise<JobRow> {
  const schedule = await requireSchedule(c);
  const { db, now } = c.var;
  const claim = claimIfDueSoon(now, schedule.timeoutMs, now);
  const [job] = await insertJobs(db, [
    {
      id: crypto.randomUUID(),
      projectId: schedule.projectId,
      url: schedule.url,
      httpMethod: schedule.httpMethod,
      headers: schedule.headers,
      body: schedule.body,
      labels: schedule.labels,
      failureUrl: schedule.failureUrl,
      scheduledAt: now,
      runAt: now,
      maxRetries: schedule.maxRetries,
      timeoutMs: schedule.timeoutMs,
      backoffInitialMs: schedule.backoffInitialMs,
      backoffMaxMs: schedule.backoffMaxMs,
      scheduleId: schedule.id,
      occurrenceAt: null,
      claimedBy: claim?.claimant ?? null,
      lockedUntil: claim?.lockedUntil ?? null,
      createdAt: now,
    },
  ]);
  if (claim) deliverFromHere(c, claim.claimant, [{ job, claim }]);
  announceDue(c, [job.runAt]);
  return job;
}

schedulesApi.post("/:id/trigger", async (c) => {
  const job = await triggerCallersSchedule(c);
  c.header("ETag", etagOf(job));
  return c.json(toJobJson(job), 201);
});

/**
 * Delete: the schedule is gone and its occurrences that have not started are withdrawn; a run
 * under way finishes, and past runs stay as ordinary jobs.
 */
schedulesApi.delete("/:id", async (c) => {
  const deleted = await deleteSchedule(c.var.db, c.var.auth.projectId, scheduleIdOf(c));
  if (!deleted) throw notFound("Schedule");
  return c.json(toScheduleJson(deleted));
});
