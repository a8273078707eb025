import type { MiddlewareHandler } from "hono";
import { openDatabase } from "../db/client";
import type { AppEnv } from "../http/env";
import { readSettings } from "../settings";

/**
 * One database pool, and one reading of the settings, per request (the API's and the dashboard's), ended after the response is
 * sent and after the work the request left to run after it (`afterResponse`, such as firing a
 * job due within seconds). That work uses this same pool, so an invocation holds one database
 * connection at most and leaves five of its six to callbacks; a second pool would also pay
 * a fresh login (WebSocket, TLS, authentication) at the moment a job is due.
 */
export const databasePerRequest: MiddlewareHandler<
  Pick<AppEnv, "Bindings"> & {
    Variables: Pick<AppEnv["Variables"], "db" | "statementDb" | "settings" | "afterResponse">;
  }
> = async (c, next) => {
  const settings = readSettings(c.env);
  const database = openDatabase(settings);
  c.set("settings", settings);
  const work: Array<Promise<unknown>> = [];
  c.set("db", database.db);
  c.set("statementDb", database.statementDb);
  c.set("afterResponse", (task) => {
    work.push(task);
  });
  try {
    await next();
  } finally {
    // Registered once the handler is done, so it covers every task it left: the pool is ended
    // only when all of them have settled (each task logs its own failures).
    c.executionCtx.waitUntil(Promise.allSettled(work).then(() => database.close()));
  }
};
