/**
 * Fires prepared callbacks at their instant, never before it, at most `capacity` at once:
 * Workers allow an invocation six simultaneous outgoing connections, and local workerd
 * enforces none, so the cap lives in our code. One timer serves the whole queue (for the
 * earliest callback that may fire once its time comes) and a finished callback hands its
 * connection straight to the next due one. A timer and a semaphore wait per callback were a
 * measurable share of an invocation's CPU when thousands of callbacks fire in a second.
 *
 * Callbacks travel in lanes (one per project and destination host; see `laneOf`), and the lanes
 * are bulkheads: a free connection goes to the due lane with the fewest callbacks in flight,
 * so one project's burst never starves another's, and lanes not proven fast (slow, hanging,
 * or not yet answered) hold at most `capacity - FAST_RESERVE` connections together, so a
 * target that hangs until its timeout can delay only its own callbacks and the other slow ones.
 * An untried lane may always send one callback, to show how fast it is.
 */
import { FAST_RESERVE, SLOW_LANE_MS } from "../jobs/timing";

/** Weight of the newest duration in a lane's running average. */
const LATENCY_SMOOTHING = 0.3;

/** What the queue needs of a callback: when it fires, and which lane it travels in. */
export interface Firable {
  fireAtMs: number;
  lane: string;
}

/** Lanes whose speed is remembered after they empty; past this many the memory starts over. */
const LANES_REMEMBERED = 1_000;

/**
 * The lane of a callback: its project and its destination, the URL's scheme and host (with
 * port). Per host, not per URL: paths often carry ids, and a host is what gets slow.
 */
export function laneOf(projectId: string, url: string): string {
  return `${projectId} ${/^[^/?#]*\/\/[^/?#]*/.exec(url)?.[0] ?? url}`;
}

interface Lane<T> {
  /** Callbacks not yet fired, soonest first. */
  waiting: T[];
  /** Start instants of the callbacks in flight. */
  inFlightSince: number[];
  /** Running average of finished callbacks' durations; null until one finishes. */
  latencyMs: number | null;
}

export class FireQueue<T extends Firable> {
  /** Lanes with callbacks waiting or in flight. */
  private readonly lanes = new Map<string, Lane<T>>();
  /** How fast emptied lanes were, so a lane that fills again keeps its standing. */
  private readonly latencyOfEmptied = new Map<string, number | null>();
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
    let lane = this.lanes.get(item.lane);
    if (!lane) {
      lane = { waiting: [], inFlightSince: [], latencyMs: this.latencyOfEmptied.get(item.lane) ?? null };
      this.lanes.set(item.lane, lane);
    }
    // Callbacks mostly arrive in fire order, so the place is found from the end.
    let at = lane.waiting.length;
    while (at > 0 && lane.waiting[at - 1].fireAtMs > item.fireAtMs) at--;
    lane.waiting.splice(at, 0, item);
    this.release();
  }

  /** The most callbacks that were ever in flight at once. */
  get peakConcurrency(): number {
    return this.peak;
  }

  /** Fires every due callback a connection is free for, and sets the timer for the next one. */
  private release(): void {
    const now = Date.now();
    while (this.active < this.capacity) {
      const lane = this.nextLane(now, true);
      if (!lane) break;
      this.start(lane, lane.waiting.shift() as T, now);
    }
    const next = this.active < this.capacity ? this.nextLane(now, false) : undefined;
    if (next) this.wakeAt(next.waiting[0].fireAtMs, now);
  }

  /**
   * The lane the next free connection goes to: among lanes that may take one, the one with
   * the fewest callbacks in flight, then the earliest. `dueOnly` limits it to lanes whose
   * first callback is due.
   */
  private nextLane(now: number, dueOnly: boolean): Lane<T> | undefined {
    let unproven = 0;
    for (const lane of this.lanes.values()) if (!isFast(lane, now)) unproven += lane.inFlightSince.length;
    const unprovenMayStart = unproven < this.capacity - FAST_RESERVE;
    let best: Lane<T> | undefined;
    for (const lane of this.lanes.values()) {
      const head = lane.waiting[0];
      if (!head || (dueOnly && head.fireAtMs > now)) continue;
      if (!unprovenMayStart && !isFast(lane, now) && !isUntried(lane)) continue;
      if (
        !best ||
        lane.inFlightSince.length < best.inFlightSince.length ||
        (lane.inFlightSince.length === best.inFlightSince.length && head.fireAtMs < best.waiting[0].fireAtMs)
      ) {
        best = lane;
      }
    }
    return best;
  }

  private start(lane: Lane<T>, item: T, now: number): void {
    this.active++;
    this.peak = Math.max(this.peak, this.active);
    lane.inFlightSince.push(now);
    const settled = () => {
      const finishedAt = Date.now();
      lane.inFlightSince.splice(lane.inFlightSince.indexOf(now), 1);
      const duration = finishedAt - now;
      lane.latencyMs =
        lane.latencyMs === null ? duration : lane.latencyMs + LATENCY_SMOOTHING * (duration - lane.latencyMs);
      if (lane.waiting.length === 0 && lane.inFlightSince.length === 0) {
        // Only busy lanes are looked at when a connection frees up; an empty one keeps its speed aside.
        this.lanes.delete(item.lane);
        if (this.latencyOfEmptied.size >= LANES_REMEMBERED) this.latencyOfEmptied.clear();
        this.latencyOfEmptied.set(item.lane, lane.latencyMs);
      }
      this.active--;
      this.release();
    };
    this.fire(item).then(settled, (error) => {
      console.error("firing a callback failed", error);
      settled();
    });
  }

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

/** A lane never answered and with nothing in flight may always send one callback to show its speed. */
function isUntried(lane: Lane<Firable>): boolean {
  return lane.latencyMs === null && lane.inFlightSince.length === 0;
}

/** A lane is fast once its callbacks have answered quickly and none in flight has been out too long. */
function isFast(lane: Lane<Firable>, now: number): boolean {
  if (lane.latencyMs === null || lane.latencyMs >= SLOW_LANE_MS) return false;
  return lane.inFlightSince.every((since) => now - since < SLOW_LANE_MS);
}
