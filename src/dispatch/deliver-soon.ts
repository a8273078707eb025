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

/** The database an API invocation fires its jobs on, and the subrequests its statements may take. */
export interface ApiDeliveryDatabase {
  db: Database;
  /** Kept from the budget for the database: 1 for a connection, more for statements over HTTP. */
  reservedSubrequests: number;
}

/**
 * Subrequests a run firing one job over HTTP may spend on its statements: each of its writes (the
 * start, the result, the destination's health, a failure notification's) is one, retried every
 * databaseRetryMs for databaseRetryForMs while the database is away.
 */
const HTTP_STATEMENTS_PER_JOB = 4 * Math.ceil(TIMING.databaseRetryForMs / TIMING.databaseRetryMs);

/**
 * Where the API fires `jobCount` jobs. One job goes over Neon's SQL-over-HTTP (`statementDb`), as
 * its create did: its few statements open no connection, so nothing logs in when it falls due and
 * a burst of creates does not hold a connection per job waiting. Several share the request's
 * connection, whose statements are not subrequests; so does one when the plan's subrequests are
 * too few to spare (a small SUBREQUEST_BUDGET), or on Hyperdrive, where there is no HTTP path.
 */
export function apiDeliveryDatabase(
  handle: { db: Database; statementDb: Database },
  settings: Settings,
  jobCount: number,
): ApiDeliveryDatabase {
  const overHttp =
    jobCount === 1 && settings.databaseDriver === "neon" && settings.subrequestBudget > 2 * HTTP_STATEMENTS_PER_JOB;
  return overHttp
    ? { db: handle.statementDb, reservedSubrequests: HTTP_STATEMENTS_PER_JOB }
    : { db: handle.db, reservedSubrequests: 1 };
}

/**
 * Delivers jobs the caller claimed as `claimant`, on `database` (apiDeliveryDatabase). Jobs it
 * cannot fire are handed back to the window's owner at once (see DeliveryRun). Never rejects.
 */
export async function deliverSoon(
  { db, reservedSubrequests }: ApiDeliveryDatabase,
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
      budget: new SubrequestBudget(settings.subrequestBudget - reservedSubrequests, {
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
    { db, reservedSubrequests: 1 },
    settings,
    claim.claimant,
    new Date(now.getTime() + claim.windowMs),
    claimed.map((occurrence) => ({ id: occurrence.id, runAt: occurrence.occurrenceAt, flowKey: null })),
  );
}
