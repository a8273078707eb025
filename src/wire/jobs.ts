/**
 * The jobs API's wire format: the snake_case JSON of requests and answers, as zod schemas that
 * validate what comes in and describe what goes out (api/render.ts fills them from rows). Imports
 * zod and the pure rules of src/jobs/ only, nothing of the server.
 */
import { z } from "zod";
import { parseDurationMs } from "../jobs/duration";
import { headerNameRefusal } from "../jobs/header-rules";
import { HTTP_METHODS, JOB_LIMITS } from "../jobs/limits";
import { REDACTED, SHOWN_HEADER_NAMES } from "../jobs/redaction";
import { ATTEMPT_OUTCOMES, JOB_STATUSES } from "../jobs/states";
import { jobFlowField } from "./flow-keys";

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Printable ASCII and tab only: CR/LF would split headers, and fetch rejects the rest.
const HEADER_VALUE = /^[\t\x20-\x7e]*$/;

const byteLength = (text: string) => new TextEncoder().encode(text).length;

/**
 * Postgres text and jsonb cannot hold U+0000 or an unpaired UTF-16 surrogate, so such strings
 * are refused up front rather than failing (or silently altering) the write.
 */
export const withoutNul = <T extends z.ZodType<string>>(schema: T) =>
  schema.refine((text) => !text.includes("\u0000") && text.isWellFormed(), {
    message: "must be well-formed Unicode without the NUL character (U+0000)",
  });

const headersSchema = z
  .record(
    z
      .string()
      .regex(HEADER_NAME, "is not a valid HTTP header name (letters, digits and !#$%&'*+.^_`|~-)")
      .superRefine((name, ctx) => {
        const refusal = headerNameRefusal(name);
        if (refusal) ctx.addIssue({ code: "custom", message: refusal });
      }),
    z.string().max(JOB_LIMITS.headerValueMaxLength).regex(HEADER_VALUE, "must be printable ASCII, without CR or LF"),
  )
  .refine((headers) => Object.keys(headers).length <= JOB_LIMITS.headerCountMax, {
    message: `at most ${JOB_LIMITS.headerCountMax} headers`,
  });

/** Exponential backoff: retry n waits between half and all of initial × 2^(n-1), at most max. */
const backoffDelayMs = z.int().min(JOB_LIMITS.backoffInitialMsMin).max(JOB_LIMITS.backoffMaxMsMax);

const labelsSchema = z
  .record(
    withoutNul(z.string().min(1).max(JOB_LIMITS.labelKeyMaxLength)),
    withoutNul(z.string().max(JOB_LIMITS.labelValueMaxLength)),
  )
  .refine((labels) => Object.keys(labels).length <= JOB_LIMITS.labelCountMax, {
    message: `at most ${JOB_LIMITS.labelCountMax} labels`,
  });

/** A topic's name: letters, digits, `.`, `_` and `-`, starting with a letter or digit. */
export const topicName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "must be letters, digits, '.', '_' or '-', starting with a letter or digit")
  .max(JOB_LIMITS.topicNameMaxLength);

/** `delay`: seconds, or a duration such as "30m" or "1h30m". */
const delaySchema = z.union([z.number(), z.string()]).transform((value, ctx) => {
  const ms = parseDurationMs(value);
  if (ms !== undefined && ms > JOB_LIMITS.scheduleHorizonMs) {
    ctx.addIssue({ code: "custom", message: "must be at most 366 days" });
    return z.NEVER;
  }
  if (ms === undefined) {
    ctx.addIssue({ code: "custom", message: 'must be seconds or a duration such as "30s", "15m", "1h30m", "2d"' });
    return z.NEVER;
  }
  return ms;
});

/** `max_retry_duration`: seconds, or a duration such as "1h"; from 1 s to 366 days, in milliseconds once parsed. */
const retryDurationSchema = z.union([z.number(), z.string()]).transform((value, ctx) => {
  const ms = parseDurationMs(value);
  if (ms === undefined || ms < 1_000 || ms > JOB_LIMITS.scheduleHorizonMs) {
    ctx.addIssue({
      code: "custom",
      message: 'must be seconds or a duration such as "30m", "1h", "2d", from 1 second to 366 days',
    });
    return z.NEVER;
  }
  return ms;
});

/**
 * A callback URL's syntax: http(s), or service://<name>/<path> for a Worker reached through a
 * service binding. Whether Fliq may call it is the target policy's decision (jobs/callback-target).
 */
const callbackUrl = withoutNul(
  z
    .url({ protocol: /^(https?|service)$/, error: "must be an absolute http(s) or service:// URL" })
    .max(JOB_LIMITS.urlMaxLength),
);

