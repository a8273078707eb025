/**
 * The tick's watchdog: a Durable Object whose alarm outlives any tick. Cloudflare ends work in
 * flight about 30 s after a runtime update, a few times a week, and a tick lives 65 s, so ticks
 * do get cut. A tick reports to the watchdog every WATCH_BEAT_MS while it owns its window;
 * when one falls silent for WATCHDOG_TIMEOUT_MS, the alarm takes its window over: it gives the
 * silent tick's unstarted claims back and delivers the rest of the window itself, under a watch
 * of its own (so a takeover that is cut is taken over in turn). Jobs the silent tick had started
 * keep their attempt's lease: the tick may still be alive, and firing them again now would
 * duplicate callbacks that may be in flight.
 *
 * It is also the engine's clock, so that an idle Fliq leaves its database alone:
 * - It holds the earliest time anything may need the database (`earliestDueMs`): a job's run
 *   time, a running attempt's lease end, a schedule's next occurrence, or the next periodic
 *   look. Every path that makes something fall due tells it after its write commits (`due`,
 *   see WindowOwners); a tick that looked at the database tells it what is next (`settle`).
 *   A tick whose window ends before that time opens no database connection (see runTick).
 * - It never hides a due job: `earliestDueMs` is lowered by every `due` and raised only by a
 *   `settle`, to the database's answer or to any time announced since that look began,
 *   whichever is earlier. A `due` is sent after its write commits, so a write the look did
 *   not see is announced after the look began. What it does not know (nothing stored yet) is
 *   due now. Every FULL_LOOK_INTERVAL_MS a tick looks anyway (retention, and a write whose
 *   announcement was lost with its invocation).
 * - It wakes the windows' owners: a `due` before their next poll bumps a counter that every
 *   report answers, and the owner looks for due jobs at once. A Durable Object reaches every
 *   owner whatever its database connection is (direct, a transaction-mode pooler, Hyperdrive,
 *   PGlite), where a Postgres NOTIFY reaches only a session on a direct connection.
 */
import { DurableObject } from "cloudflare:workers";
import { openDatabase } from "../db/client";
import { nextFullLookAt, WATCH_BEAT_MS, wakesWindowOwners, watchDeadline } from "../jobs/timing";
import { type Bindings, readSettings } from "../settings";
import { outboundOf } from "./deliver";
import type { WindowOwners } from "./delivery-run";
import { logEngineFault } from "./engine-log";
import { takeOverWindow } from "./tick";
import type { WatchAnswer, WindowWatch } from "./window-reports";

/** The one watchdog of a deployment. */
export const WATCHDOG_NAME = "ticks";

/** A window's owner as the watchdog knows it: its claim, the window's end, and when it must next be heard from. */
export interface Watch {
  claimant: string;
  windowEndMs: number;
  deadlineMs: number;
}

const WATCH_PREFIX = "watch:";
/** Storage keys of the clock: the earliest due time, and when a tick last looked at the database. */
const EARLIEST_DUE_KEY = "earliestDueMs";
const LAST_LOOK_KEY = "lastLookMs";

export class TickWatchdog extends DurableObject<Bindings> {
  /**
   * Wake-ups so far, in memory: owners compare the answer with the last one they saw. The
   * random start makes an object that was evicted and started again answer differently, so an
   * owner takes one look too many rather than miss a wake-up.
   */
  private wakeUps = Math.floor(Math.random() * 1e9);
  /** The earliest due time announced since each open look began, by the looking tick's claimant. */
  private readonly looks = new Map<string, number>();
  /** Stored values, read once when the object starts (0: unknown, so due now). */
  private earliestDueMs = 0;
  private lastLookMs = 0;

