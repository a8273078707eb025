import type { Duplex } from "node:stream";
import { Pool as NeonPool, neon, neonConfig } from "@neondatabase/serverless";
import { drizzle as drizzleHttp } from "drizzle-orm/neon-http";
import { drizzle as drizzleNeon, type NeonDatabase } from "drizzle-orm/neon-serverless";
import { drizzle as drizzleTcp } from "drizzle-orm/node-postgres";
import pg from "pg";
import * as pgCloudflare from "pg-cloudflare";
import { DatabaseUnreachable } from "./connection-errors";

/**
 * The one database type every query takes. Both drivers are pg's API (Neon's serverless
 * driver is a fork of `pg`): the same query results, transactions, Pool and notification
 * events, and drizzle's two sessions for them are the same code. So one schema and one set of
 * queries serve both paths; the type is spelled with the Neon session's name. Queries name
 * the schema's tables themselves (no relational `db.query`), so drizzle is not handed the
 * schema: mapping its relations costs CPU on every request, for nothing.
 */
export type Database = NeonDatabase;

/**
 * How the Worker (or a script) reaches Postgres:
 * - `neon`: Neon's serverless driver, over a WebSocket to Neon's proxy (or, locally, to the
 *   bridge in scripts/local/bridge.ts that stands in for it);
 * - `tcp`: `pg` over a TCP socket: in a Worker, to the connection string of a Hyperdrive binding
 *   (any Postgres: Supabase, RDS, Cloud SQL, self-run, or Neon); in Node, straight to the server.
 */
export type DatabaseDriver = "neon" | "tcp";

export interface DatabaseSettings {
  databaseUrl: string;
  /** `neon` unless said otherwise (see DatabaseDriver). */
  databaseDriver?: DatabaseDriver;
  /** WebSocket-to-TCP bridge for a local Postgres (neon driver only); production (Neon) leaves it unset. */
  localDbProxy?: string;
}

export interface DatabaseHandle {
  db: Database;
  /**
   * For work done in ONE statement (no transaction, nothing kept between statements), such as
   * creating jobs. Through Neon it is Neon's SQL-over-HTTP endpoint: one `fetch` per statement,
   * with no WebSocket, no Postgres startup and one round trip (locally, the bridge answers it in
   * Neon's stead). Through Hyperdrive it is `db`. It throws on `transaction()`.
   */
  statementDb: Database;
  /** Ends the pool; call it in `ctx.waitUntil` once the invocation's work is done. */
  close(): Promise<void>;
}

/** What both drivers' Pools have in common, as far as this module uses them. */
interface PoolLike {
  connect(...args: unknown[]): unknown;
  on(event: "error", listener: (error: Error) => void): unknown;
  end(): Promise<void>;
}

/**
 * Opens one Pool for one invocation. Workers cannot share sockets across requests,
 * so a Pool never outlives the invocation that opened it.
 */
export function openDatabase(settings: DatabaseSettings): DatabaseHandle {
  const driver = settings.databaseDriver ?? "neon";
  if (driver === "neon" && settings.localDbProxy) useLocalProxy(settings.localDbProxy);
  neonConfig.webSocketConstructor = WebSocketIgnoringLateWrites as unknown as typeof WebSocket;
  // One connection: the invocation keeps five of its six for callbacks. No idle timeout: the
  // pool lives one invocation and is ended explicitly, and the default 10 s would drop a
  // connection opened ahead of its jobs (or between polls) and log in again.
  const options = { connectionString: settings.databaseUrl, max: 1, idleTimeoutMillis: 0 };
  const pool = driver === "tcp" ? new pg.Pool({ ...options, ...workersSocket() }) : new NeonPool(options);
  reportConnectFailures(pool, settings);
  // After end(), workerd reports "Network connection lost" on the closed socket; a real
  // failure surfaces on the query that hit it, so the pool-level event only needs a listener.
  pool.on("error", () => {});
  const db =
    pool instanceof pg.Pool ? (drizzleTcp({ client: pool }) as unknown as Database) : drizzleNeon({ client: pool });
  const statementDb = driver === "neon" ? overHttp(settings) : db;
  return { db, statementDb, close: () => pool.end() };
}

/**
 * The neon driver's WebSocket, whose writes after the peer went away are dropped. The driver
 * coalesces writes and sends them from a timer; when the database goes away (a restart, a proxy
 * dropping the connection) that timer may fire after the peer disconnected, before the close
 * event says so (`readyState` still reads open), and the runtime's `send()` throws there,
 * outside any query: an uncaught error. The close that follows fails the connection's queries,
 * so the dropped bytes had nowhere to go. A function rather than a subclass, since the
 * runtime's WebSocket may not be extended; `new` returns the socket.
 */
export function WebSocketIgnoringLateWrites(url: string): WebSocket {
  const socket = new WebSocket(url);
  const send = socket.send.bind(socket);
  socket.send = (data) => {
    try {
      send(data);
    } catch (error) {
      // Closed under the driver (the runtime's TypeError): its close event, not this write,
      // reports the loss. Anything else is a fault of ours, and is thrown.
      if (!(error instanceof TypeError)) throw error;
    }
  };
  return socket;
}

