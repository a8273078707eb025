/**
 * The Fliq Worker: the HTTP API (`fetch`) and the one-minute cron tick (`scheduled`).
 */
import { app } from "./api/app";
import { openDatabase } from "./db/client";
import { runTick } from "./dispatch/tick";
import { type Bindings, readSettings } from "./settings";

export default {
  fetch: app.fetch,

  async scheduled(controller, env, ctx) {
    const database = openDatabase(readSettings(env));
    try {
      // A tick may start a little after its scheduled minute; it never runs on an older clock.
      const now = new Date(Math.max(controller.scheduledTime, Date.now()));
      await runTick({ db: database.db, now });
    } finally {
      ctx.waitUntil(database.close());
    }
  },
} satisfies ExportedHandler<Bindings>;