/** Each writable field of a job, with its own rules; rules across fields live in jobs/job-rules. */
export const jobFields = {
  url: callbackUrl.meta({
    description:
      "Where the callback goes: an http(s) URL to a public host, or service://<name>/<path> for a Worker bound to this Fliq (CALLBACK_SERVICES).",
  }),
  http_method: z
    .string()
    // ASCII letters only: toUpperCase would turn "poﬆ" (a ligature) into POST.
    .regex(/^[A-Za-z]+$/, `must be one of ${HTTP_METHODS.join(", ")}`)
    .transform((method) => method.toUpperCase())
    .pipe(z.enum(HTTP_METHODS)),
  // Postgres has no year 0; such a date would fail the query instead of being refused here.
  scheduled_at: z.iso
    .datetime({ offset: true, error: "must be an ISO 8601 date-time with a time zone" })
    .refine((value) => new Date(value).getUTCFullYear() >= 1, { message: "must be in year 1 or later" }),
  headers: headersSchema,
  body: withoutNul(z.string())
    .refine((body) => byteLength(body) <= JOB_LIMITS.bodyMaxBytes, {
      message: `must be at most ${JOB_LIMITS.bodyMaxBytes} bytes`,
    })
    .nullable(),
  max_retries: z.int().min(0).max(JOB_LIMITS.maxRetriesMax),
  timeout_ms: z.int().min(JOB_LIMITS.timeoutMsMin).max(JOB_LIMITS.timeoutMsMax),
  retry_backoff: z.strictObject({ initial_delay_ms: backoffDelayMs, max_delay_ms: backoffDelayMs }),
  labels: labelsSchema,
  failure_url: callbackUrl
    .meta({ description: "Told when the job fails or expires; an http(s) or service:// URL, like url." })
    .nullable(),
  success_url: callbackUrl
    .meta({
      description: `Told the response of a successful attempt (status, headers, body up to ${JOB_LIMITS.successBodyMaxBytes / 1024} KiB); an http(s) or service:// URL, like url.`,
    })
    .nullable(),
  expires_at: z.iso
    .datetime({ offset: true, error: "must be an ISO 8601 date-time with a time zone" })
    .meta({
      description:
        "No attempt starts after this instant: a job whose turn comes later ends `expired`. Must be in the future and after scheduled_at.",
    })
    .nullable(),
  max_retry_duration: retryDurationSchema
    .meta({
      description:
        'No retry starts later than this after the first attempt: seconds, or a duration such as "1h". The job then fails.',
    })
    .nullable(),
};

/** The time is `scheduled_at` or `delay`, not both. */
function onlyOneTime<T extends z.ZodType<{ scheduled_at?: string; delay?: number }>>(schema: T) {
  return schema.refine((job) => job.scheduled_at === undefined || job.delay === undefined, {
    path: ["delay"],
    message: "cannot be given with scheduled_at: give one or the other",
  });
}

/**
 * `POST /jobs`: the front-door request. Unknown fields are rejected, so server fields cannot
 * be assigned. The time is `scheduled_at` or `delay` (from now), or now when both are absent.
 */
export const createJobRequest = onlyOneTime(z.strictObject({ url: jobFields.url, ...requestFieldsWithDefaults() }));

/** The fields of a create request besides its url, with their defaults: a topic's publish takes these. */
function requestFieldsWithDefaults() {
  return {
    http_method: jobFields.http_method.default("POST"),
    scheduled_at: jobFields.scheduled_at.optional(),
    delay: delaySchema.optional(),
    labels: jobFields.labels.default({}),
    failure_url: jobFields.failure_url.default(null),
    success_url: jobFields.success_url.default(null),
    expires_at: jobFields.expires_at.default(null),
    max_retry_duration: jobFields.max_retry_duration.default(null),
    flow: jobFlowField.nullable().default(null),
    headers: jobFields.headers.default({}),
    body: jobFields.body.default(null),
    max_retries: jobFields.max_retries.default(JOB_LIMITS.maxRetriesDefault),
    timeout_ms: jobFields.timeout_ms.default(JOB_LIMITS.timeoutMsDefault),
    retry_backoff: z
      .strictObject({
        initial_delay_ms: backoffDelayMs.default(JOB_LIMITS.backoffInitialMsDefault),
        max_delay_ms: backoffDelayMs.default(JOB_LIMITS.backoffMaxMsDefault),
      })
      .default({ initial_delay_ms: JOB_LIMITS.backoffInitialMsDefault, max_delay_ms: JOB_LIMITS.backoffMaxMsDefault }),
  };
}

/**
 * `POST /topics/:name/jobs`: a create request without its url; the job is made once per
 * endpoint of the topic.
 */
