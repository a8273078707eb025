/**
 * The cron tick. The tick started for minute T owns the window [T, T + 60 s + overlap):
 * it rescues lapsed leases, claims the window's jobs ahead of time, splits them across
 * fresh invocations when one cannot deliver them on time, and fires its own share on the
 * second, polling for jobs created or rescheduled into the window while it runs.
 */
import { connectNow, type Database } from "../db/client";
import {
  type ClaimedJob,
  claimWindow,
  nextDueAt,
  PRUNE_PER_TICK,
  pruneHistory,
  recentLatencyByDestination,
  releaseClaimant,
  releaseClaims,
  rescueAttemptsOf,
  rescueExpiredLeases,
} from "../db/jobs";
import { LATENCY_LOOKBACK_MS, ownerReportsUntil, TIMING, tickWindowEnd } from "../jobs/timing";
import type { Outbound } from "./deliver";
import { type DeliveryReport, DeliveryRun, type WindowOwners } from "./delivery-run";
import { logEngineFault } from "./engine-log";
import { materializeDueSchedules } from "./schedule-occurrences";
import { type FanOutCarrier, planShards, type ShardLimits, shardLimitsOf } from "./shard-plan";
import { type BudgetOptions, SubrequestBudget, serviceCallsPerInvocation } from "./subrequest-budget";
import { WindowReports, type WindowWatch } from "./window-reports";

const DAY_MS = 24 * 60 * 60_000;
/** Over how many recent attempts (within LATENCY_LOOKBACK_MS) a tick learns how fast each destination answers. */
const LATENCY_SAMPLE = 2_000;
/** Subrequests an invocation keeps for itself (its database connection, shard calls). */
const SUBREQUEST_OVERHEAD = 2;

/** A share of a tick's jobs, handed to a fresh invocation. */
export interface Shard {
  claimant: string;
  /** The share's own runner id (a uuid): the jobs it starts are held under it while running. */
  runner: string;
  windowEnd: string;
  jobs: Array<{ id: string; runAt: string; destination?: string; flowKey?: string | null }>;
  /** The shard's CPU and Worker-invocation budgets (its subrequests are its own invocation's). */
  budget?: BudgetOptions;
}

export interface TickDependencies {
  db: Database;
  /** The minute this tick owns. */
  scheduledTime: Date;
  /** The tick's clock reading at start. */
  now: Date;
  limits: {
    subrequestBudget: number;
    cpuBudgetMs?: number;
    callbacksPerSecond: number;
    maxShards: number;
    retentionDays: number;
  };
  /** Which URLs may be called, and the services that reach Workers. */
  outbound: Outbound;
  /** Delivers share `index` (1 and up) in a fresh invocation; resolves when it is done. */
  runShard: (shard: Shard, index: number) => Promise<DeliveryReport>;
  /**
   * What carries the shares (see FanOutCarrier): self-invocations share the 32 Worker
   * invocations of the tick's request; cells are requests of their own. Self when absent.
   */
  carrier?: FanOutCarrier;
  /** Takes the window over if this tick falls silent; without one, a cut tick's jobs wait for their leases. */
  watch?: WindowWatch;
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
  /** Shards whose invocation failed; their unstarted jobs were released and taken over. */
  failedShards: number;
  /** The tick's own share; null when its own run failed (the shards went on regardless). */
  local: DeliveryReport | null;
  /** Nothing fell due in its window: it never opened a database connection. */
  idle: boolean;
}

const IDLE_REPORT: TickReport = {
  rescued: 0,
  occurrences: 0,
  pruned: { jobs: 0, attempts: 0 },
  claimed: 0,
  shards: 0,
  overflow: 0,
  failedShards: 0,
  local: null,
  idle: true,
};

