/**
 * One invocation's delivery loop. It holds a plan of claimed jobs sorted by fire time,
 * starts each a few milliseconds ahead of its time (one statement per ~100 ms of schedule),
 * waits for the exact instant, fires under the connection cap, and writes results back in
 * batches. A run that owns a window (the tick) also polls for jobs created or rescheduled
 * into it (at once when another path hands jobs over), and keeps retries that fall due inside it.
 *
 * Faults lose no job and cost about their own length: a failed start or write is tried again
 * every 250 ms for up to 20 s (a database restarting); past that, jobs not started are handed
 * back to the window's owner (or, if even that fails, stay claimed until their lease lapses),
 * and unwritten results leave them `running` until the rescuer retries them (at-least-once).
 * Every give-up is one JSON log line.
 */
import type { Database } from "../db/client";
import {
  type ClaimedJob,
  claimWindow,
  type DestinationWord,
  type FinishedAttempt,
  finishAttempts,
  type HeldJob,
  type NotificationClaim,
  releaseClaims,
  type StartedBatch,
  type StartedJob,
  startClaimedJobs,
  tellDestinations,
} from "../db/jobs";
import { type AttemptResult, decideAfterAttempt, errorClassOf } from "../jobs/delivery-policy";
import { destinationVerdict } from "../jobs/destination-health";
import {
  CALLBACK_CONCURRENCY,
  claimLeaseEnd,
  startStatementDueBy,
  startsDueBy,
  startWakeAt,
  TIMING,
} from "../jobs/timing";
import { type Outbound, type PreparedCallback, prepareCallback, sendCallback } from "./deliver";
import { logEngineFault, logFailedAttempt } from "./engine-log";
import { FireQueue, laneOf } from "./fire-queue";
import type { SubrequestBudget } from "./subrequest-budget";

/**
 * The engine's clock (see TickWatchdog), told after a write commits that something falls due at
 * `atMs`: so an idle tick knows to look at the database, and a window's owner looks at once for
 * a job due before its next poll (one another path handed over) instead of up to a poll late.
 */
export interface WindowOwners {
  due(atMs: number): Promise<void>;
}

export interface DeliveryRunOptions {
  db: Database;
  /** The claim every job in this run is held under. */
  claimant: string;
  /** Who makes this run's attempts, when not the claimant (see StartOptions.runner): a share's own id. */
  runner?: string;
  /** The run plans jobs due before this instant. */
  windowEnd: Date;
  /** Whether to poll the window for new jobs (the tick does; shards and the API do not). */
  pollWindow: boolean;
  /**
   * Told of the jobs this run hands over and the retries and notifications it writes; absent
   * for a window's owner (it polls its window itself, and tells the clock when it settles).
   */
  owners?: WindowOwners;
  budget: SubrequestBudget;
  /** Which URLs may be called (checked again before every attempt), and the services that reach Workers. */
  outbound: Outbound;
  /**
   * Failure notifications queued before this instant are fired by this run; all of them when
   * absent (a tick or shard may run on past its window; an API invocation's time is bounded).
   */
  notificationsBefore?: Date;
  random?: () => number;
}

interface ReadyCallback {
  job: StartedJob;
  callback: PreparedCallback;
  fireAtMs: number;
  lane: string;
}

export interface DeliveryReport {
  started: number;
  delivered: number;
  recorded: number;
  released: number;
  peakConcurrency: number;
}

