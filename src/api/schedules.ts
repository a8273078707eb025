import { type Context, Hono } from "hono";
import {
  deleteSchedule,
  findSchedule,
  insertSchedule,
  insertScheduleOnce,
  type NewSchedule,
  type ScheduleChanges,
} from "../db/schedules";
import type { ScheduleRow } from "../db/schema";
import { apiOccurrenceClaim, materializeSchedule } from "../dispatch/schedule-occurrences";
import { firstFireAtOrAfter } from "../jobs/schedule-policy";
import type { AppEnv } from "./context";
import { ApiError, notFound } from "./errors";
import { etagOf, idempotencyKeyHeader, toJobJson } from "./job-schemas";
import { fingerprintOf } from "./jobs";
import {
  assertScheduleRules,
  changeSchedule,
  deliverOccurrences,
  listCallersSchedules,
  pauseCallersSchedule,
  requireSchedule,
  resumeCallersSchedule,
  scheduleIdOf,
  scheduleOutlook,
  triggerCallersSchedule,
} from "./schedule-actions";
import {
  createScheduleRequest,
  listSchedulesQuery,
  scheduleEtagOf,
  toScheduleJson,
  toScheduleRunJson,
  type UpdateScheduleRequest,
  updateScheduleRequest,
} from "./schedule-schemas";
import { parseJsonBody, parseOrThrow } from "./validation";

/** The schedules API, mounted at /schedules behind requireToken. */
export const schedulesApi = new Hono<AppEnv>();

/** A schedule as a JSON answer, with its version as the ETag. */
function scheduleAnswer(c: Context<AppEnv>, schedule: ScheduleRow, status: 200 | 201 = 200) {
  c.header("ETag", scheduleEtagOf(schedule));
  return c.json(toScheduleJson(schedule), status);
}

schedulesApi.post("/", async (c) => {
  const request = await parseJsonBody(c, createScheduleRequest);
  const { now, db } = c.var;
  const key = parseOrThrow(idempotencyKeyHeader, c.req.header("idempotency-key"));
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
        409,
        "idempotency_key_reused",
        "This Idempotency-Key was used for a different request; use a new key for a new schedule.",
      );
    }
    ({ schedule, created } = result);
  }
  // An occurrence inside the minute under way is created now: fired from here when it is due
  // within seconds, as a job would be, and otherwise picked up by the running tick.
  if (created) {
    const claim = apiOccurrenceClaim();
    deliverOccurrences(c, claim, await materializeSchedule(db, schedule, now, claim));
  }
  const current = (await findSchedule(db, schedule.projectId, schedule.id)) ?? schedule;
  return scheduleAnswer(c, current, created ? 201 : 200);
});

schedulesApi.get("/", async (c) => {
  const query = parseOrThrow(listSchedulesQuery, {
    ...c.req.query(),
    status: c.req.queries("status"),
    label: c.req.queries("label"),
  });
  const page = await listCallersSchedules(c, query);
  return c.json({ schedules: page.schedules.map(toScheduleJson), next_cursor: page.nextCursor });
});

schedulesApi.get("/:id", async (c) => {
  const schedule = await requireSchedule(c);
  const outlook = await scheduleOutlook(c, schedule);
  c.header("ETag", scheduleEtagOf(schedule));
  return c.json({
    ...toScheduleJson(schedule),
    next_fire_times: outlook.nextFireTimes.map((at) => at.toISOString()),
    recent_runs: outlook.recentRuns.map(toScheduleRunJson),
  });
});

/** The stored fields a PATCH body sets. */
function changesOf(request: UpdateScheduleRequest, schedule: ScheduleRow): ScheduleChanges {
  const date = (value: string | null | undefined) =>
    value === undefined ? undefined : value === null ? null : new Date(value);
  return {
    ...(request.cron !== undefined && { cron: request.cron }),
    ...(request.timezone !== undefined && { timezone: request.timezone }),
    ...(request.url !== undefined && { url: request.url }),
    ...(request.http_method !== undefined && { httpMethod: request.http_method }),
    ...(request.headers !== undefined && { headers: request.headers }),
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

schedulesApi.patch("/:id", async (c) => {
  const request = await parseJsonBody(c, updateScheduleRequest);
  const { now } = c.var;
  const changed = await changeSchedule(
    c,
    (schedule) => {
      const changes = changesOf(request, schedule);
      const merged = { ...schedule, ...changes };
      assertScheduleRules(c, merged, now);
      // Planned again from now: the first occurrence of the (perhaps new) timing from this instant.
      return { ...changes, nextRunAt: firstFireAtOrAfter(merged, now) };
    },
    c.req.header("if-match"),
  );
  return scheduleAnswer(c, changed);
});

/** Pause: see pauseCallersSchedule; idempotent. */
schedulesApi.post("/:id/pause", async (c) =>
  scheduleAnswer(c, await pauseCallersSchedule(c, c.req.header("if-match"))),
);

/** Resume: see resumeCallersSchedule; idempotent. */
schedulesApi.post("/:id/resume", async (c) =>
  scheduleAnswer(c, await resumeCallersSchedule(c, c.req.header("if-match"))),
);

/** Trigger: one run now, as a job linked to the schedule (see triggerCallersSchedule). */
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
