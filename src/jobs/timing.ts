/**
 * The timing of delivery, in one place: how a one-minute cron fires each job on its second.
 * Every constant of the model lives here with why it has its value, and every instant the engine
 * works to (a window's end, a start lead, a lease's end, the API's after-response limit, the
 * watch's deadlines) is computed here from a clock value passed in. Nothing here reads a clock.
 *
 * - The tick for minute T owns the window [T, T + 60 s + WINDOW_OVERLAP_MS): it claims the
 *   window's jobs, and keeps polling it for jobs created, rescheduled or retried into it.
 * - A claimed job is started (set running, its callback signed) a lead before its time and fires
 *   on its time; from then on it can no longer be canceled or changed (CANCEL_CLOSES_BEFORE_MS).
 * - Claims are leases: a claimed job stays reserved until a lease past its time, a running one
 *   until a margin past its attempt's timeout; a lapsed lease is rescued by a later tick.
 * - The API fires a job due within seconds itself, after its response, if the attempt ends
 *   within the after-response limit (AFTER_RESPONSE_LIMIT_MS); later jobs are the tick's.
 * - A window's owner reports every WATCH_BEAT_MS; one silent for WATCHDOG_TIMEOUT_MS is taken over.
 * - An invocation holds at most CALLBACK_CONCURRENCY callbacks at once, and has budgets of
 *   subrequests, CPU and Worker invocations that local workerd does not enforce.
 */

const MINUTE_MS = 60_000;

// The tick's window.

/** How far a tick's window reaches into the next minute, so a late next tick loses no time. */
export const WINDOW_OVERLAP_MS = 5_000;

/** The minute whose tick is under way at `now`. */
export function tickMinuteOf(now: Date): Date {
  return new Date(Math.floor(now.getTime() / MINUTE_MS) * MINUTE_MS);
}

/** Where the next minute's tick begins: the window of the tick for `minute` overlaps it from here. */
export function nextTickAt(minute: Date): Date {
  return new Date(minute.getTime() + MINUTE_MS);
}

/** The end of the window the tick for `minute` owns: the minute, then the overlap. */
export function tickWindowEnd(minute: Date): Date {
  return new Date(minute.getTime() + MINUTE_MS + WINDOW_OVERLAP_MS);
}

// A delivery run.

export const TIMING = {
  /**
   * A job is started (set running, request read, callback signed) this long before its time,
   * then waits in the fire queue for its exact instant. The lead covers the start statement's
   * round trip when the database is busy: at 40 ms, a burst of 10,000 jobs left the fire queues
   * empty between starts (A/B on workerd, 250 against 40: 2.07 and 2.10 s against 2.39 and
   * 2.46 s for the burst). The cost: a job cannot be changed or canceled in its last ~350 ms.
   */
  startLeadMs: 250,
  /**
   * Jobs due this soon after the first one due are started with it, in the same statement:
   * one start per ~100 ms of schedule instead of one per job, at the cost of those jobs
   * turning `running` (no longer cancelable) up to this much earlier.
   */
  startBatchMs: 100,
  /**
   * Finished attempts wait at most this long to be written together. Fewer, larger writes
   * leave the database to the start statements in a burst (A/B on workerd, 250 against 100:
   * 2.04 and 2.58 s against 2.62 and 2.73 s for 10,000 jobs, ~320 statements against ~535).
   */
  flushIntervalMs: 250,
  /** ...or are written at once when this many are waiting. */
  flushBatchSize: 200,
  /**
   * A run tells a destination the answers its attempts got at most this long after recording
   * them (failures at once): see DeliveryRun.shouldTellDestinations. Answers only move the
   * averages a person reads; at 1 s the 49 runs of a burst to one destination told it about
   * 150 times, queuing on its row, and at 5 s about 50 (bench scenario c).
   */
  tellDestinationsMs: 5_000,
  /** How often a window owner looks for jobs newly due inside its window. */
  pollIntervalMs: 10_000,
  /** Jobs claimed per statement. */
  claimPageSize: 1000,
  /** A claimed job stays reserved this long past its fire time before others may take it. */
  claimLeaseMs: 30_000,
  /**
   * A running attempt's lease: its timeout plus this margin, from when it was started (the
   * start statement writes it; see startClaimedJobs).
   */
  runningLeaseMarginMs: 30_000,
  /**
   * A failed statement (the database restarting, a lost connection) is tried again after this
   * pause, so an outage of a few seconds delays jobs by about its length...
   */
  databaseRetryMs: 250,
  /**
   * ...for as long as this: results not written by then are left to the rescuer, and jobs not
   * started by then (their claim is about to lapse) to whichever run claims them next.
   */
  databaseRetryForMs: 20_000,
} as const;

/** How long before its time a job may be started, and so no longer canceled or changed: its lead and its batch. */
export const CANCEL_CLOSES_BEFORE_MS = TIMING.startLeadMs + TIMING.startBatchMs;

/** Jobs due by this instant are started by a run at `nowMs` (see CANCEL_CLOSES_BEFORE_MS). */
export function startsDueBy(nowMs: number): number {
  return nowMs + CANCEL_CLOSES_BEFORE_MS;
}

