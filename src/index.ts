/**
 * The Fliq Worker: the HTTP API (`fetch`), the one-minute cron tick (`scheduled`), and
 * ShardRunner, the entry point a tick calls (through a loopback service binding to this
 * same Worker) to deliver part of its jobs in a fresh invocation with its own limits, and
 * TickWatchdog, the Durable Object that takes over a tick's window when the tick is cut short.
 */
import { exports, WorkerEntrypoint } from "cloudflare:workers";
import { app } from "./app";
import { openDatabase } from "./db/client";
import { unreachableIn } from "./db/connection-errors";
import { outboundOf } from "./dispatch/deliver";
import type { DeliveryReport } from "./dispatch/delivery-run";
import { logEngineFault } from "./dispatch/engine-log";
import { runShard, runTick, type Shard } from "./dispatch/tick";
import { windowOwnersOf, windowWatchOf } from "./dispatch/tick-watchdog";
import { type Bindings, readSettings } from "./settings";

export { TickWatchdog } from "./dispatch/tick-watchdog";

export class ShardRunner extends WorkerEntrypoint<Bindings> {
  /** Delivers one shard of a tick's jobs. */
  async deliver(shard: Shard): Promise<DeliveryReport> {
    const settings = readSettings(this.env);
    const database = openDatabase(settings);
    try {
      return await runShard(database.db, shard, {
        subrequestBudget: settings.subrequestBudget,
        outbound: outboundOf(settings),
        owners: windowOwnersOf(settings.tickWatchdog),
      });
    } finally {
      this.ctx.waitUntil(database.close());
    }
  }
}

export default {
  fetch: app.fetch,

  async scheduled(controller, env, ctx) {
    const settings = readSettings(env);
    const database = openDatabase(settings);
    try {
      await runTick({
        db: database.db,
        scheduledTime: new Date(controller.scheduledTime),
        // A tick may start a little after its minute; it never runs on an older clock.
        now: new Date(Math.max(controller.scheduledTime, Date.now())),
        limits: settings,
        outbound: outboundOf(settings),
        runShard: (shard) => exports.ShardRunner.deliver(shard),
        watch: settings.tickWatchdog && windowWatchOf(settings.tickWatchdog),
      });
    } catch (error) {
      // One line that says why (a database it cannot reach: its host and the cause), and the
      // invocation still fails, as the platform should record it; never the statement's dump.
      logEngineFault("tick_failed", { scheduledTime: new Date(controller.scheduledTime).toISOString() }, error);
      throw unreachableIn(error) ?? error;
    } finally {
      ctx.waitUntil(database.close());
    }
  },
} satisfies ExportedHandler<Bindings>;
