import type { MiddlewareHandler } from "hono";
import { openDatabase } from "../db/client";
import { readSettings } from "../settings";
import type { AppEnv } from "./context";

/** One database pool per request (the API's and the dashboard's), ended after the response is sent. */
export const databasePerRequest: MiddlewareHandler<
  Pick<AppEnv, "Bindings"> & { Variables: Pick<AppEnv["Variables"], "db"> }
> = async (c, next) => {
  const database = openDatabase(readSettings(c.env));
  c.set("db", database.db);
  try {
    await next();
  } finally {
    c.executionCtx.waitUntil(database.close());
  }
};