/** One drizzle instance over HTTP per database: it holds no socket, so requests may share it. */
const httpDatabases = new Map<string, Database>();

/**
 * The database over Neon's SQL-over-HTTP endpoint (see DatabaseHandle.statementDb). Its results
 * are the WebSocket driver's (the same type parsers of the same driver), so one set of queries
 * serves both.
 */
function overHttp(settings: DatabaseSettings): Database {
  let db = httpDatabases.get(settings.databaseUrl);
  if (!db) {
    neonConfig.fetchFunction = fetchReportingUnreachable;
    db = drizzleHttp({ client: neon(settings.databaseUrl) }) as unknown as Database;
    httpDatabases.set(settings.databaseUrl, db);
  }
  return db;
}

/**
 * `fetch` for the driver's HTTP queries: a request that cannot reach the endpoint, or that the
 * endpoint answers with a 5xx (the database behind it unreachable), becomes DatabaseUnreachable,
 * as on the WebSocket. The driver keeps it as its error's `sourceError`; a statement Postgres
 * refused (400) stays the driver's own error, as a refused statement on the WebSocket does.
 */
async function fetchReportingUnreachable(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
  const databaseUrl = new Headers(init?.headers).get("Neon-Connection-String") ?? "";
  const origin = { databaseUrl, localDbProxy: localProxyInUse };
  let response: Response;
  try {
    response = await fetch(input, init);
  } catch (error) {
    throw DatabaseUnreachable.from(error, origin);
  }
  if (response.status >= 500) {
    throw DatabaseUnreachable.from(new Error(`HTTP ${response.status}: ${await response.text()}`), origin);
  }
  return response;
}

/**
 * Opens the pool's connection now. A run handed jobs ahead of their time calls it first, so
 * the connection's set-up (WebSocket, TLS, authentication) is not paid at the first fire time.
 * The connection is opened and handed back to the pool without a statement: every delivery
 * cell and shard does this, and a `SELECT 1` each was about 0.05 statements a delivered job.
 */
export async function connectNow(db: Database): Promise<void> {
  // drizzle keeps the Pool it was given as `$client` (the Database type does not name it).
  const { $client: pool } = db as unknown as { $client: { connect(): Promise<{ release(): void }> } };
  (await pool.connect()).release();
}

/**
 * In a Worker, pg's socket over `cloudflare:sockets`, named here rather than left to pg's own
 * runtime detection (a require() that the test runtime resolves to an empty module). In Node,
 * `pg-cloudflare` is that empty module, and pg uses Node's own sockets.
 */
function workersSocket(): Pick<pg.PoolConfig, "stream"> {
  // Typed from the package's Node build (the empty module); its Workers build has the class.
  const { CloudflareSocket } = pgCloudflare as { CloudflareSocket?: new (ssl: unknown) => Duplex };
  if (typeof CloudflareSocket !== "function") return {};
  // pg calls the function with the connection's config, although its type does not say so.
  const stream = (config: { ssl?: unknown }) => new CloudflareSocket(config.ssl);
  return { stream: stream as unknown as pg.PoolConfig["stream"] };
}

/**
 * Turns a failure to connect (a refused socket, an unknown host, a WebSocket that never opened,
 * a refused login) into one DatabaseUnreachable error naming the host and the cause, on every
 * path a query takes to a connection. A query that fails on an open connection is left as it is.
 */
function reportConnectFailures(pool: PoolLike, settings: DatabaseSettings): void {
  const connect = pool.connect.bind(pool) as (callback?: (...args: unknown[]) => void) => unknown;
  const unreachable = (error: unknown) => DatabaseUnreachable.from(error, settings);
  pool.connect = (...args: unknown[]) => {
    const callback = args[0];
    if (typeof callback === "function") {
      return connect((error: unknown, ...rest: unknown[]) => callback(error ? unreachable(error) : error, ...rest));
    }
    return (connect() as Promise<unknown>).catch((error: unknown) => {
      throw unreachable(error);
    });
  };
}

/** The bridge the neon driver was pointed at, if any (the driver's settings are global). */
let localProxyInUse: string | undefined;

/**
 * Reaches a local Postgres through the bridge (scripts/local/bridge.ts), which stands in for
 * Neon's proxy, pooler and SQL-over-HTTP endpoint: the password goes in clear with the startup message and the first
 * query in one flight (`pipelineConnect: "password"`, as against Neon, so the Worker computes
 * no SCRAM), inside a plain WebSocket on loopback where production has TLS.
 */
function useLocalProxy(proxy: string): void {
  localProxyInUse = proxy;
  const base = proxy.replace(/\/?$/, "/").replace(/^wss?:\/\//, "");
  neonConfig.wsProxy = (host, port) => `${base}?address=${host}:${port}`;
  // Statements over HTTP go to the bridge's stand-in for Neon's endpoint (scripts/local/sql-over-http.ts).
  neonConfig.fetchEndpoint = `http://${base}sql`;
  neonConfig.useSecureWebSocket = false;
  neonConfig.pipelineTLS = false;
  neonConfig.pipelineConnect = "password";
}
