/**
 * The schedules API's wire format. The request an occurrence makes (url, method, headers, body,
 * retry policy, labels) is validated by the jobs API's own field schemas; only the timing and
 * the policies are new here. Cross-field rules live in src/jobs/schedule-policy.ts.
 */
import { z } from "zod";
import { HTTP_METHODS } from "../jobs/limits";
import { MISSED_POLICIES, OVERLAP_POLICIES, SCHEDULE_STATUSES } from "../jobs/schedule-policy";
import { JOB_STATUSES } from "../jobs/states";
import { createJobRequest, isoDateTime, jobFields, pageLimit, shownHeaders, withoutNul } from "./jobs";

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

/** A schedule's version for optimistic concurrency: it changes with every change made through the API. */
export function scheduleEtagOf(schedule: { updatedAt: Date }): string {
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

/** `GET /schedules`: a page of schedules, newest first, and where the next one starts (null after the last). */
export const schedulePageResponse = z.object({
  schedules: z.array(scheduleResponse),
  next_cursor: z.string().nullable(),
});
