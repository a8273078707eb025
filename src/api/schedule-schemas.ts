/**
 * The schedules API's wire format. The request an occurrence makes (url, method, headers, body,
 * retry policy, labels) is validated by the jobs API's own field schemas; only the timing and
 * the policies are new here. Cross-field rules live in src/jobs/schedule-policy.ts.
 */
import { z } from "zod";
import type { JobRow, ScheduleRow } from "../db/schema";
import { HTTP_METHODS } from "../jobs/limits";
import { redactHeaders } from "../jobs/redaction";
import { MISSED_POLICIES, OVERLAP_POLICIES, SCHEDULE_STATUSES } from "../jobs/schedule-policy";
import { JOB_STATUSES } from "../jobs/states";
import { createJobRequest, isoDateTime, jobFields, pageLimit, shownHeaders, withoutNul } from "./job-schemas";

/** Longest cron expression accepted (a 5-field expression with long lists stays well below). */
const CRON_MAX_LENGTH = 256;

const scheduleFields = {
  cron: withoutNul(z.string().trim().min(1).max(CRON_MAX_LENGTH)),
  timezone: withoutNul(z.string().min(1).max(64)),
  starts_at: jobFields.scheduled_at.nullable(),
  ends_at: jobFields.scheduled_at.nullable(),
  missed_policy: z.enum(MISSED_POLICIES),
  overlap_policy: z.enum(OVERLAP_POLICIES),
};

/** The request each occurrence makes, with the defaults of `POST /jobs`. */
const requestFields = {
  url: createJobRequest.shape.url,
  http_method: createJobRequest.shape.http_method,
  headers: createJobRequest.shape.headers,
  body: createJobRequest.shape.body,
  labels: createJobRequest.shape.labels,
  failure_url: createJobRequest.shape.failure_url,
  max_retries: createJobRequest.shape.max_retries,
  timeout_ms: createJobRequest.shape.timeout_ms,
  retry_backoff: createJobRequest.shape.retry_backoff,
};

/** `POST /schedules`. Unknown fields are refused. */
export const createScheduleRequest = z.strictObject({
  cron: scheduleFields.cron,
  timezone: scheduleFields.timezone.default("UTC"),
  ...requestFields,
  starts_at: scheduleFields.starts_at.default(null),
  ends_at: scheduleFields.ends_at.default(null),
  missed_policy: scheduleFields.missed_policy.default("skip"),
  overlap_policy: scheduleFields.overlap_policy.default("allow"),
  paused: z.boolean().default(false),
});

export type CreateScheduleRequest = z.output<typeof createScheduleRequest>;

/** `PATCH /schedules/:id`: any writable field; what is left out keeps its stored value. */
export const updateScheduleRequest = z.strictObject({
  cron: scheduleFields.cron.optional(),
  timezone: scheduleFields.timezone.optional(),
  url: jobFields.url.optional(),
  http_method: jobFields.http_method.optional(),
  headers: jobFields.headers.optional(),
  body: jobFields.body.optional(),
  labels: jobFields.labels.optional(),
  failure_url: jobFields.failure_url.optional(),
  max_retries: jobFields.max_retries.optional(),
  timeout_ms: jobFields.timeout_ms.optional(),
  retry_backoff: jobFields.retry_backoff.partial().optional(),
  starts_at: scheduleFields.starts_at.optional(),
  ends_at: scheduleFields.ends_at.optional(),
  missed_policy: scheduleFields.missed_policy.optional(),
  overlap_policy: scheduleFields.overlap_policy.optional(),
});

export type UpdateScheduleRequest = z.output<typeof updateScheduleRequest>;

/** A list cursor: where the last page ended. Opaque to callers (base64url JSON). */
export function encodeScheduleCursor(at: Date, id: string): string {
  return btoa(JSON.stringify({ at: at.toISOString(), id }))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}

const cursorPayload = z.strictObject({ at: jobFields.scheduled_at, id: z.uuid() });

function decodeScheduleCursor(cursor: string): z.infer<typeof cursorPayload> | undefined {
  try {
    return cursorPayload.parse(JSON.parse(atob(cursor.replace(/-/g, "+").replace(/_/g, "/"))));
  } catch {
    return undefined;
  }
}

/** `GET /schedules` query: filters, page size and cursor, newest first. Unknown parameters are refused. */
export const listSchedulesQuery = z
  .strictObject({
    status: z
      .array(z.string())
      .optional()
      .transform((values) => values?.flatMap((value) => value.split(",")))
      .pipe(z.array(z.enum(SCHEDULE_STATUSES)).optional()),
    label: z
      .array(withoutNul(z.string().regex(/^[^:]+:/, 'a label filter is "key:value"')))
      .optional()
      .transform((values) =>
        values
          ? Object.fromEntries(
              values.map((value) => [value.slice(0, value.indexOf(":")), value.slice(value.indexOf(":") + 1)]),
            )
          : undefined,
      ),
    limit: pageLimit,
    cursor: z.string().optional(),
  })
  .transform((query, ctx) => {
    if (query.cursor === undefined) return { ...query, cursor: undefined };
    const cursor = decodeScheduleCursor(query.cursor);
    if (!cursor) {
      ctx.addIssue({ code: "custom", path: ["cursor"], message: "is not a cursor from this list" });
      return z.NEVER;
    }
    return { ...query, cursor: { at: new Date(cursor.at), id: cursor.id } };
  });

