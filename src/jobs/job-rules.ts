/**
 * Rules that span several fields of a job, checked on the job as it will be stored (after
 * defaults, or after merging a change into the stored job). Pure: `now` is passed in.
 */
import { BODYLESS_METHODS, JOB_LIMITS } from "./limits";

export interface JobShape {
  httpMethod: string;
  body: string | null;
  scheduledAt: Date;
  backoffInitialMs: number;
  backoffMaxMs: number;
  expiresAt?: Date | null;
}

export interface RuleViolation {
  path: string;
  message: string;
}

/** Every cross-field rule the job breaks; empty when it is valid. */
export function jobRuleViolations(job: JobShape, now: Date): RuleViolation[] {
  const violations: RuleViolation[] = [];
  if (job.body !== null && (BODYLESS_METHODS as readonly string[]).includes(job.httpMethod)) {
    violations.push({ path: "body", message: "must be null for GET and HEAD requests, which cannot carry a body" });
  }
  // Written as "not within" so that an impossible date (NaN) is refused too. A time long past
  // is refused as well: it fires at once, so it is almost surely a mistake (year 0, a wrong epoch).
  if (!(Math.abs(job.scheduledAt.getTime() - now.getTime()) <= JOB_LIMITS.scheduleHorizonMs)) {
    violations.push({ path: "scheduled_at", message: "must be within 366 days of now (a past time fires at once)" });
  }
  // A deadline already passed, or before the job's time, would only expire it: surely a mistake.
  if (job.expiresAt && !(job.expiresAt > now && job.expiresAt > job.scheduledAt)) {
    violations.push({ path: "expires_at", message: "must be in the future and after scheduled_at" });
  }
  if (job.backoffMaxMs < job.backoffInitialMs) {
    violations.push({ path: "retry_backoff.max_delay_ms", message: "must be at least initial_delay_ms" });
  }
  return violations;
}
