import { unreachableIn } from "../db/connection-errors";

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
