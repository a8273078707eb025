/**
 * A window owner's reports to its watch (the TickWatchdog Durable Object): one now and one every
 * WATCH_BEAT_MS, so a silent owner is taken over within seconds. Each report is answered with
 * the engine's clock (see WatchAnswer), which is how the owner learns, without a database
 * connection, whether anything falls due in its window, and that another path handed it jobs.
 */
import { WATCH_BEAT_MS } from "../jobs/timing";
import { logEngineFault } from "./engine-log";

/** What a report is answered. */
export interface WatchAnswer {
  /** Changes whenever something fell due before the owners' next poll. */
  wakeUps: number;
  /** Nothing needs the database before this instant (see TickWatchdog). */
  earliestDueMs: number;
}

/** Where the owner of a window reports that it is alive, and what it tells the engine's clock. */
export interface WindowWatch {
  beat(claimant: string, windowEndMs: number): Promise<WatchAnswer>;
  done(claimant: string): Promise<void>;
  /** The owner is about to read from the database what falls due next... */
  beginLook(claimant: string): Promise<void>;
  /** ...and this is what it read (`Infinity`: nothing at all). */
  settle(claimant: string, nextDueMs: number): Promise<void>;
}

export class WindowReports {
  private latest: WatchAnswer | undefined;
  /** A report failed: the clock's answers cannot be relied on for this window. */
  private failed = false;
  private readonly timer: ReturnType<typeof setInterval> | undefined;
  private readonly listeners = new Set<() => void>();
  /** Called when an answer shows a wake-up since the one before. */
  onWake: () => void = () => {};
  /** Whether a wake-up came before `onWake` was set. */
  woken = false;

  constructor(
    private readonly watch: WindowWatch | undefined,
    private readonly claimant: string,
    private readonly windowEnd: Date,
  ) {
    if (!watch) return;
    void this.report();
    this.timer = setInterval(() => void this.report(), WATCH_BEAT_MS);
  }

  /**
   * Resolves true as soon as something may fall due before `instant` (or the clock cannot say:
   * no watch, or a report failed), false once `instant` has passed with nothing due.
   */
  dueBefore(instant: Date): Promise<boolean> {
    return new Promise((resolve) => {
      const check = () => {
        let answer: boolean | undefined;
        if (!this.watch || this.failed) answer = true;
        else if (this.latest && this.latest.earliestDueMs < instant.getTime()) answer = true;
        else if (this.latest && Date.now() >= instant.getTime()) answer = false;
        if (answer === undefined) return;
        this.listeners.delete(check);
        resolve(answer);
      };
      this.listeners.add(check);
      check();
    });
  }

  /** Tells the clock what falls due next, as `read` finds it in the database (see TickWatchdog.settle). */
  async settle(read: () => Promise<number | null>): Promise<void> {
    if (!this.watch) return;
    await this.watch.beginLook(this.claimant);
    const nextDueMs = await read();
    await this.watch.settle(this.claimant, nextDueMs ?? Number.POSITIVE_INFINITY);
  }

  /** Stops reporting and tells the watch the window is finished. */
  async stop(): Promise<void> {
    if (!this.watch) return;
    if (this.timer !== undefined) clearInterval(this.timer);
    await this.watch
      .done(this.claimant)
      .catch((error) => logEngineFault("watch_done_failed", { claimant: this.claimant }, error));
  }

  private async report(): Promise<void> {
    if (!this.watch) return;
    try {
      const answer = await this.watch.beat(this.claimant, this.windowEnd.getTime());
      if (this.latest && answer.wakeUps !== this.latest.wakeUps) {
        this.woken = true;
        this.onWake();
      }
      this.latest = answer;
    } catch (error) {
      this.failed = true;
      logEngineFault("watch_beat_failed", { claimant: this.claimant }, error);
    }
    for (const listener of this.listeners) listener();
  }
}
