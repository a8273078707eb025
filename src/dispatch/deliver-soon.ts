/**
 * Jobs due within seconds are fired by the API invocation that created them, in
 * `ctx.waitUntil`, instead of waiting for a tick to find them.
 */
import type { Database } from "../db/client";
import type { ClaimedJob } from "../db/jobs";
import type { CreatedOccurrence, OccurrenceClaim } from "../db/schedules";
import { JOB_LIMITS } from "../jobs/limits";
import { AFTER_RESPONSE_LIMIT_MS, apiDeliveryWindowEnd, TIMING } from "../jobs/timing";
import type { Settings } from "../settings";
import { outboundOf } from "./deliver";
import { type DeliveryReport, DeliveryRun } from "./delivery-run";
import { SubrequestBudget, serviceCallsPerInvocation } from "./subrequest-budget";
import { windowOwnersOf } from "./tick-watchdog";

/**
 * Delivers jobs the caller claimed as `claimant`, on the caller's own database connection
 * (the request's: an invocation holds one, and it is already open). Jobs it cannot fire are
 * handed back to the window's owner at once (see DeliveryRun). Never rejects.
 */
export async function deliverSoon(
  db: Database,
  settings: Settings,
  claimant: string,
  windowEnd: Date,
  jobs: ClaimedJob[],
): Promise<DeliveryReport | undefined> {
  try {
    const run = new DeliveryRun({
      db,
      claimant,
      windowEnd,
      pollWindow: false,
      owners: windowOwnersOf(settings.tickWatchdog),
      budget: new SubrequestBudget(settings.subrequestBudget - 1, {
        cpuMs: settings.cpuBudgetMs,
        serviceCalls: serviceCallsPerInvocation(1),
        claimant,
      }),
      outbound: outboundOf(settings),
      // A failure notification has its own timeout; it is fired from here only if it ends in time too.
      notificationsBefore: apiDeliveryWindowEnd(new Date(), JOB_LIMITS.timeoutMsDefault),
    });
    run.add(jobs);
    return await run.run();
  } catch (error) {
    console.error("delivering from the API failed", error);
    return undefined;
  }
}

/** A claim for the occurrences an API invocation creates, on the terms POST /jobs claims a job due soon. */
export function apiOccurrenceClaim(): OccurrenceClaim {
  return { claimant: crypto.randomUUID(), windowMs: AFTER_RESPONSE_LIMIT_MS, leaseMs: TIMING.claimLeaseMs };
}

/** Fires the occurrences claimed by `claim` from the API invocation, after its response, on its connection. */
export function deliverClaimedOccurrences(
  db: Database,
  settings: Settings,
  claim: OccurrenceClaim,
  occurrences: CreatedOccurrence[],
  now: Date,
): Promise<unknown> | undefined {
  const claimed = occurrences.filter((occurrence) => occurrence.claimed);
  if (claimed.length === 0) return undefined;
  return deliverSoon(
    db,
    settings,
    claim.claimant,
    new Date(now.getTime() + claim.windowMs),
    claimed.map((occurrence) => ({ id: occurrence.id, runAt: occurrence.occurrenceAt, flowKey: null })),
  );
}