/** Schedule ids are UUIDs; anything else cannot name a schedule. */
export const scheduleIdParam = z.uuid();

/** How many recent runs `GET /schedules/:id` shows. */
export const RECENT_RUNS = 10;

const iso = (date: Date) => date.toISOString();
const isoOrNull = (date: Date | null) => (date ? date.toISOString() : null);

/** A schedule's version for optimistic concurrency: it changes with every change made through the API. */
export function scheduleEtagOf(schedule: ScheduleRow): string {
  return `"${schedule.updatedAt.getTime().toString(36)}"`;
}

/** A schedule as the API shows it; the OpenAPI document is built from it. */
export const scheduleResponse = z.object({
  id: z.uuid(),
  status: z.enum(SCHEDULE_STATUSES),
  cron: z.string(),
  timezone: z.string(),
  url: z.string(),
  http_method: z.enum(HTTP_METHODS),
  headers: shownHeaders,
  body: z.string().nullable(),
  max_retries: z.int(),
  timeout_ms: z.int(),
  retry_backoff: z.object({ initial_delay_ms: z.int(), max_delay_ms: z.int() }),
  labels: z.record(z.string(), z.string()),
  failure_url: z.string().nullable(),
  starts_at: isoDateTime.nullable(),
  ends_at: isoDateTime.nullable(),
  missed_policy: z.enum(MISSED_POLICIES),
  overlap_policy: z.enum(OVERLAP_POLICIES),
  /** The first occurrence not yet turned into a job (null when none is left). */
  next_run_at: isoDateTime.nullable(),
  /** The latest occurrence handled (turned into a job, or skipped by a policy). */
  last_occurrence_at: isoDateTime.nullable(),
  created_at: isoDateTime,
  updated_at: isoDateTime,
});

/** One run of a schedule, as `GET /schedules/:id` lists it; the full job is at /jobs/:id. */
export const scheduleRunResponse = z.object({
  job_id: z.uuid(),
  status: z.enum(JOB_STATUSES),
  /** The occurrence this run is for; null for a run triggered by hand. */
  occurrence_at: isoDateTime.nullable(),
  scheduled_at: isoDateTime,
  attempt: z.int(),
  last_status_code: z.int().nullable(),
  last_error: z.string().nullable(),
  finished_at: isoDateTime.nullable(),
});

/** `GET /schedules/:id`: the schedule, its next fire times and its recent runs. */
export const scheduleDetailResponse = scheduleResponse.extend({
  next_fire_times: z.array(isoDateTime).max(5),
  recent_runs: z.array(scheduleRunResponse).max(RECENT_RUNS),
});

/** A schedule as the API shows it: secret header values are never shown (see jobs/redaction). */
export function toScheduleJson(schedule: ScheduleRow): z.input<typeof scheduleResponse> {
  return {
    id: schedule.id,
    status: schedule.status,
    cron: schedule.cron,
    timezone: schedule.timezone,
    url: schedule.url,
    http_method: schedule.httpMethod,
    headers: redactHeaders(schedule.headers),
    body: schedule.body,
    max_retries: schedule.maxRetries,
    timeout_ms: schedule.timeoutMs,
    retry_backoff: { initial_delay_ms: schedule.backoffInitialMs, max_delay_ms: schedule.backoffMaxMs },
    labels: schedule.labels,
    failure_url: schedule.failureUrl,
    starts_at: isoOrNull(schedule.startsAt),
    ends_at: isoOrNull(schedule.endsAt),
    missed_policy: schedule.missedPolicy,
    overlap_policy: schedule.overlapPolicy,
    next_run_at: isoOrNull(schedule.nextRunAt),
    last_occurrence_at: isoOrNull(schedule.lastOccurrenceAt),
    created_at: iso(schedule.createdAt),
    updated_at: iso(schedule.updatedAt),
  };
}

/** One run of a schedule as the API shows it. */
export function toScheduleRunJson(job: JobRow): z.input<typeof scheduleRunResponse> {
  return {
    job_id: job.id,
    status: job.status,
    occurrence_at: isoOrNull(job.occurrenceAt),
    scheduled_at: iso(job.scheduledAt),
    attempt: job.attempt,
    last_status_code: job.lastStatusCode,
    last_error: job.lastError,
    finished_at: isoOrNull(job.finishedAt),
  };
}
