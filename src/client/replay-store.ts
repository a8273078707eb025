/**
 * Remembers the callbacks a receiver has accepted, so the same signed message sent a second
 * time (a replay) is refused. A message only needs remembering until its timestamp leaves the
 * tolerance window: after that, the timestamp check refuses it anyway.
 */
export interface ReplayStore {
  /**
   * Records `key` until `expiresAt` (ms since the epoch). Answers false when it is already
   * recorded and not expired: the message was seen before. Must be atomic for a real guarantee.
   */
  remember(key: string, expiresAt: number): Promise<boolean> | boolean;
  /** Forgets `key`, so a delivery the handler did not complete can be tried again. */
  forget(key: string): Promise<void> | void;
}

/**
 * The default store: a Map in the isolate's memory. What that guarantees in a Worker, honestly:
 * a replay is caught only when it reaches the same isolate within the window. Cloudflare runs
 * many isolates (one or more per location) and evicts idle ones at any time, so a replay sent
 * to another location, or after an eviction, is not caught. For a guarantee across isolates use
 * a store with an atomic insert (a Durable Object, or a unique row in D1 or Postgres); KV is
 * eventually consistent and cannot give one.
 */
export class MemoryReplayStore implements ReplayStore {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly maxEntries = 10_000,
    private readonly clock: () => number = Date.now,
  ) {}

  remember(key: string, expiresAt: number): boolean {
    const now = this.clock();
    const existing = this.seen.get(key);
    if (existing !== undefined && existing > now) return false;
    if (this.seen.size >= this.maxEntries) this.prune(now);
    this.seen.set(key, expiresAt);
    return true;
  }

  forget(key: string): void {
    this.seen.delete(key);
  }

  /** Drops expired entries, and the oldest ones if it is still full (bounded memory beats a perfect memory). */
  private prune(now: number): void {
    for (const [key, expiresAt] of this.seen) if (expiresAt <= now) this.seen.delete(key);
    for (const key of this.seen.keys()) {
      if (this.seen.size < this.maxEntries) break;
      this.seen.delete(key);
    }
  }
}
