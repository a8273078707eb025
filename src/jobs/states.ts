/**
 * The job lifecycle, defined once. The database enum is built from JOB_STATUSES.
 *
 *   scheduled ──claim──▶ running ──2xx──────────────▶ succeeded
 *       ▲                   │ ──retryable, budget left─▶ scheduled (run_at = backoff)
 *       │                   │ ──permanent or spent─────▶ failed
 *       │                   └─lease expired (rescue)───▶ scheduled (failed after MAX_LOST_ATTEMPTS)
 *       └──────── cancel ───────────────────────────────▶ canceled
 */
export const JOB_STATUSES = ["scheduled", "running", "succeeded", "failed", "canceled"] as const;

export type JobStatus = (typeof JOB_STATUSES)[number];

/** Statuses a job never leaves. */
export const TERMINAL_STATUSES: readonly JobStatus[] = ["succeeded", "failed", "canceled"];

const ALLOWED_TRANSITIONS: Record<JobStatus, readonly JobStatus[]> = {
  scheduled: ["running", "canceled"],
  // A started attempt may already be on its way, so a running job cannot be canceled.
  running: ["succeeded", "scheduled", "failed"],
  succeeded: [],
  failed: [],
  canceled: [],
};

/** Whether the lifecycle allows moving a job from `from` to `to`. */
export function canTransition(from: JobStatus, to: JobStatus): boolean {
  return ALLOWED_TRANSITIONS[from].includes(to);
}

/**
 * Outcome of one callback attempt, as recorded on job_attempts. `unknown`: the invocation
 * making the attempt ended before it recorded a result (the callback may have arrived); the
 * job is tried again whatever max_retries says (see MAX_LOST_ATTEMPTS).
 */
export const ATTEMPT_OUTCOMES = ["succeeded", "retry", "failed", "unknown"] as const;

/**
 * Lost attempts after which a job fails anyway: a job whose callback ends every invocation
 * that makes it (a response too large for memory, say) must not be retried for ever.
 */
export const MAX_LOST_ATTEMPTS = 10;
export type AttemptOutcome = (typeof ATTEMPT_OUTCOMES)[number];
