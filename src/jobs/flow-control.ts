/**
 * Flow control by key: the limits a project's jobs share when they name the same flow key, and
 * how a held job waits. Pure rules; the start statement (startClaimedJobs in db/jobs.ts) applies
 * them under the key's row lock, so they hold across every invocation that delivers.
 *
 * - Rate: at most `limit` callbacks leave per `period`. Each granted callback takes the next
 *   free slot, slots `period / limit` apart (plus FLOW_SLOT_MARGIN), so no span of one period
 *   ever holds more than `limit` departures, however the slots are spread over invocations.
 * - Parallelism: at most this many attempts of the key are running at once (started and not
 *   yet recorded), counted in the key's row.
 * - Ordered: one at a time (parallelism 1), each job only once every job due before it (then
 *   created before it) has finished. A head that is retrying keeps its turn; when it fails for
 *   good, `on_head_failure` decides: `wait` pauses the key (nothing behind it goes out of
 *   order until a person resumes it), `skip` lets the next job go.
 * - A held job waits as `scheduled`: no attempt is started or counted, and its lateness is
 *   measured from the time it was first held (jobs.held_since).
 */

export const HEAD_FAILURE_POLICIES = ["wait", "skip"] as const;

export type HeadFailurePolicy = (typeof HEAD_FAILURE_POLICIES)[number];

/** The limits of one key as stored; null is "no limit". */
export interface FlowLimits {
  rateLimit: number | null;
  ratePeriodMs: number | null;
  parallelism: number | null;
  ordered: boolean;
  onHeadFailure: HeadFailurePolicy;
}

export const FLOW_LIMITS = {
  keyMaxLength: 128,
  rateLimitMax: 100_000,
  ratePeriodMsMin: 1_000,
  ratePeriodMsMax: 86_400_000,
  parallelismMax: 1_000,
  /** Keys listed per page. */
  listLimitMax: 500,
} as const;

/**
 * Slots are spaced this fraction wider than `period / limit`. A callback leaves a few
 * milliseconds after its slot (the fire queue, the event loop), and a late one bunches with
 * the next: the margin keeps the receiver's count per period at or under the limit.
 */
export const FLOW_SLOT_MARGIN = 0.1;

/**
 * A job held back by its key's parallelism or order is asked about again this long after,
 * unless a slot of its key frees in the same invocation first (then at once).
 */
export const FLOW_RECHECK_MS = 1_000;

/** A paused key's jobs are looked at again this long after (a resume makes them due at once). */
export const FLOW_PAUSED_RECHECK_MS = 60_000;

/** The interval between two slots of a rate, in milliseconds (see FLOW_SLOT_MARGIN). */
export function slotIntervalMs(rateLimit: number, ratePeriodMs: number): number {
  return (ratePeriodMs / rateLimit) * (1 + FLOW_SLOT_MARGIN);
}
