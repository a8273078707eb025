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
