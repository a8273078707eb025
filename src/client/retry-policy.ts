/**
 * When the client tries a call again: only calls that are safe to repeat (reads, and creates
 * that carry an Idempotency-Key), only after no answer, a 5xx, 408 or 429, with exponential
 * backoff and full jitter, and never sooner than the server's `Retry-After` asks.
 */
import type { FliqError } from "./errors.js";

export interface RetryOptions {
  /** Retries after the first try (2 by default; 0 turns retrying off). */
  retries?: number;
  /** The first retry waits up to this long (250 ms by default); each later one doubles it. */
  initialDelayMs?: number;
  /** No wait is longer than this, `Retry-After` included (10 s by default). */
  maxDelayMs?: number;
}

export const RETRY_DEFAULTS = { retries: 2, initialDelayMs: 250, maxDelayMs: 10_000 } as const;

/** Whether a failed call may be tried again: no answer, a timeout, a server error, or throttling. */
export function isRetryable(error: FliqError): boolean {
  return error.status === 0 || error.status === 408 || error.status === 429 || error.status >= 500;
}

/**
 * How long to wait before retry number `retry` (1-based): full jitter up to initial × 2^(retry-1),
 * at least what `Retry-After` asks, at most maxDelayMs.
 */
export function retryDelayMs(
  retry: number,
  retryAfter: string | null,
  options: Required<RetryOptions>,
  now: Date,
  random: () => number,
): number {
  const backoff = random() * options.initialDelayMs * 2 ** (retry - 1);
  const asked = retryAfterMs(retryAfter, now) ?? 0;
  return Math.min(options.maxDelayMs, Math.max(backoff, asked));
}

/** A `Retry-After` value (seconds, or an HTTP date) as milliseconds from `now`; undefined when unreadable. */
export function retryAfterMs(value: string | null, now: Date): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now.getTime());
}