export class DeliveryRun {
  private readonly plan: ClaimedJob[] = [];
  private readonly finished: FinishedAttempt[] = [];
  /** Held jobs in the plan that wait for a slot or their turn (not for a rate's slot). */
  private readonly waitingForTurn = new Set<string>();
  private oldestFinishedAt = 0;
  /** What recorded attempts said about their destinations, not yet told (see tellDestinations). */
  private readonly untold: DestinationWord[] = [];
  private oldestUntoldAt = 0;
  /** After a telling failed, the next waits until then (the database may be away). */
  private tellNotBefore = 0;
  /** When the current run of failed writes began (undefined while writes succeed). */
  private failingSince: number | undefined;
  /** Started jobs whose attempt is not yet finished (being signed, waiting for their time, or in flight). */
  private unfinished = 0;
  private readonly queue = new FireQueue<ReadyCallback>(CALLBACK_CONCURRENCY, (ready) => this.fire(ready));
  private readonly random: () => number;
  private wake: () => void = () => {};
  private nextPollAt = Number.POSITIVE_INFINITY;
  private readonly report: DeliveryReport = { started: 0, delivered: 0, recorded: 0, released: 0, peakConcurrency: 0 };

  constructor(private readonly options: DeliveryRunOptions) {
    this.random = options.random ?? Math.random;
  }

  /** Adds claimed jobs to the plan. */
  add(jobs: readonly ClaimedJob[]): void {
    this.plan.push(...jobs);
    this.plan.sort((a, b) => a.runAt.getTime() - b.runAt.getTime());
    this.wake();
  }

  /**
   * Makes a window owner look for claimable jobs at once instead of at its next poll: jobs
   * another invocation gave back (a failed shard) are taken over within a round trip.
   */
  pollNow(): void {
    if (!this.options.pollWindow) return;
    this.nextPollAt = 0;
    this.wake();
  }

  /** Runs until every planned job is delivered and recorded (and, when polling, the window has passed). */
  async run(): Promise<DeliveryReport> {
    const { windowEnd, pollWindow } = this.options;
    // A pollNow() before the run starts stands: the first look happens at once.
    this.nextPollAt = pollWindow
      ? Math.min(this.nextPollAt, Date.now() + TIMING.pollIntervalMs)
      : Number.POSITIVE_INFINITY;
    for (;;) {
      const now = Date.now();
      const windowOpen = now < windowEnd.getTime();
      const due = this.takeDue(startsDueBy(now));
      if (due.length > 0) await this.start(due);
      if (this.shouldFlush(now)) await this.flush();
      if (this.shouldTellDestinations(now)) await this.tellDestinations();
      if (pollWindow && windowOpen && now >= this.nextPollAt) {
        this.nextPollAt = now + TIMING.pollIntervalMs;
        await this.poll(new Date(now));
      }
      const idle = this.plan.length === 0 && this.unfinished === 0 && this.finished.length === 0;
      if (idle && !(pollWindow && windowOpen)) break;
      const windowWake =
        pollWindow && windowOpen ? Math.min(this.nextPollAt, windowEnd.getTime()) : Number.POSITIVE_INFINITY;
      await this.sleepUntil(this.nextWakeAt(windowWake));
    }
    await this.tellDestinations();
    this.report.peakConcurrency = this.queue.peakConcurrency;
    return this.report;
  }

  private takeDue(by: number): ClaimedJob[] {
    let count = 0;
    while (count < this.plan.length && this.plan[count].runAt.getTime() <= by) count++;
    return this.plan.splice(0, count);
  }

  private async start(due: ClaimedJob[]): Promise<void> {
    // Jobs past any budget of this invocation (subrequests, CPU, Worker invocations) are handed on.
    const { granted, refused } = this.options.budget.takeJobs(due);
    const overBudget = refused.map((job) => job.id);
    if (overBudget.length > 0) {
      this.report.released += overBudget.length;
      await this.handOver(overBudget, "subrequest_budget");
    }
    // Jobs without a flow key start by the plainer statement, and first: a key's limits never
    // cost them time. The others (a key, or one not known) start through their keys' limits.
    const keyless = granted.filter((job) => job.flowKey === null);
    const keyed = keyless.length === granted.length ? [] : granted.filter((job) => job.flowKey !== null);
    if (keyless.length > 0) await this.startBatch(keyless, false);
    if (keyed.length > 0) await this.startBatch(keyed, true);
  }

