/**
 * Fires prepared callbacks at their instant, never before it, at most `capacity` at once:
 * Workers allow an invocation six simultaneous outgoing connections, and local workerd
 * enforces none, so the cap lives in our code. One timer serves the whole queue (for the
 * earliest callback waiting while a connection is free) and a finished callback hands its
 * connection straight to the next due one. A timer and a semaphore wait per callback were a
 * measurable share of an invocation's CPU when thousands of callbacks fire in a second.
 */
export class FireQueue<T extends { fireAtMs: number }> {
  /** Callbacks not yet fired, soonest first. */
  private readonly waiting: T[] = [];
  private active = 0;
  private peak = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private timerAtMs = Number.POSITIVE_INFINITY;

  /** `fire` sends one callback and settles when its connection is free again; it should not reject. */
  constructor(
    readonly capacity: number,
    private readonly fire: (item: T) => Promise<void>,
  ) {
    if (capacity < 1) throw new Error("a fire queue needs a capacity of at least 1");
  }

  /** Queues a callback to fire at `item.fireAtMs`, or as soon as a connection is free after it. */
  add(item: T): void {
    // Callbacks mostly arrive in fire order, so the place is found from the end.
    let at = this.waiting.length;
    while (at > 0 && this.waiting[at - 1].fireAtMs > item.fireAtMs) at--;
    this.waiting.splice(at, 0, item);
    this.release();
  }

  /** The most callbacks that were ever in flight at once. */
  get peakConcurrency(): number {
    return this.peak;
  }

  /** Fires every due callback a connection is free for, and sets the timer for the next one. */
  private release(): void {
    const now = Date.now();
    while (this.active < this.capacity && this.waiting.length > 0 && this.waiting[0].fireAtMs <= now) {
      const item = this.waiting.shift() as T;
      this.active++;
      this.peak = Math.max(this.peak, this.active);
      this.fire(item).then(this.settled, (error) => {
        console.error("firing a callback failed", error);
        this.settled();
      });
    }
    if (this.active < this.capacity && this.waiting.length > 0) this.wakeAt(this.waiting[0].fireAtMs, now);
  }

  private readonly settled = (): void => {
    this.active--;
    this.release();
  };

  private wakeAt(atMs: number, now: number): void {
    if (this.timer !== undefined && this.timerAtMs <= atMs) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerAtMs = atMs;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAtMs = Number.POSITIVE_INFINITY;
      this.release();
    }, atMs - now);
  }
}