  constructor(ctx: DurableObjectState, env: Bindings) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => {
      this.earliestDueMs = (await ctx.storage.get<number>(EARLIEST_DUE_KEY)) ?? 0;
      this.lastLookMs = (await ctx.storage.get<number>(LAST_LOOK_KEY)) ?? 0;
    });
  }

  /** The owner of `claimant`'s window is alive: re-arms its deadline. */
  async beat(claimant: string, windowEndMs: number): Promise<WatchAnswer> {
    const watch: Watch = { claimant, windowEndMs, deadlineMs: watchDeadline(Date.now()) };
    await this.ctx.storage.put(WATCH_PREFIX + claimant, watch);
    await this.armAlarm();
    return this.answer();
  }

  private answer(): WatchAnswer {
    return {
      wakeUps: this.wakeUps,
      earliestDueMs: Math.min(this.earliestDueMs, nextFullLookAt(this.lastLookMs)),
    };
  }

  /**
   * Something falls due at `atMs` (a job written, a retry planned, a claim handed back): sent
   * after the write committed. Wakes the owners if it is due before their next poll.
   */
  async due(atMs: number): Promise<void> {
    for (const [claimant, earliest] of this.looks) this.looks.set(claimant, Math.min(earliest, atMs));
    if (wakesWindowOwners(atMs, Date.now())) this.wakeUps++;
    if (atMs < this.earliestDueMs) {
      this.earliestDueMs = atMs;
      await this.ctx.storage.put(EARLIEST_DUE_KEY, atMs);
    }
  }

  /** A tick is about to read what falls due next from the database (see `settle`). */
  beginLook(claimant: string): void {
    this.looks.set(claimant, Number.POSITIVE_INFINITY);
  }

  /**
   * What the database answered the look `claimant` began: nothing falls due before `nextDueMs`.
   * Announcements since the look began may be earlier (their writes may have committed after
   * it read). An object restarted since the look began knows none of them, so it keeps its time.
   */
  async settle(claimant: string, nextDueMs: number): Promise<void> {
    const announced = this.looks.get(claimant);
    this.looks.delete(claimant);
    if (announced === undefined) return;
    this.earliestDueMs = Math.min(nextDueMs, announced);
    this.lastLookMs = Date.now();
    await this.ctx.storage.put({ [EARLIEST_DUE_KEY]: this.earliestDueMs, [LAST_LOOK_KEY]: this.lastLookMs });
  }

  /** The owner of `claimant`'s window has finished it: there is nothing to take over. */
  async done(claimant: string): Promise<void> {
    await this.ctx.storage.delete(WATCH_PREFIX + claimant);
    await this.armAlarm();
  }

  /** Takes over every window whose owner has fallen silent. */
  override async alarm(): Promise<void> {
    const now = Date.now();
    const watches = await this.ctx.storage.list<Watch>({ prefix: WATCH_PREFIX });
    const silent = [...watches.values()].filter((watch) => watch.deadlineMs <= now);
    await this.ctx.storage.delete(silent.map((watch) => WATCH_PREFIX + watch.claimant));
    await this.armAlarm();
    await Promise.allSettled(silent.map((watch) => this.takeOver(watch)));
  }

  private async takeOver(silent: Watch): Promise<void> {
    const settings = readSettings(this.env);
    const database = openDatabase(settings);
    const claimant = crypto.randomUUID();
    logEngineFault("tick_silent", { claimant: silent.claimant, action: "window taken over", by: claimant });
    const beating = setInterval(() => {
      this.beat(claimant, silent.windowEndMs).catch((error) => logEngineFault("watchdog_beat_failed", {}, error));
    }, WATCH_BEAT_MS);
    try {
      await this.beat(claimant, silent.windowEndMs);
      await takeOverWindow({
        db: database.db,
        silentClaimant: silent.claimant,
        claimant,
        windowEnd: new Date(silent.windowEndMs),
        subrequestBudget: settings.subrequestBudget,
        cpuBudgetMs: settings.cpuBudgetMs,
        outbound: outboundOf(settings),
      });
    } catch (error) {
      logEngineFault("takeover_failed", { claimant: silent.claimant }, error);
    } finally {
      clearInterval(beating);
      await this.done(claimant);
      await database.close();
    }
  }

  /** Sets the alarm for the earliest deadline, or clears it when nothing is watched. */
  private async armAlarm(): Promise<void> {
    const watches = await this.ctx.storage.list<Watch>({ prefix: WATCH_PREFIX });
    const earliest = Math.min(...[...watches.values()].map((watch) => watch.deadlineMs));
    if (Number.isFinite(earliest)) await this.ctx.storage.setAlarm(earliest);
    else await this.ctx.storage.deleteAlarm();
  }
}

function watchdogOf(namespace: DurableObjectNamespace<TickWatchdog>) {
  return namespace.get(namespace.idFromName(WATCHDOG_NAME));
}

/** The deployment's watchdog, as a tick reports to it. */
export function windowWatchOf(namespace: DurableObjectNamespace<TickWatchdog>): WindowWatch {
  const stub = watchdogOf(namespace);
  return {
    beat: (claimant, windowEndMs) => stub.beat(claimant, windowEndMs),
    done: (claimant) => stub.done(claimant),
    beginLook: (claimant) => stub.beginLook(claimant),
    settle: (claimant, nextDueMs) => stub.settle(claimant, nextDueMs),
  };
}

/**
 * Tells the engine's clock, through the watchdog, when something falls due (see WindowOwners).
 * Without the binding there is no clock: every tick looks at the database and finds it.
 */
export function windowOwnersOf(namespace: DurableObjectNamespace<TickWatchdog> | undefined): WindowOwners {
  return {
    async due(atMs) {
      if (namespace) await watchdogOf(namespace).due(atMs);
    },
  };
}
