/**
 * What an attempt's result means for its job: pure functions of the result, the job's
 * policy and `now`. The tick wires them to I/O; nothing here reads a clock or the network.
 */
import type { AttemptOutcome, JobStatus } from "./states";

/**
 * Why an attempt did not get a response, or what was wrong with the one it got. Without a
 * response: `connection_refused` (nothing accepted the connection), `dns_failure`, `tls_failure`,
 * `timeout`, `network_error` (any other loss, such as a connection closed before the answer), or
 * `target_refused` (the URL was not called).
 */
export type AttemptErrorClass =
  | "connection_refused"
  | "dns_failure"
  | "tls_failure"
  | "network_error"
  | "timeout"
  | "http_error"
  | "redirect"
  | "target_refused";

/**
 * What a successful attempt's response passes on to the job's success_url: its headers, and its
 * body as text, up to JOB_LIMITS.successBodyMaxBytes (`bodyTruncated` when it was longer).
 */
export interface PassedOnResponse {
  headers: Record<string, string>;
  body: string;
  bodyTruncated: boolean;
}

/** What one callback attempt produced. A response, or the error that prevented one. */
export interface AttemptResult {
  firedAt: Date;
  durationMs: number;
  statusCode?: number;
  responseExcerpt?: string;
  /** The response's Retry-After header, as sent. */
  retryAfter?: string;
  /** The response to pass on, read only for a job with a success_url. */
  response?: PassedOnResponse;
  /** Set when there was no response (a network failure, a timeout, or target_refused: the URL was not called). */
  errorClass?: AttemptErrorClass;
  errorMessage?: string;
}

export type ResultClass = "success" | "retryable" | "permanent";

/**
 * 2xx succeeds. Network errors, timeouts, 408, 429 and 5xx are worth retrying.
 * Redirects are never followed (the target moved; following blindly could leave the
 * checked host), so a 3xx, like any other 4xx, fails without retry. A target the SSRF policy
 * refuses will be refused again, so it fails without retry too.
 */
export function classifyResult(result: Pick<AttemptResult, "statusCode" | "errorClass">): ResultClass {
  if (result.errorClass === "target_refused") return "permanent";
  const code = result.statusCode;
  if (code === undefined) return "retryable";
  if (code >= 200 && code < 300) return "success";
  if (code === 408 || code === 429 || code >= 500) return "retryable";
  return "permanent";
}

/** The error class recorded for a result, derived from its status when there was a response. */
export function errorClassOf(result: Pick<AttemptResult, "statusCode" | "errorClass">): AttemptErrorClass | null {
  if (result.errorClass) return result.errorClass;
  const code = result.statusCode;
  if (code === undefined || (code >= 200 && code < 300)) return null;
  return code >= 300 && code < 400 ? "redirect" : "http_error";
}

/** A job's retry settings. */
export interface RetryPolicy {
  maxRetries: number;
  /** Delay before the first retry; each later retry doubles it. */
  backoffInitialMs: number;
  /** No backoff delay exceeds this. */
  backoffMaxMs: number;
  /** No retry starts later than this after the run's first attempt (null or absent: no such limit). */
  maxRetryDurationMs?: number | null;
  /** No attempt starts after this instant, in epoch milliseconds (null or absent: no deadline). */
  expiresAtMs?: number | null;
  /** When the run's first attempt started, in epoch milliseconds: what maxRetryDurationMs counts from. */
  firstAttemptAtMs?: number | null;
}

/** A Retry-After longer than this is shortened to it: a target cannot park a job for days. */
export const RETRY_AFTER_CAP_MS = 24 * 60 * 60_000;

/**
 * Delay before retry number `retry` (1-based): exponential from backoffInitialMs, capped at
 * backoffMaxMs, with "equal jitter" (half fixed, half random) so a burst of failures does not
 * retry in lockstep. `random` is in [0, 1).
 */
export function retryDelayMs(retry: number, policy: Omit<RetryPolicy, "maxRetries">, random: number): number {
  const exponential = Math.min(policy.backoffMaxMs, policy.backoffInitialMs * 2 ** (retry - 1));
  return Math.round(exponential / 2 + (exponential / 2) * random);
}

const DELAY_SECONDS = /^\d+$/;
/** The IMF-fixdate form every HTTP/1.1 sender must use, e.g. "Sun, 06 Nov 1994 08:49:37 GMT". */
const HTTP_DATE = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/;

/**
 * Milliseconds a Retry-After header asks to wait, in either of its forms (delay-seconds or an
 * HTTP-date, read against `now`), capped at RETRY_AFTER_CAP_MS. Undefined when absent or unreadable.
 */
export function parseRetryAfterMs(header: string | undefined, now: Date): number | undefined {
  const value = header?.trim();
  if (!value) return undefined;
  let ms: number;
  if (DELAY_SECONDS.test(value)) ms = Number(value) * 1000;
  else if (HTTP_DATE.test(value)) ms = Date.parse(value) - now.getTime();
  else return undefined;
  if (Number.isNaN(ms)) return undefined;
  return Math.min(Math.max(ms, 0), RETRY_AFTER_CAP_MS);
}

/** Where a job goes after an attempt, and what the attempt is recorded as. */
export interface AttemptDecision {
  outcome: AttemptOutcome;
  status: Extract<JobStatus, "succeeded" | "scheduled" | "failed" | "expired">;
  /** Next attempt time when the job is retried. */
  nextRunAt: Date | null;
  finishedAt: Date | null;
}

/**
 * Decides the job's next state after attempt number `attempt` (1-based) produced `result`.
 * A job may make 1 + maxRetries attempts in all. A retry waits for the backoff delay, or for
 * the target's Retry-After when that is longer. A retry that would start later than
 * maxRetryDurationMs after the first attempt is not made (the job fails: its retries are spent),
 * and one that would start after expiresAtMs is not made either (the job expires now, rather
 * than wait for a turn it would not take).
 */
export function decideAfterAttempt(
  attempt: number,
  policy: RetryPolicy,
  result: Pick<AttemptResult, "statusCode" | "errorClass" | "retryAfter">,
  now: Date,
  random: number,
): AttemptDecision {
  const resultClass = classifyResult(result);
  if (resultClass === "success") return { outcome: "succeeded", status: "succeeded", nextRunAt: null, finishedAt: now };
  const failed = { outcome: "failed", status: "failed", nextRunAt: null, finishedAt: now } as const;
  if (resultClass !== "retryable" || attempt > policy.maxRetries) return failed;
  const delayMs = Math.max(retryDelayMs(attempt, policy, random), parseRetryAfterMs(result.retryAfter, now) ?? 0);
  const retryAtMs = now.getTime() + delayMs;
  const { maxRetryDurationMs, firstAttemptAtMs, expiresAtMs } = policy;
  if (maxRetryDurationMs != null && retryAtMs > (firstAttemptAtMs ?? now.getTime()) + maxRetryDurationMs) return failed;
  if (expiresAtMs != null && retryAtMs > expiresAtMs) {
    return { outcome: "failed", status: "expired", nextRunAt: null, finishedAt: now };
  }
  return { outcome: "retry", status: "scheduled", nextRunAt: new Date(retryAtMs), finishedAt: null };
}
