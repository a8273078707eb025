/**
 * How a tick splits its claimed jobs across invocations: pure arithmetic over the jobs' fire
 * times, how long their destinations take to answer, and each invocation's limits.
 *
 * An invocation makes at most CALLBACK_CONCURRENCY callbacks at once, so a destination that
 * answers in `L` seconds gets at most CALLBACK_CONCURRENCY / L callbacks a second from it: 2,500
 * from a 2 ms loopback receiver, 20 from a 250 ms one. The planner sizes the shards from the
 * most callbacks the window would have in flight at once if each fired on its time, and gives
 * slow destinations shards of their own, so their callbacks never share connections with fast ones.
 */
import type { ClaimedJob } from "../db/jobs";
import { CALLBACK_CONCURRENCY, FAST_RESERVE, SLOW_LANE_MS, UNKNOWN_LATENCY_MS } from "../jobs/timing";

export interface ShardLimits {
  /** Callbacks one invocation can make per second at most, however fast its targets (its CPU). */
  callbacksPerSecond: number;
  /** Callbacks one invocation may make in all (its subrequest budget less its own overhead). */
  callbacksPerInvocation: number;
  /** Most invocations one tick fans out to, itself included (FanOut.maxInvocations). */
  maxShards: number;
}

/**
 * A tick's shard limits within its subrequest budget. Every share the tick hands out costs it one
 * subrequest, so with a small budget (SUBREQUEST_BUDGET on Workers Free is 50) it fans out no
 * further than leaves half the budget for its own callbacks, instead of planning with none.
 */
export function shardLimitsOf(options: {
  /** Subrequests the tick may make, less those it keeps for itself. */
  usableSubrequests: number;
  callbacksPerSecond: number;
  maxInvocations: number;
}): ShardLimits {
  const maxShards = Math.max(1, Math.min(options.maxInvocations, Math.floor(options.usableSubrequests / 2)));
  return {
    callbacksPerSecond: options.callbacksPerSecond,
    callbacksPerInvocation: Math.max(1, options.usableSubrequests - maxShards),
    maxShards,
  };
}

/**
 * What carries a tick's shares beyond its own:
 * - `cells`: Durable Objects (DeliveryCell), one RPC call each. Every call is a request of its
 *   own with its own six connections, subrequests and CPU, and is not a service-binding call,
 *   so the 32 Worker invocations one request may reach do not bound how many a tick uses;
 * - `self`: the Worker's own ShardRunner entry point through its loopback service binding,
 *   where every call counts toward those 32, so a tick fans out to MAX_SHARDS at most.
 */
export type FanOutCarrier = "cells" | "self";

export interface FanOut {
  carrier: FanOutCarrier;
  /** Most invocations one tick's jobs are split across, the tick's own included. */
  maxInvocations: number;
}

/**
 * How far a tick may fan out: onto up to `maxCells` delivery cells when their binding exists
 * (and MAX_CELLS is not 0), else onto up to `maxShards` self-invocations as before cells.
 */
export function fanOutOf(options: { maxShards: number; maxCells: number; cellsBound: boolean }): FanOut {
  if (options.cellsBound && options.maxCells > 0) return { carrier: "cells", maxInvocations: 1 + options.maxCells };
  return { carrier: "self", maxInvocations: options.maxShards };
}

/**
 * The name of the delivery cell that carries share `share` (1 and up; 0 is the tick's own) of
 * the tick for `minute`. Ticks of even and odd minutes use separate cells: a tick's window
 * outlasts its minute by a few seconds, and two shares must never meet in one object, whose
 * concurrent requests would share its six connections (a cell refuses a second share instead).
 */
export function cellName(minute: Date, share: number): string {
  const parity = Math.floor(minute.getTime() / 60_000) % 2;
  return `cell-${parity}-${share}`;
}

export interface ShardPlan {
  /** One list per invocation; the first is the tick's own. Each spans the whole window. */
  shards: ClaimedJob[][];
  /** Jobs no invocation can take within its limits; their claims are released for later ticks. */
  overflow: ClaimedJob[];
}

