/**
 * What the planner knows of a scenario's destinations when its tick plans (`--history`).
 *
 * The tick sizes its fan-out from how fast each destination answered in the last ten minutes
 * (`recentLatencyByDestination`); a destination with no recent attempt is planned at
 * UNKNOWN_LATENCY_MS (250 ms). Every scenario starts from an empty jobs table, so by default
 * (`cold`) each burst goes to destinations the planner has never seen: the first burst a new
 * destination ever gets. `warm` first has the API fire a few jobs to each destination, as any
 * destination called in the last ten minutes has a history, so the tick plans the burst from
 * the destinations' measured latency.
 */
import { type Api, createJobs } from "./create-jobs";
import type { BenchContext } from "./scenarios";
import { sleep } from "./stack";

export const HISTORIES = ["cold", "warm"] as const;
export type History = (typeof HISTORIES)[number];

/** Jobs fired to each destination before the scenario's own: enough for a 90th percentile to mean something. */
const WARM_JOBS_PER_DESTINATION = 30;
/**
 * The warm-up's jobs fall due this far apart, one at a time, as a destination's traffic
 * ordinarily arrives: fired all at once on one local Worker thread, their durations measured
 * the thread's queue more than the destination, and the plan built on them varied run to run.
 */
const WARM_SPACING_MS = 100;
/** The first warm-up job falls due this long after its creation starts, so it is fired from the API. */
const WARM_LEAD_MS = 1_000;
/**
 * A warm-up attempt to a hanging target gives up after this long, so its timeout is on record
 * before the tick plans: a destination that timed out lately is slow, whatever its jobs' timeout.
 */
const WARM_TIMEOUT_MS = 5_000;
/** How long the warm-up's attempts may take to be recorded. */
const WARM_RECORDED_WITHIN_MS = 20_000;

export interface Destination {
  api: Api;
  /** A callback URL at the destination (its scheme, host and port are what the planner keys on). */
  url: string;
  /** Fields the scenario's own jobs carry (a timeout, say). */
  fields?: Record<string, unknown>;
}

/**
 * With `warm` history, fires WARM_JOBS_PER_DESTINATION jobs to each destination from the API
 * (due WARM_SPACING_MS apart, one POST /jobs each, so each request fires its own job) and waits
 * until every attempt is recorded. Their arrivals are the caller's to clear from its receivers.
 */
export async function prepareHistory(ctx: BenchContext, destinations: readonly Destination[]): Promise<void> {
  if (ctx.history === "cold") return;
  let expected = 0;
  for (const destination of destinations) {
    const timeout = Math.min(Number(destination.fields?.timeout_ms ?? WARM_TIMEOUT_MS), WARM_TIMEOUT_MS);
    const first = Date.now() + WARM_LEAD_MS;
    const dueTimes = Array.from({ length: WARM_JOBS_PER_DESTINATION }, (_, i) => first + i * WARM_SPACING_MS);
    const result = await createJobs(destination.api, destination.url, dueTimes, {
      batchSize: 1,
      concurrency: WARM_JOBS_PER_DESTINATION,
      fields: { ...destination.fields, max_retries: 0, timeout_ms: timeout },
    });
    if (result.failures > 0) throw new Error(`warming ${destination.url} up failed: ${result.firstError}`);
    expected += result.ids.length;
  }
  const deadline = Date.now() + WARM_RECORDED_WITHIN_MS;
  for (;;) {
    const { rows } = await ctx.database.client.query<{ n: string }>("SELECT count(*) AS n FROM job_attempts");
    const recorded = Number(rows[0].n);
    if (recorded >= expected) break;
    if (Date.now() > deadline) throw new Error(`warm-up: ${recorded} of ${expected} attempts recorded`);
    await sleep(250);
  }
  console.log(`[bench] history: ${expected} attempts to ${destinations.length} destination(s) recorded`);
}