  private async startBatch(jobs: ClaimedJob[], throughFlowKeys: boolean): Promise<void> {
    const { db, claimant } = this.options;
    const ids = jobs.map((job) => job.id);
    const now = new Date();
    let batch: StartedBatch;
    try {
      batch = await startClaimedJobs(db, {
        claimant,
        runner: this.options.runner,
        ids,
        dueBy: startStatementDueBy(now),
        leaseMarginMs: TIMING.runningLeaseMarginMs,
        now,
        notify: this.notificationClaim(),
        // A window's owner keeps the jobs its keys hold inside its window; any other run hands them on.
        flow: throughFlowKeys
          ? { keepBefore: this.options.pollWindow ? this.options.windowEnd : now, claimLeaseMs: TIMING.claimLeaseMs }
          : null,
      });
    } catch (error) {
      // Nothing was fired: what the jobs took of the budget is taken again when they start.
      this.options.budget.giveBack(jobs);
      // The jobs stay claimed and scheduled: try again shortly, while their claim holds; past
      // that, give them to the window's owner now rather than let the claim lapse.
      const keep = jobs.filter((job) => now.getTime() - job.runAt.getTime() < TIMING.databaseRetryForMs);
      const givenUp = ids.filter((id) => !keep.some((job) => job.id === id));
      logEngineFault(
        "start_failed",
        { jobs: ids.length, retrying: keep.length, givenUp: givenUp.length, claimant },
        error,
      );
      if (givenUp.length > 0) await this.handOver(givenUp, "start_failed");
      this.add(keep);
      await sleep(TIMING.databaseRetryMs);
      return;
    }
    const { started, expired, notifications, held } = batch;
    // Failure notifications of jobs that expired instead of starting are this run's to fire, as in flush.
    if (notifications.length > 0) {
      if (!this.options.pollWindow) await this.announce(notifications.map((job) => job.runAt.getTime()));
      this.add(notifications);
    }
    // A job asked about again waits for its turn only if this start held it for that once more.
    for (const job of jobs) this.waitingForTurn.delete(job.id);
    await this.planHeld(held);
    const startedIds = new Set(started.map((job) => job.id));
    // Only the jobs started make a callback; the others' share of the budget goes back.
    if (startedIds.size < jobs.length) this.options.budget.giveBack(jobs.filter((job) => !startedIds.has(job.id)));
    if (started.length + expired.length + held.length < ids.length) {
      // Canceled, rescheduled or taken over since the claim: whoever changed it owns it now.
      const accounted = new Set([...started.map((job) => job.id), ...expired, ...held.map((job) => job.id)]);
      logHandOver({ reason: "claim_lost", claimant, jobs: ids.filter((id) => !accounted.has(id)), released: 0 });
    }
    this.report.started += started.length;
    this.unfinished += started.length;
    for (const job of started) void this.prepare(job);
  }

  /**
   * Jobs their flow keys or paused destinations held back: those still claimed are asked about
   * again at their next look (at once when this run gives back a slot of their key, for those
   * waiting their turn); those released are the window owner's, told when they fall due.
   */
  private async planHeld(held: readonly HeldJob[]): Promise<void> {
    const kept = held.filter((job) => job.kept);
    for (const job of kept) if (job.waitsForTurn) this.waitingForTurn.add(job.id);
    this.add(kept.map(({ id, runAt, flowKey }) => ({ id, runAt, flowKey })));
    const released = held.filter((job) => !job.kept);
    if (released.length > 0 && !this.options.pollWindow) {
      await this.announce(released.map((job) => job.runAt.getTime()));
    }
  }

  /** Jobs of `keys` waiting for their turn are asked about again now: this run has just given back slots of those keys. */
  private wakeTurns(keys: ReadonlySet<string>): void {
    if (keys.size === 0 || this.waitingForTurn.size === 0) return;
    const now = new Date();
    for (let index = 0; index < this.plan.length; index++) {
      const job = this.plan[index];
      if (job.flowKey && keys.has(job.flowKey) && this.waitingForTurn.delete(job.id) && job.runAt > now) {
        this.plan[index] = { ...job, runAt: now };
      }
    }
    this.add([]);
  }

