/**
 * What one invocation may still spend, counted by the code because local workerd enforces none
 * of it and production fails the work that overruns:
 * - subrequests: Workers Paid gives 10,000 by default (`[limits] subrequests`, SUBREQUEST_BUDGET);
 *   an overrun makes `fetch` throw;
 * - CPU: 30 s by default on Paid (`[limits] cpu_ms`, CPU_BUDGET_MS); an overrun ends the
 *   invocation. A Worker cannot read its own CPU time, so the budget counts callbacks at the CPU
 *   one costs (measured in the bench, CPU_MS_PER_CALLBACK) after what the tick itself costs;
 * - Worker invocations: one request may reach 32; every service-binding call counts (a shard,
 *   a `service://` callback) and later calls throw. Whether the 32 count per invocation or for
 *   the whole tree a tick starts is not documented, so each invocation takes an equal share of
 *   what the tree may reach (serviceCallsPerInvocation).
 * A job the budget refuses is handed on (released for the next claimant), never failed; the
 * first refusal of an invocation is one JSON line saying which budget ran out. From then on the
 * invocation is spent: it takes no more work (a window owner would otherwise claim back the jobs
 * it just released), and the jobs it still holds are handed on as they come due.
 */
import { CPU_MS_PER_CALLBACK, CPU_RESERVE_MS, INVOCATIONS_PER_REQUEST } from "../jobs/timing";
import { logEngineFault } from "./engine-log";

/** Which budget refused a job. */
export type BudgetKind = "subrequests" | "cpu" | "worker_invocations";

export interface BudgetOptions {
  /** The invocation's CPU limit in ms (CPU_BUDGET_MS); unbounded when absent. */
  cpuMs?: number;
  /** Service-binding calls (`service://` callbacks) this invocation may make; unbounded when absent. */
  serviceCalls?: number;
  /** Named in the log line, to find the invocation's other lines. */
  claimant?: string;
}

export class SubrequestBudget {
  private used = 0;
  private serviceCallsUsed = 0;
  private readonly cpuCallbacks: number;
  private readonly serviceCallLimit: number;
  /** The budget that ran out first; from then on every job is refused. */
  private exhausted: BudgetKind | undefined;

  constructor(
    readonly limit: number,
    private readonly options: BudgetOptions = {},
  ) {
    this.cpuCallbacks =
      options.cpuMs === undefined
        ? Number.POSITIVE_INFINITY
        : Math.max(0, Math.floor((options.cpuMs - CPU_RESERVE_MS) / CPU_MS_PER_CALLBACK));
    this.serviceCallLimit = options.serviceCalls ?? Number.POSITIVE_INFINITY;
  }

  /** Takes up to `wanted` subrequests and returns how many were granted. */
  take(wanted: number): number {
    const granted = Math.max(0, Math.min(wanted, this.remaining));
    this.used += granted;
    return granted;
  }

  /**
   * Takes what each job needs, in order: a subrequest (and its CPU), and a Worker invocation
   * for a `service://` one. Returns the jobs granted and those refused; the first refusal of
   * the invocation is logged, naming the budget that ran out.
   */
  takeJobs<Job extends { id: string; destination?: string }>(jobs: readonly Job[]): { granted: Job[]; refused: Job[] } {
    const granted: Job[] = [];
    const refused: Job[] = [];
    const wasExhausted = this.exhausted !== undefined;
    for (const job of jobs) {
      this.exhausted ??= this.refusalOf(job);
      if (this.exhausted) {
        refused.push(job);
        continue;
      }
      this.used++;
      if (isServiceCall(job)) this.serviceCallsUsed++;
      granted.push(job);
    }
    if (this.exhausted && !wasExhausted) {
      logEngineFault("budget_spent", {
        budget: this.exhausted,
        limit: this.limitOf(this.exhausted),
        used: this.used,
        handedOn: refused.length,
        claimant: this.options.claimant,
        action: "jobs released for the next claimant; this invocation takes no more",
      });
    }
    return { granted, refused };
  }

  /**
   * Gives back what `takeJobs` took for jobs that will not be fired after all (held back by
   * their flow key or destination, expired, lost to another claimant): a job asked about again
   * and again must not spend a subrequest each time.
   */
  giveBack(jobs: readonly { destination?: string }[]): void {
    for (const job of jobs) {
      this.used = Math.max(0, this.used - 1);
      if (isServiceCall(job)) this.serviceCallsUsed = Math.max(0, this.serviceCallsUsed - 1);
    }
  }

  /** Callbacks still available: the smaller of the subrequests and the CPU left; none once spent. */
  get remaining(): number {
    if (this.exhausted) return 0;
    return Math.max(0, Math.min(this.limit, this.cpuCallbacks) - this.used);
  }

  /** Subrequests used so far. */
  get spent(): number {
    return this.used;
  }

  private refusalOf(job: { destination?: string }): BudgetKind | undefined {
    if (this.used >= this.limit) return "subrequests";
    if (this.used >= this.cpuCallbacks) return "cpu";
    if (isServiceCall(job) && this.serviceCallsUsed >= this.serviceCallLimit) return "worker_invocations";
    return undefined;
  }

  private limitOf(kind: BudgetKind): number {
    if (kind === "subrequests") return this.limit;
    if (kind === "cpu") return this.options.cpuMs ?? 0;
    return this.serviceCallLimit;
  }
}

/**
 * The service-binding calls each invocation of a tick's tree may make for `service://`
 * callbacks: the tree reaches at most INVOCATIONS_PER_REQUEST, the tick and its other shards
 * among them, and the rest is shared equally (a tick that does not fan out keeps 31).
 */
export function serviceCallsPerInvocation(invocations: number): number {
  const shares = Math.max(1, invocations);
  return Math.floor((INVOCATIONS_PER_REQUEST - shares) / shares);
}

/** A `service://` callback reaches a Worker through a binding: one more invocation. */
function isServiceCall(job: { destination?: string }): boolean {
  return job.destination?.startsWith("service:") ?? false;
}
