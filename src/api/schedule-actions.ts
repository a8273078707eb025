/**
 * What a caller can do to one of its project's schedules (read, list, change, pause, resume,
 * trigger), with the checks each needs. Shared by the JSON API and the dashboard, so both act
 * through the same statements and answer the same errors.
 */
import type { Context } from "hono";
import type { z } from "zod";
import { insertJobs } from "../db/jobs";
import {
  type CreatedOccurrence,
  findSchedule,
  listSchedules,
  type OccurrenceClaim,
  recentRuns,
  type ScheduleChanges,
  updateSchedule,
} from "../db/schedules";
import type { JobRow, ScheduleRow } from "../db/schema";
import { apiOccurrenceClaim, deliverClaimedOccurrences, planForCurrentWindow } from "../dispatch/schedule-occurrences";
import { firstFireAtOrAfter, nextFireTimes, scheduleRuleViolations } from "../jobs/schedule-policy";
import { readSettings } from "../settings";
import type { AppEnv } from "./context";
import { ApiError, notFound } from "./errors";
import { claimIfDueSoon, deliverFromHere, targetViolations } from "./job-actions";
import {
  encodeScheduleCursor,
  type listSchedulesQuery,
  RECENT_RUNS,
  scheduleEtagOf,
  scheduleIdParam,
} from "./schedule-schemas";

/**
 * Cross-field rules (including the cron expression and time zone) and the callback target
 * policy, as a 422 in the one error shape.
 */
export function assertScheduleRules(
  c: Context<AppEnv>,
  schedule: Parameters<typeof scheduleRuleViolations>[0] & { url: string; failureUrl?: string | null },
  now: Date,
): void {
  const violations = [...scheduleRuleViolations(schedule, now), ...targetViolations(c, schedule)];
  if (violations.length > 0) {
    throw new ApiError(422, "validation_failed", "The request is not valid; see details.", violations);
  }
}

/** Fires, after the response, the occurrences this invocation created already claimed. */
export function deliverOccurrences(c: Context<AppEnv>, claim: OccurrenceClaim, occurrences: CreatedOccurrence[]) {
  const delivery = deliverClaimedOccurrences(readSettings(c.env), claim, occurrences, c.var.now);
  if (delivery) c.executionCtx.waitUntil(delivery);
}

/** One page of the caller's schedules for a validated list query, and the next page's cursor (null on the last). */
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

/** The schedule id in the path (`:id`); one that is not a UUID names no schedule. */
export function scheduleIdOf(c: Context<AppEnv>): string {
  const id = scheduleIdParam.safeParse(c.req.param("id"));
  if (!id.success) throw notFound("Schedule");
  return id.data;
}

/** The caller's schedule named in the path; another project's schedule is not found. */
export async function requireSchedule(c: Context<AppEnv>): Promise<ScheduleRow> {
  const schedule = await findSchedule(c.var.db, c.var.auth.projectId, scheduleIdOf(c));
  if (!schedule) throw notFound("Schedule");
  return schedule;
}

/** What `GET /schedules/:id` adds to a schedule: its next fire times (none while paused) and its latest runs. */
export async function scheduleOutlook(
  c: Context<AppEnv>,
  schedule: ScheduleRow,
): Promise<{ nextFireTimes: Date[]; recentRuns: JobRow[] }> {
  return {
    // A paused schedule fires nothing until it is resumed.
    nextFireTimes: schedule.status === "active" ? nextFireTimes(schedule, c.var.now) : [],
    recentRuns: await recentRuns(c.var.db, schedule.id, RECENT_RUNS),
  };
}

/** How often a change without If-Match re-reads the schedule when a concurrent change got there first. */
const UPDATE_ATTEMPTS = 3;

const preconditionFailed = () =>
  new ApiError(412, "precondition_failed", "The schedule has changed since that ETag: read it again and retry.");

/**
 * Applies a change to a schedule (with `ifMatch`, an ETag, only to that version: 412
 * otherwise), and plans its occurrences again from now: the ones created from the old version
 * and not started are withdrawn, and those inside the minute under way are created from the
 * new one. `changesFor` answers null when there is nothing to change. Returns the schedule as
 * it now is.
 */
export async function changeSchedule(
  c: Context<AppEnv>,
  changesFor: (schedule: ScheduleRow) => ScheduleChanges | null,
  ifMatch?: string,
): Promise<ScheduleRow> {
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
      return (await findSchedule(db, schedule.projectId, schedule.id)) ?? result.schedule;
    }
    if (ifMatch !== undefined) throw preconditionFailed();
  }
  throw new ApiError(409, "conflict", "The schedule kept changing while this change was applied; try again.");
}

/**
 * Pause: no occurrence fires until resume; those created and not started are withdrawn. The
 * schedule remembers its first occurrence from now, so resume knows what was missed meanwhile.
 * Pausing a paused schedule changes nothing.
 */
export function pauseCallersSchedule(c: Context<AppEnv>, ifMatch?: string): Promise<ScheduleRow> {
  return changeSchedule(
    c,
    (schedule) => {
      if (schedule.status === "paused") return null;
      const fromNow = firstFireAtOrAfter(schedule, c.var.now);
      const earliest = schedule.nextRunAt && (!fromNow || schedule.nextRunAt < fromNow) ? schedule.nextRunAt : fromNow;
      return { status: "paused", nextRunAt: earliest };
    },
    ifMatch,
  );
}

/** Resume: occurrences missed while paused follow the missed policy; the next ones fire as planned. */
export function resumeCallersSchedule(c: Context<AppEnv>, ifMatch?: string): Promise<ScheduleRow> {
  return changeSchedule(c, (schedule) => (schedule.status === "active" ? null : { status: "active" }), ifMatch);
}

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
  return job;
}
