import type { MiddlewareHandler } from "hono";
import type { Database } from "../db/client";
import { openDatabase } from "../db/client";
import type { Bindings } from "../settings";
import { readSettings } from "../settings";

/**
 * One database pool per request, ended after the response is sent (Workers cannot share a
 * socket across requests). Used by the API's paths and the dashboard alike.
 */
export const databasePerRequest: MiddlewareHandler<{ Bindings: Bindings; Variables: { db: Database } }> = async (
  c,
  next,
) => {
  const database = openDatabase(readSettings(c.env));
  c.set("db", database.db);
  try {
    await next();
  } finally {
    c.executionCtx.waitUntil(database.close());
  }
};