  /** Signs a started job's callback ahead of its time and queues it to fire at that time. */
  private async prepare(job: StartedJob): Promise<void> {
    try {
      const callback = await prepareCallback(job, Math.max(job.runAtMs, Date.now()));
      this.queue.add({ job, callback, fireAtMs: job.runAtMs, lane: laneOf(job.projectId, job.url) });
    } catch (error) {
      // Not fired: the job stays running until its lease lapses and the rescuer retries it.
      console.error("preparing a callback failed", error);
      this.settle();
    }
  }

  private async fire({ job, callback }: ReadyCallback): Promise<void> {
    try {
      const result = await sendCallback(callback, this.options.outbound);
      this.report.delivered++;
      this.finish(job, result);
    } finally {
      this.settle();
    }
  }

  private settle(): void {
    this.unfinished--;
    if (this.unfinished === 0) this.wake();
  }

  private finish(job: StartedJob, result: AttemptResult): void {
    const now = new Date(result.firedAt.getTime() + result.durationMs);
    // Lost attempts (their outcome never known) do not use up the job's retries.
    const decision = decideAfterAttempt(job.attempt - job.lostAttempts, job, result, now, this.random());
    if (decision.outcome !== "succeeded") {
      logFailedAttempt({
        jobId: job.id,
        url: job.url,
        attempt: job.attempt,
        outcome: decision.outcome,
        errorClass: errorClassOf(result),
        statusCode: result.statusCode ?? null,
        errorMessage: result.errorMessage ?? null,
        nextRunAt: decision.nextRunAt,
      });
    }
    // A job created with a time already past was due when it was created, not before; one its
    // flow key held back was due when it was first held.
    const plannedAt = new Date(Math.max(job.heldSinceMs ?? job.runAtMs, job.createdAtMs));
    const keepRetry =
      decision.nextRunAt !== null && decision.nextRunAt < this.options.windowEnd && this.options.budget.remaining > 0;
    if (this.finished.length === 0) this.oldestFinishedAt = Date.now();
    this.finished.push({
      jobId: job.id,
      attempt: job.attempt,
      flowKey: job.flowKey,
      reclaim:
        keepRetry && decision.nextRunAt
          ? {
              claimant: this.options.claimant,
              lockedUntil: claimLeaseEnd(decision.nextRunAt),
            }
          : null,
      status: decision.status,
      nextRunAt: decision.nextRunAt,
      finishedAt: decision.finishedAt,
      plannedAt,
      firedAt: result.firedAt,
      latenessMs: Math.max(0, result.firedAt.getTime() - plannedAt.getTime()),
      durationMs: result.durationMs,
      statusCode: result.statusCode ?? null,
      responseExcerpt: result.responseExcerpt ?? null,
      response: decision.outcome === "succeeded" ? (result.response ?? null) : null,
      errorClass: errorClassOf(result),
      errorMessage: result.errorMessage ?? null,
      outcome: decision.outcome,
      verdict: destinationVerdict(result),
      now,
    });
    // The loop acts on a result only when it starts a batch (to time its write) or fills one;
    // waking it for each of thousands of results cost more CPU than the results themselves.
    if (this.finished.length === 1 || this.finished.length >= TIMING.flushBatchSize) this.wake();
  }

  private shouldFlush(now: number): boolean {
    if (this.finished.length === 0) return false;
    return (
      this.finished.length >= TIMING.flushBatchSize ||
      now - this.oldestFinishedAt >= TIMING.flushIntervalMs ||
      (this.unfinished === 0 && this.plan.length === 0) ||
      // Writing a keyed result gives its key's slot back: jobs waiting for it go a write sooner.
      (this.waitingForTurn.size > 0 && this.finished.some((attempt) => attempt.flowKey !== null))
    );
  }

