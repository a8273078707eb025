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
 * It is also how the other paths wake a window's owner (see WindowOwners): a path that hands
 * jobs over calls `wake()`, and the owner, which reports every WATCH_BEAT_MS, learns of it in
 * its next report's answer and looks for due jobs at once. A Durable Object reaches every owner
 * whatever its database connection is (direct, a transaction-mode pooler, Hyperdrive, PGlite),
 * where a Postgres NOTIFY reaches only a session on a direct connection.
 */
import { DurableObject } from "cloudflare:workers";
import { openDatabase } from "../db/client";
import { type Bindings, readSettings } from "../settings";
import { outboundOf } from "./deliver";
import type { WindowOwners } from "./delivery-run";
import { logEngineFault } from "./engine-log";
import { takeOverWindow, WATCH_BEAT_MS, type WindowWatch } from "./tick";

/** Silence after which the watchdog takes a window over (owners report every WATCH_BEAT_MS). */
export const WATCHDOG_TIMEOUT_MS = 5_000;
/** The one watchdog of a deployment. */
export const WATCHDOG_NAME = "ticks";

/** A window's owner as the watchdog knows it: its claim, the window's end, and when it must next be heard from. */
export interface Watch {
  claimant: string;
  windowEndMs: number;
  deadlineMs: number;
}

const WATCH_PREFIX = "watch:";

export class TickWatchdog extends DurableObject<Bindings> {
  /**
   * Wake-ups so far, in memory: owners compare the answer with the last one they saw. The
   * random start makes an object that was evicted and started again answer differently, so an
   * owner takes one look too many rather than miss a wake-up.
   */
  private wakeUps = Math.floor(Math.random() * 1e9);

  /**
   * The owner of `claimant`'s window is alive: re-arms its deadline. Answers the wake-up count
   * (see `wake`).
   */
  async beat(claimant: string, windowEndMs: number): Promise<number> {
    const watch: Watch = { claimant, windowEndMs, deadlineMs: Date.now() + WATCHDOG_TIMEOUT_MS };
    await this.ctx.storage.put(WATCH_PREFIX + claimant, watch);
    await this.armAlarm();
    return this.wakeUps;
  }

  /** Jobs are due before the owners' next poll: each owner looks for them after its next report. */
  wake(): void {
    this.wakeUps++;
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
  };
}

/**
 * Wakes the windows' owners, through the watchdog, when jobs fall due before their next poll
 * (see WindowOwners). Without the binding there is no one to wake: the owners' polls find the jobs.
 */
export function windowOwnersOf(namespace: DurableObjectNamespace<TickWatchdog> | undefined): WindowOwners {
  return {
    async wake() {
      if (namespace) await watchdogOf(namespace).wake();
    },
  };
}
