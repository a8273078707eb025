import { neonConfig, Pool } from "@neondatabase/serverless";
import { sql } from "drizzle-orm";
import { drizzle, type NeonDatabase } from "drizzle-orm/neon-serverless";
import * as schema from "./schema";

export type Database = NeonDatabase<typeof schema>;

export interface DatabaseSettings {
  databaseUrl: string;
  /** WebSocket-to-TCP bridge for a local Postgres; production (Neon) leaves it unset. */
  localDbProxy?: string;
}

export interface DatabaseHandle {
  db: Database;
  /** Ends the pool; call it in `ctx.waitUntil` once the invocation's work is done. */
  close(): Promise<void>;
}

/**
 * Opens one Pool for one invocation. Workers cannot share sockets across requests,
 * so a Pool never outlives the invocation that opened it.
 */
export function openDatabase(settings: DatabaseSettings): DatabaseHandle {
  if (settings.localDbProxy) useLocalProxy(settings.localDbProxy);
  // No idle timeout: the pool lives one invocation and is ended explicitly, and the default 10 s
  // would drop a connection opened ahead of its jobs (or between polls) and log in again.
  const pool = new Pool({ connectionString: settings.databaseUrl, max: 1, idleTimeoutMillis: 0 });
  // After end(), workerd reports "Network connection lost" on the closed socket; a real
  // failure surfaces on the query that hit it, so the pool-level event only needs a listener.
  pool.on("error", () => {});
  return { db: drizzle({ client: pool, schema }), close: () => pool.end() };
}

/**
 * Opens the pool's connection now. A run handed jobs ahead of their time calls it first, so
 * the connection's set-up (WebSocket, TLS, authentication) is not paid at the first fire time.
 */
export async function connectNow(db: Database): Promise<void> {
  await db.execute(sql`SELECT 1`);
}

/**
 * Reaches a local Postgres through the bridge (scripts/local/bridge.ts), which stands in for
 * Neon's proxy and pooler: the password goes in clear with the startup message and the first
 * query in one flight (`pipelineConnect: "password"`, as against Neon, so the Worker computes
 * no SCRAM), inside a plain WebSocket on loopback where production has TLS.
 */
function useLocalProxy(proxy: string): void {
  const base = proxy.replace(/\/?$/, "/");
  neonConfig.wsProxy = (host, port) => `${base.replace(/^wss?:\/\//, "")}?address=${host}:${port}`;
  neonConfig.useSecureWebSocket = false;
  neonConfig.pipelineTLS = false;
  neonConfig.pipelineConnect = "password";
}