/** The most jobs due within any one-second span. `jobs` must be sorted by runAt. */
export function peakPerSecond(jobs: readonly ClaimedJob[]): number {
  let peak = 0;
  let start = 0;
  for (let end = 0; end < jobs.length; end++) {
    while (jobs[end].runAt.getTime() - jobs[start].runAt.getTime() >= 1000) start++;
    peak = Math.max(peak, end - start + 1);
  }
  return peak;
}

/**
 * The most callbacks in flight at once if each job fires at its time and takes its
 * destination's latency: the connections firing them all on time needs.
 */
export function peakInFlight(jobs: readonly ClaimedJob[], latencyMs: (job: ClaimedJob) => number): number {
  const ends = jobs.map((job) => job.runAt.getTime() + latencyMs(job)).sort((a, b) => a - b);
  const starts = jobs.map((job) => job.runAt.getTime()).sort((a, b) => a - b);
  let peak = 0;
  let finished = 0;
  starts.forEach((start, index) => {
    while (finished < ends.length && ends[finished] <= start) finished++;
    peak = Math.max(peak, index + 1 - finished);
  });
  return peak;
}

/** Invocations a group of jobs needs to be fired on time, given connections per invocation. */
function invocationsFor(
  jobs: readonly ClaimedJob[],
  latencyMs: (job: ClaimedJob) => number,
  connections: number,
  limits: ShardLimits,
): number {
  if (jobs.length === 0) return 0;
  const forConnections = Math.ceil(peakInFlight(jobs, latencyMs) / connections);
  const forRate = Math.ceil(peakPerSecond(jobs) / limits.callbacksPerSecond);
  const forBudget = Math.ceil(jobs.length / limits.callbacksPerInvocation);
  return Math.max(1, forConnections, forRate, forBudget);
}

/**
 * Splits jobs (sorted by runAt) into as few shards as keep every invocation within its
 * connections, rate and budget, dealt round-robin so each shard's load is spread like the
 * whole. `latencyOf` gives a destination's recent answer time in ms (undefined: unknown).
 * Jobs to slow destinations (SLOW_LANE_MS or more) get shards of their own while the tick
 * may still fan out; fast jobs come first when it may not.
 */
export function planShards(
  jobs: readonly ClaimedJob[],
  limits: ShardLimits,
  latencyOf: (destination: string) => number | undefined = () => undefined,
): ShardPlan {
  const latencyMs = (job: ClaimedJob) =>
    (job.destination === undefined ? undefined : latencyOf(job.destination)) ?? UNKNOWN_LATENCY_MS;
  const slow = jobs.filter((job) => latencyMs(job) >= SLOW_LANE_MS);
  const fast = slow.length === 0 ? jobs : jobs.filter((job) => latencyMs(job) < SLOW_LANE_MS);
  const fastCount = Math.min(limits.maxShards, invocationsFor(fast, latencyMs, CALLBACK_CONCURRENCY, limits));
  // Slow lanes hold at most CALLBACK_CONCURRENCY - FAST_RESERVE connections of an invocation.
  const slowWanted = invocationsFor(slow, latencyMs, CALLBACK_CONCURRENCY - FAST_RESERVE, limits);
  const slowCount = Math.min(slowWanted, limits.maxShards - fastCount);

  const count = Math.max(1, fastCount + slowCount);
  const shards: ClaimedJob[][] = Array.from({ length: count }, () => []);
  const deal = (group: readonly ClaimedJob[], first: number, size: number) => {
    group.forEach((job, index) => {
      shards[first + (index % size)].push(job);
    });
  };
  if (slowCount > 0) {
    deal(fast, 0, Math.max(1, fastCount));
    deal(slow, fastCount, slowCount);
  } else {
    // No shard left for them: slow jobs share the fast shards, where the fire queue's bulkheads
    // keep two connections of each for fast targets.
    deal(jobs, 0, count);
  }
  const overflow: ClaimedJob[] = [];
  for (const shard of shards) overflow.push(...shard.splice(limits.callbacksPerInvocation));
  overflow.sort((a, b) => a.runAt.getTime() - b.runAt.getTime());
  return { shards: shards.filter((shard, index) => index === 0 || shard.length > 0), overflow };
}
