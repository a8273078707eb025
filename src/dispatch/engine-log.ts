/**
 * The engine's fault log: one JSON line per event, so `wrangler tail`, Workers Logs and the
 * local console show what the engine gave up or handed on, and why, and a fault is never silent.
 */

import { unreachableIn } from "../db/connection-errors";

/** Writes one structured line for an engine fault (`event` in snake_case, then its facts). */
export function logEngineFault(event: string, facts: Record<string, unknown>, error?: unknown): void {
  const line: Record<string, unknown> = { level: "error", event, ...facts };
  if (error !== undefined) line.error = reasonOf(error);
  console.error(JSON.stringify(line));
}

/** Longest reason a line carries: a failed query's error would otherwise repeat the whole statement. */
const REASON_MAX_CHARS = 300;

/**
 * The root cause of an error in one short line (a query error's cause is the database's own
 * message; a database that could not be reached is its host and why).
 */
function reasonOf(error: unknown): string {
  const unreachable = unreachableIn(error);
  if (unreachable) return unreachable.message;
  const root = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  const text = root instanceof Error ? `${root.name}: ${root.message}` : String(root);
  return text.replace(/\s+/g, " ").slice(0, REASON_MAX_CHARS);
}

/** What the attempt line says about one attempt that did not succeed. */
export interface FailedAttemptFacts {
  jobId: string;
  url: string;
  attempt: number;
  outcome: "retry" | "failed" | "unknown";
  errorClass: string | null;
  statusCode: number | null;
  errorMessage: string | null;
  /** When the job is tried again; null when it is not. */
  nextRunAt: Date | null;
}

/**
 * Writes one line for an attempt that did not succeed, so a failing target shows in `wrangler
 * tail` and on `npm start`'s console as it happens, not only in the job's record. The URL is
 * logged without its query and fragment: they may carry a credential of the target.
 */
export function logFailedAttempt(facts: FailedAttemptFacts): void {
  const line = {
    level: facts.outcome === "failed" ? "error" : "warn",
    event: "attempt_failed",
    job_id: facts.jobId,
    url: withoutQuery(facts.url),
    attempt: facts.attempt,
    outcome: facts.outcome,
    error_class: facts.errorClass,
    status_code: facts.statusCode,
    error: facts.errorMessage?.replace(/\s+/g, " ").slice(0, REASON_MAX_CHARS) ?? null,
    next_run_at: facts.nextRunAt?.toISOString() ?? null,
  };
  (facts.outcome === "failed" ? console.error : console.warn)(JSON.stringify(line));
}

function withoutQuery(url: string): string {
  const end = url.search(/[?#]/);
  return end === -1 ? url : url.slice(0, end);
}
