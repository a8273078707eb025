/**
 * The cron tick: rescue expired leases, then claim due jobs in batches, fire their callbacks
 * under the connection cap, and write the results back in one statement per batch.
 */
import type { Database } from "../db/client";
import { claimDueJobs, type FinishedAttempt, finishAttempts, rescueExpiredLeases } from "../db/jobs";
import type { JobRow } from "../db/schema";
import { type AttemptResult, decideAfterAttempt, errorClassOf } from "../jobs/delivery-policy";
import { JOB_LIMITS } from "../jobs/limits";
import { deliverCallback } from "./deliver";
import { Semaphore } from "./semaphore";

/** Outgoing connections an invocation may hold at once (6), less the database's one. */
export const CALLBACK_CONCURRENCY = 5;
/** Jobs claimed per statement. */
export const CLAIM_BATCH_SIZE = 25;
/** A tick stops claiming new batches after this long, so ticks do not pile up. */
export const TICK_CLAIM_BUDGET_MS = 50_000;
/** Slack added to a lease beyond the longest the claimed batch can take. */
const LEASE_MARGIN_MS = 30_000;

export interface TickDependencies {
  db: Database;
  /** The tick's reference time: jobs due at or before it are claimed. */
  now: Date;
  /** Source of jitter in [0, 1). */
  random?: () => number;
}

export interface TickReport {
  rescued: number;
  claimed: number;
  recorded: number;
  peakConcurrency: number;
}

/** Runs one tick to completion. */
export async function runTick({ db, now, random = Math.random }: TickDependencies): Promise<TickReport> {
  const report: TickReport = { rescued: 0, claimed: 0, recorded: 0, peakConcurrency: 0 };
  report.rescued = await rescueExpiredLeases(db, now);
  const semaphore = new Semaphore(CALLBACK_CONCURRENCY);
  const startedAt = Date.now();
  while (Date.now() - startedAt < TICK_CLAIM_BUDGET_MS) {
    const claimed = await claimDueJobs(db, {
      dueBy: now,
      lockedUntil: new Date(now.getTime() + leaseMs(CLAIM_BATCH_SIZE)),
      now,
      limit: CLAIM_BATCH_SIZE,
    });
    report.claimed += claimed.length;
    const finished = await Promise.all(
      claimed.map((job) =>
        semaphore.run(() => deliverCallback(job)).then((result) => toFinishedAttempt(job, result, random())),
      ),
    );
    report.recorded += (await finishAttempts(db, finished)).length;
    if (claimed.length < CLAIM_BATCH_SIZE) break;
  }
  report.peakConcurrency = semaphore.peakConcurrency;
  return report;
}

/** The longest a batch of `size` claimed jobs can take under the cap, plus slack. */
function leaseMs(size: number): number {
  return Math.ceil(size / CALLBACK_CONCURRENCY) * JOB_LIMITS.timeoutMsMax + LEASE_MARGIN_MS;
}

function toFinishedAttempt(job: JobRow, result: AttemptResult, random: number): FinishedAttempt {
  const now = new Date(result.firedAt.getTime() + result.durationMs);
  const decision = decideAfterAttempt(job.attempt, job, result, now, random);
  return {
    jobId: job.id,
    attempt: job.attempt,
    status: decision.status,
    nextRunAt: decision.nextRunAt,
    finishedAt: decision.finishedAt,
    plannedAt: job.runAt,
    firedAt: result.firedAt,
    latenessMs: Math.max(0, result.firedAt.getTime() - job.runAt.getTime()),
    durationMs: result.durationMs,
    statusCode: result.statusCode ?? null,
    responseExcerpt: result.responseExcerpt ?? null,
    errorClass: errorClassOf(result),
    errorMessage: result.errorMessage ?? null,
    outcome: decision.outcome,
    now,
  };
}
