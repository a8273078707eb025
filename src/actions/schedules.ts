/**
 * What a caller can do to its project's schedules: create, list, read, change, pause, resume,
 * trigger and delete. Functions of the request's context and their validated input, returning
 * rows or throwing the one error type; the API and the dashboard are adapters over them.
 */
import type { z } from "zod";
import { insertJobs } from "../db/jobs";
import {
  type CreatedOccurrence,
  deleteSchedule,
  findSchedule,
  insertSchedule,
  insertScheduleOnce,
  listSchedules,
  type NewSchedule,
  type OccurrenceClaim,
  recentRuns,
  type ScheduleChanges,
  updateSchedule,
} from "../db/schedules";
import type { JobRow, ScheduleRow } from "../db/schema";
import { apiOccurrenceClaim, deliverClaimedOccurrences } from "../dispatch/deliver-soon";
import { materializeSchedule, planForCurrentWindow } from "../dispatch/schedule-occurrences";
import { firstFireAtOrAfter, nextFireTimes, scheduleRuleViolations } from "../jobs/schedule-policy";
import { ApiError, notFound, validationFailed } from "../wire/errors";
import {
  type CreateScheduleRequest,
  encodeScheduleCursor,
  type listSchedulesQuery,
  RECENT_RUNS,
  scheduleEtagOf,
  type UpdateScheduleRequest,
} from "../wire/schedules";
import type { ActionContext } from "./context";
import {
  announceDue,
  claimIfDueSoon,
  deliverFromHere,
  fingerprintOf,
  headersKeepingSecrets,
  targetViolations,
} from "./jobs";

/**
 * Cross-field rules (including the cron expression and time zone) and the callback target
 * policy, as a 422 in the one error shape.
 */
function assertScheduleRules(
  ctx: ActionContext,
  schedule: Parameters<typeof scheduleRuleViolations>[0] & { url: string; failureUrl?: string | null },
  now: Date,
): void {
  const violations = [...scheduleRuleViolations(schedule, now), ...targetViolations(ctx, schedule)];
  if (violations.length > 0) {
    throw validationFailed(violations);
  }
}

/** Fires, after the response, the occurrences this invocation created already claimed. */
function deliverOccurrences(ctx: ActionContext, claim: OccurrenceClaim, occurrences: CreatedOccurrence[]) {
  const delivery = deliverClaimedOccurrences(ctx.db, ctx.settings, claim, occurrences, ctx.now);
  if (delivery) ctx.waitUntil(delivery);
}

/** Tells the engine's clock when the schedule's occurrences fall due (see announceDue). */
function announceOccurrences(ctx: ActionContext, schedule: ScheduleRow, created: CreatedOccurrence[]) {
  const next = schedule.status === "active" ? schedule.nextRunAt : null;
  announceDue(ctx, [next, ...created.map((occurrence) => occurrence.occurrenceAt)]);
}

/**
 * Creates a schedule from a validated request (422 when its cron, time zone, times or target
 * are refused), and the occurrences inside the minute under way. With an Idempotency-Key, a
 * repeat answers the schedule created first (`created: false`), and 409 for a different
 * request.
 */
export async function createCallersSchedule(
  ctx: ActionContext,
  request: CreateScheduleRequest,
  key: string | undefined,
): Promise<{ schedule: ScheduleRow; created: boolean }> {
  const { now, db } = ctx;
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
  assertScheduleRules(ctx, { ...shape, url: request.url, failureUrl: request.failure_url }, now);
  const row: NewSchedule = {
    ...shape,
    id: crypto.randomUUID(),
    projectId: ctx.caller.projectId,
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
    deliverOccurrences(ctx, claim, occurrences);
  }
  const current = (await findSchedule(db, schedule.projectId, schedule.id)) ?? schedule;
  announceOccurrences(ctx, current, occurrences);
  return { schedule: current, created };
}

/** One page of the caller's schedules, newest first, and the cursor of the next page (null on the last). */
export async function listCallersSchedules(
  ctx: ActionContext,
  query: z.output<typeof listSchedulesQuery>,
): Promise<{ schedules: ScheduleRow[]; nextCursor: string | null }> {
  const page = await listSchedules(
    ctx.db,
    { projectId: ctx.caller.projectId, statuses: query.status, labels: query.label },
    { after: query.cursor, limit: query.limit + 1 },
  );
  const schedules = page.slice(0, query.limit);
  const last = schedules.at(-1);
  return {
    schedules,
    nextCursor: page.length > query.limit && last ? encodeScheduleCursor(last.createdAt, last.id) : null,
  };
}

/** The caller's schedule `id` (a UUID, checked by the adapter), or 404. */
export async function requireSchedule(ctx: ActionContext, id: string): Promise<ScheduleRow> {
  const schedule = await findSchedule(ctx.db, ctx.caller.projectId, id);
  if (!schedule) throw notFound("Schedule");
  return schedule;
}

