import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { unreachableIn } from "../db/connection-errors";
import { ApiError } from "../wire/errors";

/**
 * Every error of the JSON API and of whatever else is not the dashboard, in the one shape: an
 * ApiError with its registered status, Hono's own refusals as the registered 400, and anything
 * unexpected as a 500 that says nothing of the fault (which is logged, see loggableError).
 */
export function answerError(error: Error, c: Context) {
  if (error instanceof ApiError) return c.json(error.toJSON(), error.status);
  if (error instanceof HTTPException) {
    // Hono's own refusals (a request it could not read): answered as the registered 400.
    const wrapped = new ApiError("http_error", error.message || "The request could not be read.");
    return c.json(wrapped.toJSON(), wrapped.status);
  }
  console.error("unhandled error", loggableError(error));
  const internal = new ApiError("internal_error", "Something went wrong on our side.");
  return c.json(internal.toJSON(), internal.status);
}

/**
 * What of an unexpected error may be logged. A failed query's message carries its parameters,
 * and those hold whatever the request stored (a job's secret headers among them), so only the
 * statement and the database's own message are kept; a database that could not be reached is
 * its host and the cause, in one line.
 */
export function loggableError(error: unknown): string {
  const unreachable = unreachableIn(error);
  if (unreachable) return unreachable.message;
  if (error instanceof Error && "query" in error && "params" in error) {
    const cause = error.cause instanceof Error ? error.cause.message : String(error.cause);
    return `query failed: ${cause} (statement: ${String(error.query).slice(0, 200)})`;
  }
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