export const publishRequest = onlyOneTime(z.strictObject(requestFieldsWithDefaults()));

export type PublishRequest = z.output<typeof publishRequest>;

/** `POST /jobs/batch`: up to 1,000 jobs, accepted or refused together. */
export const createJobsRequest = z.strictObject({
  jobs: z.array(createJobRequest).min(1).max(JOB_LIMITS.batchSizeMax),
});

/** `PATCH /jobs/:id`: any writable field; what is left out keeps its stored value. */
export const updateJobRequest = z.strictObject({
  url: jobFields.url.optional(),
  http_method: jobFields.http_method.optional(),
  scheduled_at: jobFields.scheduled_at.optional(),
  headers: jobFields.headers.optional(),
  body: jobFields.body.optional(),
  max_retries: jobFields.max_retries.optional(),
  timeout_ms: jobFields.timeout_ms.optional(),
  retry_backoff: jobFields.retry_backoff.partial().optional(),
  labels: jobFields.labels.optional(),
  failure_url: jobFields.failure_url.optional(),
  success_url: jobFields.success_url.optional(),
  expires_at: jobFields.expires_at.optional(),
  max_retry_duration: jobFields.max_retry_duration.optional(),
});

export type UpdateJobRequest = z.output<typeof updateJobRequest>;

export type CreateJobRequest = z.output<typeof createJobRequest>;

/** `Idempotency-Key`: any printable ASCII up to 255 characters, or absent. */
export const idempotencyKeyHeader = z
  .string()
  .min(1)
  .max(JOB_LIMITS.idempotencyKeyMaxLength)
  .regex(/^[\x21-\x7e]+$/, "must be printable ASCII without spaces")
  .optional();

const listOrder = z.enum(["newest", "soonest"]);
export const pageLimit = z.coerce
  .number()
  .int()
  .min(1)
  .max(JOB_LIMITS.listLimitMax)
  .default(JOB_LIMITS.listLimitDefault);

/** A list cursor: where the last page ended, in which order. Opaque to callers (base64url JSON). */
export function encodeCursor(order: z.infer<typeof listOrder>, at: Date, id: string): string {
  return btoa(JSON.stringify({ o: order, at: at.toISOString(), id }))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}

const cursorPayload = z.strictObject({ o: listOrder, at: jobFields.scheduled_at, id: z.uuid() });

function decodeCursor(cursor: string): z.infer<typeof cursorPayload> | undefined {
  try {
    return cursorPayload.parse(JSON.parse(atob(cursor.replace(/-/g, "+").replace(/_/g, "/"))));
  } catch {
    return undefined;
  }
}

/** `GET /jobs` query: filters, order, page size and cursor. Unknown parameters are refused. */
export const listJobsQuery = z
  .strictObject({
    status: z
      .array(z.string())
      .optional()
      .transform((values) => values?.flatMap((value) => value.split(",")))
      .pipe(z.array(z.enum(JOB_STATUSES)).optional()),
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
    url_prefix: withoutNul(z.string().min(1).max(JOB_LIMITS.urlMaxLength)).optional(),
    scheduled_after: jobFields.scheduled_at.optional(),
    scheduled_before: jobFields.scheduled_at.optional(),
    schedule_id: z.uuid().optional(),
    topic: topicName.optional(),
    message_id: z.uuid().optional(),
    order: listOrder.default("newest"),
    limit: pageLimit,
    cursor: z.string().optional(),
  })
  .transform((query, ctx) => {
    if (query.cursor === undefined) return { ...query, cursor: undefined };
    const cursor = decodeCursor(query.cursor);
    if (!cursor || cursor.o !== query.order) {
      ctx.addIssue({ code: "custom", path: ["cursor"], message: "is not a cursor from this list and order" });
      return z.NEVER;
    }
    return { ...query, cursor: { at: new Date(cursor.at), id: cursor.id } };
  });

/** Which jobs a bulk action takes: listed ids, or every job matching a (non-empty) filter. */
export const bulkRequest = z
  .strictObject({
    ids: z.array(z.uuid()).min(1).max(JOB_LIMITS.batchSizeMax).optional(),
    filter: z
      .strictObject({
        status: z.array(z.enum(JOB_STATUSES)).min(1).optional(),
        labels: jobFields.labels.optional(),
        url_prefix: withoutNul(z.string().min(1).max(JOB_LIMITS.urlMaxLength)).optional(),
        scheduled_after: jobFields.scheduled_at.optional(),
        scheduled_before: jobFields.scheduled_at.optional(),
      })
      .refine((filter) => Object.keys(filter).length > 0, {
        message: "must name at least one criterion: a bulk action never takes every job by accident",
      })
      .optional(),
  })
  .refine((request) => (request.ids === undefined) !== (request.filter === undefined), {
    message: "must name either ids or filter (one of them, not both)",
  });