/** The caller's schedule with its next fire times (none while paused) and its recent runs. */
export async function readCallersSchedule(
  ctx: ActionContext,
  id: string,
): Promise<{ schedule: ScheduleRow; nextFireTimes: Date[]; runs: JobRow[] }> {
  const schedule = await requireSchedule(ctx, id);
  const runs = await recentRuns(ctx.db, schedule.id, RECENT_RUNS);
  // A paused schedule fires nothing until it is resumed.
  const fireTimes = schedule.status === "active" ? nextFireTimes(schedule, ctx.now) : [];
  return { schedule, nextFireTimes: fireTimes, runs };
}

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
 * Applies a change to a schedule (with `ifMatch`, only to that version: 412 otherwise), and
 * plans its occurrences again from now: the ones created from the old version and not started
 * are withdrawn, and those inside the minute under way are created from the new one.
 */
async function changeSchedule(
  ctx: ActionContext,
  id: string,
  changesFor: (schedule: ScheduleRow) => ScheduleChanges | null,
  ifMatch: string | undefined,
): Promise<ScheduleRow> {
  const { db, now } = ctx;
  for (let attempt = 1; attempt <= UPDATE_ATTEMPTS; attempt++) {
    const schedule = await requireSchedule(ctx, id);
    if (ifMatch !== undefined && ifMatch !== scheduleEtagOf(schedule)) throw preconditionFailed();
    const changes = changesFor(schedule);
    if (changes === null) return schedule;
    const merged = { ...schedule, ...changes };
    assertScheduleRules(ctx, merged, now);
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
      deliverOccurrences(ctx, claim, result.occurrences.created);
      const current = (await findSchedule(db, schedule.projectId, schedule.id)) ?? result.schedule;
      announceOccurrences(ctx, current, result.occurrences.created);
      return current;
    }
    if (ifMatch !== undefined) throw preconditionFailed();
  }
  throw new ApiError("conflict", "The schedule kept changing while this change was applied; try again.");
}

/** A validated PATCH, planned again from now: the first occurrence of the (perhaps new) timing from this instant. */
export function updateCallersSchedule(
  ctx: ActionContext,
  id: string,
  request: UpdateScheduleRequest,
  ifMatch: string | undefined,
): Promise<ScheduleRow> {
  const { now } = ctx;
  return changeSchedule(
    ctx,
    id,
    (schedule) => {
      const changes = changesOf(request, schedule);
      const merged = { ...schedule, ...changes };
      assertScheduleRules(ctx, merged, now);
      return { ...changes, nextRunAt: firstFireAtOrAfter(merged, now) };
    },
    ifMatch,
  );
}

/**
 * Pause: no occurrence fires until resume; those created and not started are withdrawn. The
 * schedule remembers its first occurrence from now, so resume knows what was missed meanwhile.
 */
export function pauseCallersSchedule(ctx: ActionContext, id: string, ifMatch?: string): Promise<ScheduleRow> {
  return changeSchedule(
    ctx,
    id,
    (schedule) => {
      if (schedule.status === "paused") return null;
      const fromNow = firstFireAtOrAfter(schedule, ctx.now);
      const earliest = schedule.nextRunAt && (!fromNow || schedule.nextRunAt < fromNow) ? schedule.nextRunAt : fromNow;
      return { status: "paused", nextRunAt: earliest };
    },
    ifMatch,
  );
}

/** Resume: occurrences missed while paused follow the missed policy; the next ones fire as planned. */
export function resumeCallersSchedule(ctx: ActionContext, id: string, ifMatch?: string): Promise<ScheduleRow> {
  return changeSchedule(ctx, id, (schedule) => (schedule.status === "active" ? null : { status: "active" }), ifMatch);
}

/**
 * Trigger: one run now, outside the cron and its policies (even while paused), as a job linked
 * to the schedule. Fired from this invocation when it can be, like a job due at once.
 */
export async function triggerCallersSchedule(ctx: ActionContext, id: string): Promise<JobRow> {
  const schedule = await requireSchedule(ctx, id);
  const { db, now } = ctx;
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
  if (claim) deliverFromHere(ctx, claim.claimant, [{ job, claim }]);
  announceDue(ctx, [job.runAt]);
  return job;
}

/**
 * Delete: the schedule is gone and its occurrences that have not started are withdrawn; a run
 * under way finishes, and past runs stay as ordinary jobs.
 */
export async function deleteCallersSchedule(ctx: ActionContext, id: string): Promise<ScheduleRow> {
  const deleted = await deleteSchedule(ctx.db, ctx.caller.projectId, id);
  if (!deleted) throw notFound("Schedule");
  return deleted;
}
