import type { ContentfulStatusCode } from "hono/utils/http-status";

/** One entry of an error's `details`: which input, and what is wrong with it. */
export interface ErrorDetail {
  path: string;
  message: string;
}

/**
 * Every error the API answers, in the one shape `{"error": {code, message, details}}`.
 * Handlers throw it; the app's onError renders it.
 */
export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly details: ErrorDetail[] = [],
  ) {
    super(message);
  }

  toJSON() {
    return { error: { code: this.code, message: this.message, details: this.details } };
  }
}

export const unauthorized = () =>
  new ApiError(401, "unauthorized", "A valid API token is required: send `Authorization: Bearer fliq_sk_…`.");

export const notFound = (what: string) => new ApiError(404, "not_found", `${what} was not found.`);

/**
 * What of an unexpected error may be logged. A failed query's message carries its parameters,
 * and those hold whatever the request stored (a job's secret headers among them), so only the
 * statement and the database's own message are kept.
 */
export function loggableError(error: unknown): string {
  if (error instanceof Error && "query" in error && "params" in error) {
    const cause = error.cause instanceof Error ? error.cause.message : String(error.cause);
    return `query failed: ${cause} (statement: ${String(error.query).slice(0, 200)})`;
  }
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
