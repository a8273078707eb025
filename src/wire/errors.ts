/**
 * The one error shape every answer of Fliq uses, `{"error": {code, message, details}}`, and the
 * registry of its codes: part of the wire format, thrown by the actions, rendered by the API and
 * the dashboard.
 */
import type { ContentfulStatusCode } from "hono/utils/http-status";

/** One entry of an error's `details`: which input, and what is wrong with it. */
export interface ErrorDetail {
  path: string;
  message: string;
}

/**
 * Every error code Fliq answers, with its HTTP status and when it is answered: the one list.
 * ApiError takes only these codes, and `npm run check:readme` holds the README's error table to
 * this list, so a new code cannot go undocumented.
 */
export const ERROR_CODES = {
  invalid_json: { status: 400, when: "the body is not JSON" },
  token_in_query: {
    status: 400,
    when: "the URL carries a token or a credential-like parameter (`?token=`, `?api_key=`, …)",
  },
  http_error: { status: 400, when: "the request could not be read at all" },
  unauthorized: { status: 401, when: "the token is missing, malformed, unknown or revoked (one answer for all)" },
  insufficient_scope: { status: 403, when: "the token is valid but lacks the scope the request needs" },
  cross_origin: { status: 403, when: "a dashboard form was sent from another site" },
  csrf_failed: { status: 403, when: "a dashboard form's CSRF token is missing or expired: reload the page" },
  not_found: {
    status: 404,
    when: "no such job, schedule, topic or token in your project (another project's id too), or no such route",
  },
  job_running: {
    status: 409,
    when: "the job's attempt has started (it starts shortly before its time; see Job statuses): it cannot be canceled or changed until the attempt ends",
  },
  job_finished: {
    status: 409,
    when: "the job has succeeded, failed or been canceled: it cannot be canceled or changed",
  },
  job_not_finished: { status: 409, when: "only a succeeded, failed or canceled job can be replayed" },
  conflict: { status: 409, when: "the job or schedule kept changing while a change was applied; try again" },
  topic_exists: { status: 409, when: "a topic with this name already exists in the project" },
  topic_without_endpoints: { status: 409, when: "a message was published to a topic that has no endpoints" },
  idempotency_key_reused: { status: 409, when: "the `Idempotency-Key` was used before with a different request" },
  precondition_failed: { status: 412, when: "`If-Match` names a version that is no longer current" },
  payload_too_large: { status: 413, when: "the request body is over 8 MiB (a dashboard form over its own limit)" },
  validation_failed: {
    status: 422,
    when: "the request breaks a rule above (a field, a query parameter, a URL or header the Security rules refuse, JSON nested more than 32 levels); `details` names each",
  },
  rate_limited: { status: 429, when: "too many requests with this token; `Retry-After` says when to try again" },
  too_many_auth_failures: {
    status: 429,
    when: "too many failed authentications from your address (see Security); `Retry-After` says when to try again",
  },
  scheduled_jobs_limit: {
    status: 429,
    when: "the project already has as many waiting jobs as it may (`MAX_SCHEDULED_JOBS_PER_PROJECT`)",
  },
  internal_error: { status: 500, when: "a fault on Fliq's side; nothing was half-written" },
} as const satisfies Record<string, { status: ContentfulStatusCode; when: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * Every error the API answers, in the one shape `{"error": {code, message, details}}`, with the
 * status its code is registered with. Handlers throw it; the app's onError renders it.
 */
export class ApiError extends Error {
  readonly status: ContentfulStatusCode;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: ErrorDetail[] = [],
  ) {
    super(message);
    this.status = ERROR_CODES[code].status;
  }

  toJSON() {
    return { error: { code: this.code, message: this.message, details: this.details } };
  }
}

/**
 * The 422 for input that breaks the rules. Its message carries the first problem, so a log
 * line or an exception's message alone says what to fix; `details` lists every one.
 */
export function validationFailed(details: ErrorDetail[]): ApiError {
  const [first] = details;
  const more = details.length > 1 ? ` (and ${details.length - 1} more; see details)` : "";
  const message = first
    ? `The request is not valid: ${describePath(first.path)} ${first.message}${more}.`
    : "The request is not valid.";
  return new ApiError("validation_failed", message, details);
}

/** A detail's path in a sentence: the input as a whole reads as "the body" or "the query". */
function describePath(path: string): string {
  if (path === "(body)") return "the body";
  if (path === "(query)") return "the query";
  return path;
}

export const unauthorized = () =>
  new ApiError("unauthorized", "A valid API token is required: send `Authorization: Bearer fliq_sk_…`.");

export const notFound = (what: string) => new ApiError("not_found", `${what} was not found.`);
