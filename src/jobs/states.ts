/**
 * The job lifecycle, defined once and enforced: the database enum is built from JOB_STATUSES,
 * every guarded statement in src/db/jobs.ts takes its status list from GUARDED_MOVES, the
 * actions and the dashboard ask the sets below, and test/states.test.ts holds each guarded
 * move to TRANSITIONS. The database holds what a status means for `finished_at` (a CHECK,
 * migrations 0010 and 0011): a finished job has one, an unfinished job has none.
 *
 *   scheduled ──start──▶ running ──2xx──────────────▶ succeeded ─┐
 *       ▲                   │ ──retryable, budget left─▶ scheduled  │
 *       │                   │ ──permanent or spent─────▶ failed ───┤
 *       │                   │ ──retry past expires_at──▶ expired ──┤
 *       │                   └─lease expired (rescue)───▶ scheduled (failed after MAX_LOST_ATTEMPTS)
 *       ├──────── start past expires_at (no attempt) ──▶ expired ──┤
 *       ├──────── cancel ───────────────────────────────▶ canceled ─┤
 *       └──────── replay (a new run, history kept) ◀────────────────┘
 */
export const JOB_STATUSES = ["scheduled", "running", "succeeded", "failed", "canceled", "expired"] as const;

export type JobStatus = (typeof JOB_STATUSES)[number];

/** Statuses of a job whose run has ended: it has `finished_at`, it can be replayed, retention deletes it. */
export const FINISHED_STATUSES = ["succeeded", "failed", "canceled", "expired"] as const satisfies readonly JobStatus[];

export type FinishedStatus = (typeof FINISHED_STATUSES)[number];

/** Statuses of a job still to be delivered: what the project's cap counts, and what a bulk cancel picks. */
export const WAITING_STATUSES = ["scheduled", "running"] as const satisfies readonly JobStatus[];

/** Whether a job's run has ended (see FINISHED_STATUSES). */
export function isFinished(status: JobStatus): status is FinishedStatus {
  return (FINISHED_STATUSES as readonly JobStatus[]).includes(status);
}

/** Every move between statuses the lifecycle allows; staying in a status is not a move. */
export const TRANSITIONS: Record<JobStatus, readonly JobStatus[]> = {
  // A job whose turn comes after its expires_at is not started: it expires instead.
  scheduled: ["running", "canceled", "expired"],
  // A started attempt may already be on its way, so a running job cannot be canceled.
  running: ["succeeded", "scheduled", "failed", "expired"],
  // Replay: a finished job runs again as a new run.
  succeeded: ["scheduled"],
  failed: ["scheduled"],
  canceled: ["scheduled"],
  expired: ["scheduled"],
};

/** Whether the lifecycle allows moving a job from `from` to `to`. */
export function canTransition(from: JobStatus, to: JobStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/**
 * Every guarded statement of src/db/jobs.ts that writes a job's status or acts only on some
 * statuses: for each status its guard accepts, the statuses it may leave the job in (its own
 * status when it changes other fields only). A statement's SQL guard is the keys of its entry
 * (statusGuard in db/jobs.ts), so a status list lives here and nowhere else.
 */
export const GUARDED_MOVES = {
  /** Claiming a window's due jobs: they stay scheduled, leased to the claimant. */
  claimWindow: { scheduled: ["scheduled"] },
  /** Starting claimed jobs' attempts; a job its claimant already started is returned as it stands. */
  startClaimedJobs: { scheduled: ["running"] },
  /** A claimed job whose turn comes after its expires_at ends without an attempt. */
  expireClaimedJobs: { scheduled: ["expired"] },
  resumeStartedJobs: { running: ["running"] },
  /** A claimed job its flow key or a paused destination holds back waits, its attempt unchanged. */
  holdBackJob: { scheduled: ["scheduled"] },
  /** An ordered key's head: the first of its jobs still to be delivered, running or not. */
  orderedKeyHead: { scheduled: ["scheduled"], running: ["running"] },
  /** Resuming a flow key makes the jobs it held due at once. */
  releaseHeldJobs: { scheduled: ["scheduled"] },
  /** A flow key's backlog: its jobs waiting to start. */
  flowKeyBacklog: { scheduled: ["scheduled"] },
  /** Recording attempts' outcomes; a job canceled meanwhile keeps its status. */
  finishAttempts: { running: ["succeeded", "scheduled", "failed", "expired"], canceled: ["canceled"] },
  /** Rescuing jobs whose attempt's lease lapsed: tried again, or failed after MAX_LOST_ATTEMPTS. */
  rescueExpiredLeases: { running: ["scheduled", "failed"] },
  /** Failure notifications are sent for jobs that failed or expired. */
  notifyFailures: { failed: ["failed"], expired: ["expired"] },
  /** Success notifications are sent for jobs that succeeded. */
  notifySuccesses: { succeeded: ["succeeded"] },
  /** Releasing claims a claimant will not use. */
  releaseClaims: { scheduled: ["scheduled"] },
  /** Cancel, one or in bulk: only a job that has not started. */
  cancel: { scheduled: ["canceled"] },
  /** Bulk cancel picks waiting jobs (running ones are reported, not canceled). */
  pickForCancel: { scheduled: ["canceled"], running: ["running"] },
  /** Changes (PATCH, run now) to a job that has not started. */
  updateScheduledJob: { scheduled: ["scheduled"] },
  /** Replay, one or in bulk: a finished job starts a new run. */
  replay: { succeeded: ["scheduled"], failed: ["scheduled"], canceled: ["scheduled"], expired: ["scheduled"] },
  /** What falls due next: a scheduled job's run, a running attempt's lease end (see nextDueAt). */
  nextDueRun: { scheduled: ["scheduled"] },
  nextLeaseEnd: { running: ["running"] },
  /** Retention deletes finished jobs only. */
  deleteFinished: { succeeded: [], failed: [], canceled: [], expired: [] },
} as const satisfies Record<string, Partial<Record<JobStatus, readonly JobStatus[]>>>;

export type GuardedStatement = keyof typeof GUARDED_MOVES;

/** The statuses a guarded statement accepts: its SQL guard. */
export function guardedStatuses(statement: GuardedStatement): JobStatus[] {
  return Object.keys(GUARDED_MOVES[statement]) as JobStatus[];
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
