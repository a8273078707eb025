/**
 * Counts an invocation's subrequests against the platform's cap (50 on the Free plan,
 * 10,000 by default on Paid). Local workerd enforces no cap, so the code keeps its own count.
 */
export class SubrequestBudget {
  private used = 0;

  constructor(readonly limit: number) {}

  /** Takes up to `wanted` subrequests and returns how many were granted. */
  take(wanted: number): number {
    const granted = Math.max(0, Math.min(wanted, this.limit - this.used));
    this.used += granted;
    return granted;
  }

  /** Subrequests still available. */
  get remaining(): number {
    return this.limit - this.used;
  }

  /** Subrequests used so far. */
  get spent(): number {
    return this.used;
  }
}