/**
 * The start statement's own bound on which jobs it starts, for a run at `now`: one lead of
 * slack beyond startsDueBy, since the statement may run a little after `now`.
 */
export function startStatementDueBy(now: Date): Date {
  return new Date(now.getTime() + TIMING.startLeadMs * 2 + TIMING.startBatchMs);
}

/** When a run wakes to start a job due at `runAtMs`: one lead before its time. */
export function startWakeAt(runAtMs: number): number {
  return runAtMs - TIMING.startLeadMs;
}

/** The end of the engine's claim on a job due at `runAt` (a retry a run keeps for itself). */
export function claimLeaseEnd(runAt: Date): Date {
  return new Date(runAt.getTime() + TIMING.claimLeaseMs);
}

// The API's delivery after its response.

/**
 * Work in `waitUntil` is cut 30 s after the response; an attempt must end before that, with
 * some margin. A job whose time plus timeout falls later is left to the tick.
 */
export const AFTER_RESPONSE_LIMIT_MS = 28_000;

/**
 * How long past its time a job the API claimed stays reserved for it. Short: an API path that
 * dies without releasing its claim (its invocation cut short) leaves the job to the window's
 * owner seconds after its time, not half a minute.
 */
export const API_CLAIM_LEASE_MS = 2_000;

/** The end of the window the API invocation can deliver in, for a job with this timeout. */
export function apiDeliveryWindowEnd(now: Date, timeoutMs: number): Date {
  return new Date(now.getTime() + AFTER_RESPONSE_LIMIT_MS - timeoutMs);
}

/** The end of the API's claim on a job due at `runAt`. */
export function apiClaimLeaseEnd(runAt: Date): Date {
  return new Date(runAt.getTime() + API_CLAIM_LEASE_MS);
}

// The watch over a window's owner, and the engine's clock.

/** How often a window's owner reports; it also bounds how late an owner learns of a wake-up. */
export const WATCH_BEAT_MS = 1_000;

/** Silence after which the watchdog takes a window over (owners report every WATCH_BEAT_MS). */
export const WATCHDOG_TIMEOUT_MS = 5_000;

/** A tick looks at the database at least this often, idle or not. */
export const FULL_LOOK_INTERVAL_MS = 15 * MINUTE_MS;

/** An owner last heard from at `heardAtMs` is silent, and its window taken over, from this instant. */
export function watchDeadline(heardAtMs: number): number {
  return heardAtMs + WATCHDOG_TIMEOUT_MS;
}

/** The next periodic look at the database after one at `lastLookMs`. */
export function nextFullLookAt(lastLookMs: number): number {
  return lastLookMs + FULL_LOOK_INTERVAL_MS;
}

/**
 * Whether something due at `atMs`, announced at `nowMs`, must wake the windows' owners: it is
 * due, less its start lead, before their next poll would find it.
 */
export function wakesWindowOwners(atMs: number, nowMs: number): boolean {
  return atMs < nowMs + TIMING.pollIntervalMs + TIMING.startLeadMs;
}

/** The reports an owner sends from `now` to its window's end: one at once and one a beat, with one to spare. */
export function ownerReportsUntil(windowEnd: Date, now: Date): number {
  return Math.ceil((windowEnd.getTime() - now.getTime()) / WATCH_BEAT_MS) + 2;
}

// Connections, and how fast destinations answer.

/** Outgoing connections an invocation may hold at once (6), less the database's one. */
export const CALLBACK_CONCURRENCY = 5;

/** Connections only lanes proven fast may use: a hanging target can never take them. */
export const FAST_RESERVE = 2;

/** A lane whose callbacks take this long (on average, or one still in flight) is slow. */
export const SLOW_LANE_MS = 1_000;

/**
 * What a destination with no recent attempts is assumed to take: an ordinary target across
 * the Internet (100 to 500 ms), not a loopback one. Its first attempts replace the guess.
 */
export const UNKNOWN_LATENCY_MS = 250;

/** How far back a tick looks to learn how fast each destination answers. */
export const LATENCY_LOOKBACK_MS = 10 * MINUTE_MS;

/**
 * Callbacks whose timeout is the same and that start within this span share one timer: each
 * is given at least its `timeout_ms`, and at most this much more. One timer per callback was a
 * measurable share of an invocation's CPU when thousands of callbacks fire in a second.
 */
export const TIMEOUT_SHARING_MS = 50;

// An invocation's budgets.

/** Worker invocations one request may reach (itself included). */
export const INVOCATIONS_PER_REQUEST = 32;

/**
 * CPU one callback costs an invocation: signing, sending, reading its answer, recording it, and its
 * share of the statements. Measured in the bench (scenario c, workerd alone: Worker CPU during
 * delivery divided by the callbacks), with a margin of 2× for a slower production core.
 */
export const CPU_MS_PER_CALLBACK = 1;

/** CPU an invocation keeps for itself: its set-up, its statements, and a tick's planning. */
export const CPU_RESERVE_MS = 2_000;
