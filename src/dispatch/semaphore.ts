/**
 * Caps how many tasks run at once. Workers allow an invocation six simultaneous outgoing
 * connections, and local workerd enforces none, so the cap lives in our code.
 */
export class Semaphore {
  private active = 0;
  private peak = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(readonly capacity: number) {
    if (capacity < 1) throw new Error("a semaphore needs a capacity of at least 1");
  }

  /** Runs `task` once a slot is free, and frees the slot when it settles. */
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.capacity) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
    this.peak = Math.max(this.peak, this.active);
    try {
      return await task();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }

  /** The most tasks that were ever running at once. */
  get peakConcurrency(): number {
    return this.peak;
  }
}
