/**
 * Turns what the receiver saw into a scenario's delivery numbers: completeness, lateness
 * percentiles and throughput.
 */
import type { Arrival } from "./receiver";

/** Nearest-rank percentiles, in the unit of the input. */
export interface Percentiles {
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** Completeness, lateness and throughput of one scenario's deliveries. */
export interface DeliveryStats {
  jobs: number;
  /** Jobs that arrived at least once. */
  delivered: number;
  /** Jobs that never arrived. */
  missing: number;
  /** Arrivals beyond the first for the same job. */
  duplicates: number;
  /** Arrivals with attempt > 1 (a retry: the receiver never fails, so any is a sign of trouble). */
  retries: number;
  /** Arrivals for jobs this scenario did not create. */
  strays: number;
  /** First arrival of each job minus its fliq-scheduled-at, in ms. */
  latenessMs: Percentiles | null;
  /** delivered / (last arrival − first arrival). */
  callbacksPerSecond: number | null;
  /** Last arrival minus the earliest due time, in ms. */
  firstDueToLastDeliveryMs: number | null;
}

/** Summarises the arrivals for a scenario's jobs, the earliest of which was due at `firstDueAt` (epoch ms). */
export function summarizeDeliveries(
  jobIds: readonly string[],
  arrivals: readonly Arrival[],
  firstDueAt: number,
): DeliveryStats {
  const expected = new Set(jobIds);
  const firstArrival = new Map<string, Arrival>();
  let duplicates = 0;
  let strays = 0;
  let retries = 0;
  for (const arrival of arrivals) {
    if (arrival.attempt > 1) retries++;
    if (!expected.has(arrival.jobId)) strays++;
    else if (firstArrival.has(arrival.jobId)) duplicates++;
    else firstArrival.set(arrival.jobId, arrival);
  }
  const firsts = [...firstArrival.values()];
  const lateness = firsts.map((arrival) => arrival.at - arrival.scheduledAt).sort((a, b) => a - b);
  const first = firsts.reduce((min, arrival) => Math.min(min, arrival.at), Number.POSITIVE_INFINITY);
  const last = firsts.reduce((max, arrival) => Math.max(max, arrival.at), Number.NEGATIVE_INFINITY);
  return {
    jobs: expected.size,
    delivered: firsts.length,
    missing: expected.size - firsts.length,
    duplicates,
    retries,
    strays,
    latenessMs: lateness.length > 0 ? percentiles(lateness) : null,
    callbacksPerSecond: firsts.length > 1 && last > first ? firsts.length / ((last - first) / 1000) : null,
    firstDueToLastDeliveryMs: firsts.length > 0 ? last - firstDueAt : null,
  };
}

/** Nearest-rank percentiles of an ascending, non-empty list. */
export function percentiles(sorted: readonly number[]): Percentiles {
  const rank = (p: number) => sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];
  return { min: sorted[0], p50: rank(50), p90: rank(90), p99: rank(99), max: sorted[sorted.length - 1] };
}

/** Lateness of the jobs due in one slice of a scenario's spread. */
export interface TimelineSlice {
  /** The slice starts this long after the first due time, in ms. */
  dueFromMs: number;
  jobs: number;
  p50LatenessMs: number;
  maxLatenessMs: number;
}

/**
 * Lateness by due time, in `slices` equal slices of the spread: flat lateness points at a fixed
 * per-callback cost, lateness that grows along the burst at a throughput limit.
 */
export function latenessTimeline(
  arrivals: readonly Arrival[],
  firstDueAt: number,
  spreadMs: number,
  slices = 10,
): TimelineSlice[] {
  const sliceMs = spreadMs / slices;
  const buckets: number[][] = Array.from({ length: slices }, () => []);
  const seen = new Set<string>();
  for (const arrival of arrivals) {
    if (seen.has(arrival.jobId)) continue;
    seen.add(arrival.jobId);
    const slice = Math.min(slices - 1, Math.max(0, Math.floor((arrival.scheduledAt - firstDueAt) / sliceMs)));
    buckets[slice].push(arrival.at - arrival.scheduledAt);
  }
  return buckets.map((lateness, index) => {
    lateness.sort((a, b) => a - b);
    return {
      dueFromMs: Math.round(index * sliceMs),
      jobs: lateness.length,
      p50LatenessMs: lateness.length > 0 ? percentiles(lateness).p50 : 0,
      maxLatenessMs: lateness.length > 0 ? lateness[lateness.length - 1] : 0,
    };
  });
}
