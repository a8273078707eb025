/**
 * The Fliq Worker: the HTTP API (`fetch`), the one-minute cron tick (`scheduled`),
 * DeliveryCell, the Durable Object a tick hands a share of its jobs to (a fresh invocation
 * with its own limits, as many as a burst needs), ShardRunner, the entry point a tick calls
 * instead (through a loopback service binding to this same Worker) when no cells are bound,
 * and TickWatchdog, the Durable Object that takes over a tick's window when the tick is cut short.
 */
import { exports, WorkerEntrypoint } from "cloudflare:workers";
import { app } from "./app";
import { openDatabase } from "./db/client";
import { unreachableIn } from "./db/connection-errors";
import { outboundOf } from "./dispatch/deliver";
import { cellRunnerOf, deliverShard } from "./dispatch/delivery-cell";
import type { DeliveryReport } from "./dispatch/delivery-run";
import { logEngineFault } from "./dispatch/engine-log";
import { fanOutOf } from "./dispatch/shard-plan";
import { runTick, type Shard } from "./dispatch/tick";
import { windowWatchOf } from "./dispatch/tick-watchdog";
import { type Bindings, readSettings } from "./settings";

export { DeliveryCell } from "./dispatch/delivery-cell";
export { TickWatchdog } from "./dispatch/tick-watchdog";

export class ShardRunner extends WorkerEntrypoint<Bindings> {
  /** Delivers one shard of a tick's jobs. */
  async deliver(shard: Shard): Promise<DeliveryReport> {
    return deliverShard(this.env, shard, (work) => this.ctx.waitUntil(work));
  }
}

export default {
  fetch: app.fetch,

  async scheduled(controller, env, ctx) {
    const settings = readSettings(env);
    const database = openDatabase(settings);
    const scheduledTime = new Date(controller.scheduledTime);
    const fanOut = fanOutOf({ ...settings, cellsBound: settings.deliveryCells !== undefined });
    try {
      await runTick({
        db: database.db,
        scheduledTime,
        // A tick may start a little after its minute; it never runs on an older clock.
        now: new Date(Math.max(controller.scheduledTime, Date.now())),
        limits: { ...settings, maxShards: fanOut.maxInvocations },
        outbound: outboundOf(settings),
        carrier: fanOut.carrier,
        runShard:
          fanOut.carrier === "cells" && settings.deliveryCells
            ? cellRunnerOf(settings.deliveryCells, scheduledTime)
            : (shard) => exports.ShardRunner.deliver(shard),
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