/** Runs one tick to completion (the end of its window, plus any deliveries still under way). */
export async function runTick(deps: TickDependencies): Promise<TickReport> {
  const { limits } = deps;
  const claimant = crypto.randomUUID();
  const windowEnd = tickWindowEnd(deps.scheduledTime);
  const shardLimits = shardLimitsOf({
    usableSubrequests: limits.subrequestBudget - SUBREQUEST_OVERHEAD,
    callbacksPerSecond: limits.callbacksPerSecond,
    maxInvocations: limits.maxShards,
  });

  // The watch is kept from before the window is claimed, so no wake-up meanwhile is missed.
  const reports = new WindowReports(deps.watch, claimant, windowEnd);
  try {
    // With nothing due in the window (the engine's clock says so), the database is left alone,
    // so a serverless Postgres can suspend; anything announced meanwhile brings the tick in.
    if (!(await reports.dueBefore(windowEnd))) return IDLE_REPORT;
    const report = await ownWindow(deps, claimant, windowEnd, shardLimits, reports);
    await settleClock(reports, deps.db, claimant);
    return report;
  } finally {
    await reports.stop();
  }
}

/** Tells the engine's clock what falls due next; if that fails, the next tick looks for itself. */
async function settleClock(reports: WindowReports, db: Database, claimant: string): Promise<void> {
  await reports
    .settle(() => nextDueAt(db))
    .catch((error) => logEngineFault("clock_settle_failed", { claimant, action: "the next tick looks" }, error));
}

