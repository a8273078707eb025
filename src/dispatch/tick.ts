/**
 * The cron tick. The tick started for minute T owns the window [T, T + 60 s + overlap):
 * it rescues lapsed leases, claims the window's jobs ahead of time, splits them across
 * fresh invocations when one cannot deliver them on time, and fires its own share on the
 * second, polling for jobs created or rescheduled into the window while it runs.
 */
import { connectNow, type Database } from "../db/client";
import { listenForHandOvers } from "../db/handover";
import { type ClaimedJob, claimWindow, pruneHistory, releaseClaims, rescueExpiredLeases } from "../db/jobs";
import type { Outbound } from "./deliver";
import { type DeliveryReport, DeliveryRun, TIMING } from "./delivery-run";
import { materializeDueSchedules } from "./schedule-occurrences";
import { planShards, type ShardLimits } from "./shard-plan";
import { SubrequestBudget } from "./subrequest-budget";

/** How far a tick's window reaches into the next minute, so a late next tick loses no time. */
export const WINDOW_OVERLAP_MS = 5_000;
/** Rows of history each tick deletes at most: small batches keep every tick's work short. */
export const PRUNE_BATCH = 500;
const DAY_MS = 24 * 60 * 60_000;
/** Subrequests an invocation keeps for itself (its database connection, shard calls). */
const SUBREQUEST_OVERHEAD = 2;

/** A share of a tick's jobs, handed to a fresh invocation. */
export interface Shard {
  claimant: string;
  windowEnd: string;
  jobs: Array<{ id: string; runAt: string }>;
}

export interface TickDependencies {
  db: Database;
  /** The minute this tick owns. */
  scheduledTime: Date;
  /** The tick's clock reading at start. */
  now: Date;
  limits: { subrequestBudget: number; callbacksPerSecond: number; maxShards: number; retentionDays: number };
  /** Which URLs may be called, and the services that reach Workers. */
  outbound: Outbound;
  /** Delivers a shard in a fresh invocation; resolves when it is done. */
  runShard: (shard: Shard) => Promise<DeliveryReport>;
  random?: () => number;
}

export interface TickReport {
  rescued: number;
  /** Jobs created for recurring schedules' occurrences. */
  occurrences: number;
  pruned: { jobs: number; attempts: number };
  claimed: number;
  shards: number;
  overflow: number;
  local: DeliveryReport;
}

/** Runs one tick to completion (the end of its window, plus any deliveries still under way). */
export async function runTick(deps: TickDependencies): Promise<TickReport> {
  const { db, now, limits } = deps;
  const claimant = crypto.randomUUID();
  const windowEnd = new Date(deps.scheduledTime.getTime() + 60_000 + WINDOW_OVERLAP_MS);
  const shardLimits: ShardLimits = {
    callbacksPerSecond: limits.callbacksPerSecond,
    callbacksPerInvocation: limits.subrequestBudget - SUBREQUEST_OVERHEAD - limits.maxShards,
    maxShards: limits.maxShards,
  };

  // Jobs another path hands over (see db/handover) are looked for at once, not at the next poll;
  // listening starts before the window is claimed, so none handed over meanwhile is missed.
  let handedOver = false;
  let onHandOver = () => {
    handedOver = true;
  };
  const stopListening = await listenForHandOvers(db, () => onHandOver()).catch((error: unknown) => {
    console.error("listening for hand-overs failed; the tick polls only", error);
    return () => {};
  });

  const rescued = await rescueExpiredLeases(db, now);
  const pruned = await pruneHistory(db, new Date(now.getTime() - limits.retentionDays * DAY_MS), PRUNE_BATCH);
  // Occurrences become ordinary jobs first, so this tick claims and fires them like any other.
  const occurrences = await materializeDueSchedules(db, { minute: deps.scheduledTime, windowEnd }, now);
  const claimed = await claimAll(db, claimant, windowEnd, now, shardLimits);
  const { shards, overflow } = planShards(claimed, shardLimits);
  await releaseClaims(
    db,
    claimant,
    overflow.map((job) => job.id),
  );

  const budget = new SubrequestBudget(limits.subrequestBudget - SUBREQUEST_OVERHEAD - (shards.length - 1));
  const { outbound, random } = deps;
  const run = new DeliveryRun({ db, claimant, windowEnd, pollWindow: true, budget, outbound, random });
  run.add(shards[0] ?? []);
  if (handedOver) run.pollNow();
  onHandOver = () => run.pollNow();
  const remote = shards.slice(1).map((jobs) =>
    deps.runShard({
      claimant,
      windowEnd: windowEnd.toISOString(),
      jobs: jobs.map((job) => ({ id: job.id, runAt: job.runAt.toISOString() })),
    }),
  );
  const [local] = await Promise.all([run.run(), ...remote]).finally(stopListening);
  return {
    rescued,
    occurrences,
    pruned,
    claimed: claimed.length,
    shards: shards.length,
    overflow: overflow.length,
    local,
  };
}

/** Claims the window's jobs page by page, up to what all shards together may deliver. */
async function claimAll(
  db: Database,
  claimant: string,
  windowEnd: Date,
  now: Date,
  limits: ShardLimits,
): Promise<ClaimedJob[]> {
  const most = limits.callbacksPerInvocation * limits.maxShards;
  const claimed: ClaimedJob[] = [];
  for (;;) {
    const limit = Math.min(TIMING.claimPageSize, most - claimed.length);
    if (limit <= 0) break;
    const page = await claimWindow(db, { claimant, dueBefore: windowEnd, leaseMs: TIMING.claimLeaseMs, now, limit });
    claimed.push(...page);
    if (page.length < limit) break;
  }
  return claimed;
}

/** Delivers a shard handed over by a tick, under the tick's claim, in this invocation. */
export async function runShard(
  db: Database,
  shard: Shard,
  subrequestBudget: number,
  outbound: Outbound,
): Promise<DeliveryReport> {
  await connectNow(db);
  const run = new DeliveryRun({
    db,
    claimant: shard.claimant,
    windowEnd: new Date(shard.windowEnd),
    pollWindow: false,
    budget: new SubrequestBudget(subrequestBudget - SUBREQUEST_OVERHEAD),
    outbound,
  });
  run.add(shard.jobs.map((job) => ({ id: job.id, runAt: new Date(job.runAt) })));
  return run.run();
}