/** `GET /jobs/:id/attempts` query: attempts after number `after`, `limit` at a time. */
export const attemptsQuery = z.strictObject({
  after: z.coerce.number().int().min(0).default(0),
  limit: pageLimit,
});

/** Job ids are UUIDs; anything else cannot name a job. */
export const jobIdParam = z.uuid();

/** A job's version for optimistic concurrency: it changes with every write to the job. */
export function etagOf(job: { updatedAt: Date; attempt: number }): string {
  return `"${job.updatedAt.getTime().toString(36)}-${job.attempt}"`;
}

/** `If-Match`: the ETag a change is meant for (a stale one answers 412); absent, the change applies to the current version. */
export const ifMatchHeader = z.string().optional();

export const isoDateTime = z.iso.datetime({ offset: true });

/** A stored request's headers as every response shows them (jobs/redaction: one rule for all). */
export const shownHeaders = z.record(z.string(), z.string()).meta({
  description:
    `Every value is shown as "${REDACTED}" except those of ${SHOWN_HEADER_NAMES.join(", ")}. ` +
    `Send "${REDACTED}" back in a PATCH to keep a stored value.`,
  examples: [{ "Content-Type": "application/json", Authorization: REDACTED, "X-Tenant": REDACTED }],
});

/** A job as the API shows it; toJobJson is checked against it, and the OpenAPI document is built from it. */
export const jobResponse = z.object({
  id: z.uuid(),
  status: z.enum(JOB_STATUSES),
  url: z.string(),
  http_method: z.enum(HTTP_METHODS),
  headers: shownHeaders,
  body: z.string().nullable(),
  scheduled_at: isoDateTime,
  run_at: isoDateTime,
  max_retries: z.int(),
  timeout_ms: z.int(),
  retry_backoff: z.object({ initial_delay_ms: z.int(), max_delay_ms: z.int() }),
  labels: z.record(z.string(), z.string()),
  failure_url: z.string().nullable(),
  success_url: z.string().nullable(),
  expires_at: isoDateTime.nullable(),
  /** Seconds. */
  max_retry_duration: z.number().nullable(),
  webhook_id: z.string(),
  attempt: z.int(),
  last_status_code: z.int().nullable(),
  last_error: z.string().nullable(),
  created_at: isoDateTime,
  updated_at: isoDateTime,
  finished_at: isoDateTime.nullable(),
  /** The recurring schedule this job is a run of; null for a one-off job. */
  schedule_id: z.uuid().nullable(),
  /** The topic this job was published to; null for a job created on its own. */
  topic: z.string().nullable(),
  /** Shared by the deliveries of one message published to a topic (one job per endpoint). */
  message_id: z.uuid().nullable(),
  /** The flow key the job is delivered under (see GET /flow-keys/{key}); null without one. */
  flow_key: z.string().nullable(),
});

/** One callback attempt as the API shows it. */
export const attemptResponse = z.object({
  attempt: z.int(),
  outcome: z.enum(ATTEMPT_OUTCOMES),
  planned_at: isoDateTime,
  fired_at: isoDateTime,
  lateness_ms: z.int(),
  duration_ms: z.int(),
  status_code: z.int().nullable(),
  response_excerpt: z.string().nullable(),
  error_class: z.string().nullable(),
  error_message: z.string().nullable(),
});

/** `GET /jobs/:id`: the job and its attempts. */
export const jobDetailResponse = jobResponse.extend({ attempts: z.array(attemptResponse) });

/** `GET /jobs`: a page of jobs, and where the next one starts (null after the last). */
export const jobPageResponse = z.object({ jobs: z.array(jobResponse), next_cursor: z.string().nullable() });

/** `POST /jobs/batch`: the jobs, in the order sent. */
export const createdJobsResponse = z.object({ jobs: z.array(jobResponse) });

/** `GET /jobs/:id/attempts`: a page of attempts, and the number to ask for the next after (null after the last). */
export const attemptPageResponse = z.object({ attempts: z.array(attemptResponse), next_after: z.int().nullable() });

/** `POST /jobs/cancel`: the jobs canceled, those left because their attempt had started, and whether to repeat the request. */
export const bulkCancelResponse = z.object({
  count: z.int(),
  ids: z.array(z.uuid()),
  running_ids: z.array(z.uuid()),
  has_more: z.boolean(),
});

/** `POST /jobs/replay`: the jobs replayed, and whether to repeat the request. */
export const bulkReplayResponse = z.object({ count: z.int(), ids: z.array(z.uuid()), has_more: z.boolean() });
