/**
 * How a tick splits its claimed jobs across invocations: pure arithmetic over the jobs'
 * fire times and each invocation's limits.
 */
import type { ClaimedJob } from "../db/jobs";

export interface ShardLimits {
  /** Callbacks one invocation can make on time per second under its connection cap. */
  callbacksPerSecond: number;
  /** Callbacks one invocation may make in all (its subrequest budget less its own overhead). */
  callbacksPerInvocation: number;
  /** Most invocations one tick fans out to, itself included. */
  maxShards: number;
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
 * Splits jobs (sorted by runAt) into as few shards as keep every invocation within its
 * rate and budget, dealt round-robin so each shard's load is spread like the whole.
 */
export function planShards(jobs: readonly ClaimedJob[], limits: ShardLimits): ShardPlan {
  const forRate = Math.ceil(peakPerSecond(jobs) / limits.callbacksPerSecond);
  const forBudget = Math.ceil(jobs.length / limits.callbacksPerInvocation);
  const count = Math.min(limits.maxShards, Math.max(1, forRate, forBudget));
  const capacity = count * limits.callbacksPerInvocation;
  const shards: ClaimedJob[][] = Array.from({ length: count }, () => []);
  jobs.slice(0, capacity).forEach((job, index) => {
    shards[index % count].push(job);
  });
  return { shards, overflow: jobs.slice(capacity) };
}
