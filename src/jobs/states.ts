/**
 * The job lifecycle, defined once. The database enum is built from JOB_STATUSES.
 *
 *   scheduled ──claim──▶ running ──2xx──────────────▶ succeeded
 *       ▲                   │ ──retryable, budget left─▶ scheduled (run_at = backoff)
 *       │                   │ ──permanent or spent─────▶ failed
 *       │                   └─lease expired (rescue)───▶ scheduled | failed
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

/** Outcome of one callback attempt, as recorded on job_attempts. */
export const ATTEMPT_OUTCOMES = ["succeeded", "retry", "failed"] as const;
export type AttemptOutcome = (typeof ATTEMPT_OUTCOMES)[number];