  private async flush(): Promise<void> {
    const batch = this.finished.splice(0, this.finished.length);
    try {
      const { recorded, notifications } = await finishAttempts(this.options.db, batch, this.notificationClaim());
      const written = new Set(recorded);
      this.report.recorded += written.size;
      this.noteDestinationWords(batch, written);
      const freedKeys = new Set<string>();
      for (const { jobId, flowKey } of batch) if (flowKey && written.has(jobId)) freedKeys.add(flowKey);
      this.wakeTurns(freedKeys);
      if (!this.options.pollWindow) {
        this.logRetriesHandedOver(batch, written);
        // What this write made fall due: retries (kept or handed over) and failure notifications.
        const retries = batch.filter((a) => a.status === "scheduled" && a.nextRunAt && written.has(a.jobId));
        await this.announce([
          ...retries.map((attempt) => (attempt.nextRunAt as Date).getTime()),
          ...notifications.map((job) => job.runAt.getTime()),
        ]);
      }
      // Failure notifications the write queued are this run's to fire: within a second of the failure, not a poll later.
      this.add(notifications);
      // Retries this run keeps are planned only once their write has landed.
      this.add(
        batch
          .filter((attempt) => attempt.reclaim && attempt.nextRunAt && written.has(attempt.jobId))
          .map((attempt) => ({ id: attempt.jobId, runAt: attempt.nextRunAt as Date })),
      );
    } catch (error) {
      // Unwritten results are retried: put them back and try again after a pause. If the
      // database stays away, the jobs' running leases lapse and the rescuer retries them.
      this.failingSince ??= Date.now();
      const givingUp = Date.now() - this.failingSince >= TIMING.databaseRetryForMs;
      logEngineFault("recording_failed", { attempts: batch.length, givingUp }, error);
      if (givingUp) return;
      this.finished.unshift(...batch);
      await sleep(TIMING.databaseRetryMs);
      return;
    }
    this.failingSince = undefined;
  }

  /** Keeps what the recorded attempts of a batch said about their destinations, to be told (tellDestinations). */
  private noteDestinationWords(batch: readonly FinishedAttempt[], written: ReadonlySet<string>): void {
    for (const { jobId, verdict, firedAt, durationMs, now } of batch) {
      if (!written.has(jobId) || (verdict !== "up" && verdict !== "down")) continue;
      if (this.untold.length === 0) this.oldestUntoldAt = Date.now();
      this.untold.push({ jobId, verdict, firedAt, durationMs, now });
    }
  }

  /**
   * A failure is told with the write that records it (runs of failures pause a destination), and
   * so is everything when the run has nothing else to do; answers alone wait up to
   * TIMING.tellDestinationsMs. Every telling updates its destination's row under its lock, and
   * dozens of runs delivering to one destination told it with each of their writes, queuing on
   * that row (10,000 jobs to one receiver: about 1,000 tellings in 7 s).
   */
  private shouldTellDestinations(now: number): boolean {
    if (this.untold.length === 0 || now < this.tellNotBefore) return false;
    const idle = this.plan.length === 0 && this.unfinished === 0 && this.finished.length === 0;
    return (
      idle || now - this.oldestUntoldAt >= TIMING.tellDestinationsMs || this.untold.some((w) => w.verdict === "down")
    );
  }

  /**
   * Tells the destinations what was gathered. Health is statistics, not delivery: a telling that
   * fails is kept and tried again, and what a run cut short had not told is lost (no job or
   * attempt is).
   */
  private async tellDestinations(): Promise<void> {
    if (this.untold.length === 0) return;
    const words = this.untold.splice(0, this.untold.length);
    try {
      await tellDestinations(this.options.db, words);
    } catch (error) {
      logEngineFault("destination_health_failed", { attempts: words.length }, error);
      this.untold.unshift(...words);
      this.tellNotBefore = Date.now() + TIMING.databaseRetryMs;
    }
  }