async function ownWindow(
  deps: TickDependencies,
  claimant: string,
  windowEnd: Date,
  shardLimits: ShardLimits,
  reports: WindowReports,
): Promise<TickReport> {
  const { db, now, limits } = deps;
  const rescued = await rescueExpiredLeases(db, now);
  const pruned = await pruneHistory(db, new Date(now.getTime() - limits.retentionDays * DAY_MS), PRUNE_PER_TICK);
  // Occurrences become ordinary jobs first, so this tick claims and fires them like any other.
  const occurrences = await materializeDueSchedules(db, { minute: deps.scheduledTime, windowEnd }, now);
  const claimed = await claimAll(db, claimant, windowEnd, now, shardLimits);
  // A look that claimed nothing tells the clock at once, not at the window's end: the window
  // outlasts its minute, and the next minute's tick would otherwise connect too (anything
  // announced from here on still wakes this owner).
  if (claimed.length === 0) await settleClock(reports, db, claimant);
  // Shards are sized from how fast the destinations answered lately (an idle tick skips the look).
  // The jobs are claimed by now: a failed look or release must not stop the tick (its claims
  // would wait for their lease), so the plan falls back to unknown latencies, and unreleased
  // overflow to its lease.
  const latency =
    claimed.length === 0
      ? new Map<string, number>()
      : await recentLatencyByDestination(db, new Date(now.getTime() - LATENCY_LOOKBACK_MS), LATENCY_SAMPLE).catch(
          (error: unknown) => {
            logEngineFault("latency_lookup_failed", { claimant, action: "latencies taken as unknown" }, error);
            return new Map<string, number>();
          },
        );
  // Jobs with a flow key stay with the tick: their pace is their key's, so a key's held jobs
  // wait in one run instead of being handed between invocations (see jobs/flow-control).
  const keyed = claimed.filter((job) => job.flowKey);
  const keyless = keyed.length === 0 ? claimed : claimed.filter((job) => !job.flowKey);
  const { shards, overflow } = planShards(keyless, shardLimits, (destination) => latency.get(destination));
  await releaseClaims(
    db,
    claimant,
    overflow.map((job) => job.id),
  ).catch((error: unknown) => {
    logEngineFault("overflow_release_failed", { claimant, jobs: overflow.length, action: "claims lapse" }, error);
  });

  // The watch's reports are subrequests of this invocation too.
  const watchReports = deps.watch ? ownerReportsUntil(windowEnd, now) : 0;
  // Self-invoked shards and the tick share one request's Worker invocations; a cell is a request
  // of its own, so each cell, and the tick beside them, has a whole request's share.
  const invocationsSharingRequest = deps.carrier === "cells" ? 1 : shards.length;
  const shardBudget = {
    cpuMs: limits.cpuBudgetMs,
    serviceCalls: serviceCallsPerInvocation(invocationsSharingRequest),
  };
  const budget = new SubrequestBudget(
    limits.subrequestBudget - SUBREQUEST_OVERHEAD - (shards.length - 1) - watchReports,
    { ...shardBudget, claimant },
  );
  const { outbound, random } = deps;
  const run = new DeliveryRun({ db, claimant, windowEnd, pollWindow: true, budget, outbound, random });
  run.add([...(shards[0] ?? []), ...keyed]);
  // Jobs another path hands over are looked for at once, not at the next poll.
  if (reports.woken) run.pollNow();
  reports.onWake = () => run.pollNow();
  let failedShards = 0;
  /**
   * A shard that fails (its invocation throws or is cut) costs its own jobs seconds, not a
   * lease: the jobs it has not started are released at once and this run claims them back, and
   * the attempts it had started (their outcome unknown) are recorded so and due again at once.
   */
  const handOff = async (jobs: ClaimedJob[], index: number): Promise<void> => {
    const runner = crypto.randomUUID();
    try {
      await deps.runShard(
        {
          claimant,
          runner,
          windowEnd: windowEnd.toISOString(),
          jobs: jobs.map((job) => ({
            id: job.id,
            runAt: job.runAt.toISOString(),
            destination: job.destination,
            flowKey: job.flowKey,
          })),
          budget: shardBudget,
        },
        index,
      );
    } catch (error) {
      failedShards++;
      const carrier = deps.carrier ?? "self";
      logEngineFault(
        "shard_failed",
        { shard: index, carrier, jobs: jobs.length, action: "released and taken over" },
        error,
      );
      try {
        await releaseClaims(
          db,
          claimant,
          jobs.map((job) => job.id),
        );
        await rescueAttemptsOf(db, runner, new Date());
      } catch (releaseError) {
        logEngineFault("shard_release_failed", { shard: index, jobs: jobs.length }, releaseError);
      }
      run.pollNow();
    }
  };
  // Every share settles on its own: one failing invocation never stops the others.
  const [own] = await Promise.allSettled([run.run(), ...shards.slice(1).map((jobs, i) => handOff(jobs, i + 1))]);
  if (own.status === "rejected") logEngineFault("tick_run_failed", { claimed: claimed.length }, own.reason);
  return {
    rescued,
    occurrences,
    pruned,
    claimed: claimed.length,
    shards: shards.length,
    overflow: overflow.length,
    failedShards,
    local: own.status === "fulfilled" ? own.value : null,
    idle: false,
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
  options: { subrequestBudget: number; outbound: Outbound; owners: WindowOwners },
): Promise<DeliveryReport> {
  await connectNow(db);
  const run = new DeliveryRun({
    db,
    claimant: shard.claimant,
    runner: shard.runner,
    windowEnd: new Date(shard.windowEnd),
    pollWindow: false,
    owners: options.owners,
    budget: new SubrequestBudget(options.subrequestBudget - SUBREQUEST_OVERHEAD, {
      ...shard.budget,
      claimant: shard.claimant,
    }),
    outbound: options.outbound,
  });
  run.add(
    shard.jobs.map((job) => ({
      id: job.id,
      runAt: new Date(job.runAt),
      destination: job.destination,
      flowKey: job.flowKey,
    })),
  );
  return run.run();
}

/**
 * Takes over the window of a tick that fell silent (see TickWatchdog): gives its unstarted
 * claims back, then claims and delivers what is left of the window as a tick would, in this
 * invocation.
 */
export async function takeOverWindow(options: {
  db: Database;
  silentClaimant: string;
  claimant: string;
  windowEnd: Date;
  subrequestBudget: number;
  cpuBudgetMs?: number;
  outbound: Outbound;
}): Promise<DeliveryReport> {
  const { db, claimant, windowEnd, outbound } = options;
  const released = await releaseClaimant(db, options.silentClaimant);
  // The attempts the silent tick had in flight itself (its shares' are under their own runners).
  const rescued = await rescueAttemptsOf(db, options.silentClaimant, new Date());
  logEngineFault("window_taken_over", { silentClaimant: options.silentClaimant, claimant, released, rescued });
  const budget = new SubrequestBudget(options.subrequestBudget - SUBREQUEST_OVERHEAD, {
    cpuMs: options.cpuBudgetMs,
    serviceCalls: serviceCallsPerInvocation(1),
    claimant,
  });
  const run = new DeliveryRun({ db, claimant, windowEnd, pollWindow: true, budget, outbound });
  run.pollNow();
  return run.run();
}
