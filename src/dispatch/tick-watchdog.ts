/**
 * The tick's watchdog: a Durable Object whose alarm outlives any tick. Cloudflare ends work in
 * flight about 30 s after a runtime update, a few times a week, and a tick lives 65 s, so ticks
 * do get cut. A tick reports to the watchdog every WATCH_BEAT_MS while it owns its window;
 * when one falls silent for WATCHDOG_TIMEOUT_MS, the alarm takes its window over: it gives the
 * silent tick's unstarted claims back and delivers the rest of the window itself, under a watch
 * of its own (so a takeover that is cut is taken over in turn). Jobs the silent tick had started
 * keep their attempt's lease: the tick may still be alive, and firing them again now would
 * duplicate callbacks that may be in flight.
 */
import { DurableObject } from "cloudflare:workers";
import { openDatabase } from "../db/client";
import { type Bindings, readSettings } from "../settings";
import { outboundOf } from "./deliver";
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
  /** The owner of `claimant`'s window is alive: re-arms its deadline. */
  async beat(claimant: string, windowEndMs: number): Promise<void> {
    const watch: Watch = { claimant, windowEndMs, deadlineMs: Date.now() + WATCHDOG_TIMEOUT_MS };
    await this.ctx.storage.put(WATCH_PREFIX + claimant, watch);
    await this.armAlarm();
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

/** The deployment's watchdog, as a tick reports to it. */
export function windowWatchOf(namespace: DurableObjectNamespace<TickWatchdog>): WindowWatch {
  const stub = namespace.get(namespace.idFromName(WATCHDOG_NAME));
  return {
    beat: (claimant, windowEndMs) => stub.beat(claimant, windowEndMs),
    done: (claimant) => stub.done(claimant),
  };
}