  /** Which failure notifications this run fires itself: those its writes queue, while it has budget left. */
  private notificationClaim(): NotificationClaim | null {
    if (this.options.budget.remaining <= 0) return null;
    const dueBefore = this.options.notificationsBefore ?? null;
    return { claimant: this.options.claimant, dueBefore, leaseMs: TIMING.claimLeaseMs };
  }

  private async poll(now: Date): Promise<void> {
    const { db, claimant, windowEnd, budget } = this.options;
    const limit = Math.min(TIMING.claimPageSize, budget.remaining);
    if (limit <= 0) return;
    try {
      this.add(await claimWindow(db, { claimant, dueBefore: windowEnd, leaseMs: TIMING.claimLeaseMs, now, limit }));
    } catch (error) {
      console.error("polling for due jobs failed", error);
    }
  }

  /**
   * Gives claimed jobs this run will not fire back at once, and wakes the window's owner to
   * take them over, with one log line saying why. If the database cannot be reached, the
   * claims lapse at their lease end instead, and the owner's next poll takes them.
   */
  private async handOver(ids: string[], reason: HandOverReason): Promise<void> {
    const { db, claimant } = this.options;
    let released = 0;
    try {
      released = await releaseClaims(db, claimant, ids);
    } catch (error) {
      console.error("handing claims over failed; they lapse at their lease end", error);
    }
    logHandOver({ reason, claimant, jobs: ids, released });
    if (released > 0) await this.announce([Date.now()]);
  }

  /**
   * A run that does not own a window (the API's, a shard's) keeps only the retries due inside
   * its own window; the others were released in the write, and are announced with the rest.
   */
  private logRetriesHandedOver(batch: FinishedAttempt[], written: Set<string>): void {
    const released = batch.filter((a) => a.status === "scheduled" && !a.reclaim && written.has(a.jobId));
    if (released.length === 0) return;
    const jobs = released.map((attempt) => attempt.jobId);
    logHandOver({ reason: "retry_beyond_window", claimant: this.options.claimant, jobs, released: jobs.length });
  }

  /**
   * Tells the engine's clock that jobs fall due at `times` (see WindowOwners); a window's owner
   * looks for them itself, at once. If the clock cannot be told, the next periodic look finds them.
   */
  private async announce(times: number[]): Promise<void> {
    if (times.length === 0) return;
    if (this.options.pollWindow) return this.pollNow();
    try {
      await this.options.owners?.due(Math.min(...times));
    } catch (error) {
      logEngineFault("announce_failed", { claimant: this.options.claimant, action: "found at the next look" }, error);
    }
  }

  private nextWakeAt(windowWake: number): number {
    let at = windowWake;
    if (this.plan.length > 0) at = Math.min(at, startWakeAt(this.plan[0].runAt.getTime()));
    if (this.finished.length > 0) at = Math.min(at, this.oldestFinishedAt + TIMING.flushIntervalMs);
    return at;
  }

  /** Sleeps until `at`, or until a delivery finishes or jobs are added, whichever comes first. */
  private async sleepUntil(at: number): Promise<void> {
    const ms = at - Date.now();
    if (ms <= 0) return;
    await new Promise<void>((resolve) => {
      const timer = Number.isFinite(ms) ? setTimeout(resolve, ms) : undefined;
      this.wake = () => {
        if (timer !== undefined) clearTimeout(timer);
        resolve();
      };
    });
    this.wake = () => {};
  }
}

/** Why a run gave up jobs it had claimed. */
type HandOverReason = "subrequest_budget" | "start_failed" | "claim_lost" | "retry_beyond_window";

/** One structured line per hand-over, so a job never leaves a path silently. */
function logHandOver(entry: { reason: HandOverReason; claimant: string; jobs: string[]; released: number }): void {
  console.warn(JSON.stringify({ event: "fliq.handover", ...entry }));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
