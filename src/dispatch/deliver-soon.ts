/**
 * Jobs due within seconds are fired by the API invocation that created them, in
 * `ctx.waitUntil`, instead of waiting for a tick to find them.
 */
import { connectNow, openDatabase } from "../db/client";
import type { ClaimedJob } from "../db/jobs";
import { JOB_LIMITS } from "../jobs/limits";
import type { Settings } from "../settings";
import { outboundOf } from "./deliver";
import { DeliveryRun } from "./delivery-run";
import { SubrequestBudget } from "./subrequest-budget";

/**
 * Work in `waitUntil` is cut 30 s after the response; an attempt must end before that, with
 * some margin. A job whose time plus timeout falls later is left to the tick.
 */
export const AFTER_RESPONSE_LIMIT_MS = 28_000;

/** The end of the window the API invocation can deliver in, for a job with this timeout. */
export function apiDeliveryWindowEnd(now: Date, timeoutMs: number): Date {
  return new Date(now.getTime() + AFTER_RESPONSE_LIMIT_MS - timeoutMs);
}

/** Delivers jobs the caller claimed as `claimant`, on their own database connection. */
export async function deliverSoon(settings: Settings, claimant: string, windowEnd: Date, jobs: ClaimedJob[]) {
  const database = openDatabase(settings);
  try {
    // The connection is set up now, while the jobs are still seconds away, not at the first start.
    await connectNow(database.db);
    const run = new DeliveryRun({
      db: database.db,
      claimant,
      windowEnd,
      pollWindow: false,
      budget: new SubrequestBudget(settings.subrequestBudget - 1),
      outbound: outboundOf(settings),
      // A failure notification has its own timeout; it is fired from here only if it ends in time too.
      notificationsBefore: apiDeliveryWindowEnd(new Date(), JOB_LIMITS.timeoutMsDefault),
    });
    run.add(jobs);
    return await run.run();
  } finally {
    await database.close();
  }
}
