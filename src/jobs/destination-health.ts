/**
 * Destination health: what an attempt says about the destination it went to (a project's
 * scheme, host and port), and when a destination that keeps failing is paused and probed.
 * Pure rules; the result write (finishAttempts) and the start (startClaimedJobs) apply them.
 *
 *   healthy ──DESTINATION_PAUSE_AFTER failures in a row, across jobs──▶ paused
 *   paused: its jobs wait (no attempt, no retry spent); at next_probe_at one job is let through
 *     ──the probe's attempt gets an answer──▶ healthy (the jobs it held are due at once)
 *     ──the probe fails──▶ paused, probed again after twice the interval (at most an hour)
 *   A person may resume a paused destination at any time.
 */
import type { AttemptResult } from "./delivery-policy";

/** Consecutive failed attempts, across the project's jobs, after which a destination is paused. */
export const DESTINATION_PAUSE_AFTER = 20;

/** A paused destination's first probe comes this long after the pause; each failed probe doubles it. */
export const FIRST_PROBE_AFTER_MS = 60_000;

/** Probes of a destination that stays down come at least this often. */
export const PROBE_INTERVAL_MAX_MS = 3_600_000;

/**
 * What an attempt says about its destination: `down` when it got no answer (a refused or reset
 * connection, DNS or TLS failure, a timeout) or an answer saying it cannot serve now (408, 429,
 * 5xx); `up` for any other answer (a 4xx is the request's fault, not the destination's);
 * `unknown` when the URL was not called (the target policy refused it).
 */
export type DestinationVerdict = "up" | "down" | "unknown";

export function destinationVerdict(result: Pick<AttemptResult, "statusCode" | "errorClass">): DestinationVerdict {
  if (result.errorClass === "target_refused") return "unknown";
  const code = result.statusCode;
  if (code === undefined) return "down";
  return code === 408 || code === 429 || code >= 500 ? "down" : "up";
}

/** The wait before the probe after one that failed: twice the last, at most PROBE_INTERVAL_MAX_MS. */
export function nextProbeIntervalMs(lastIntervalMs: number | null): number {
  return lastIntervalMs === null ? FIRST_PROBE_AFTER_MS : Math.min(lastIntervalMs * 2, PROBE_INTERVAL_MAX_MS);
}
