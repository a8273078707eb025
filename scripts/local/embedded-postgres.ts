/**
 * Postgres with nothing to install: PGlite (Postgres compiled to WebAssembly) served over TCP by
 * pglite-socket, so `pg`, drizzle-kit and the bridge reach it like any server.
 */
import { mkdir } from "node:fs/promises";
import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";

export interface EmbeddedPostgres {
  /** A connection string `pg` and the neon driver (through the bridge) both accept. */
  databaseUrl: string;
  /** Stops the server, then closes the database so a data directory is left consistent. */
  close(): Promise<void>;
}

// pglite-socket accepts a single connection unless told otherwise; a Pool, the migrator and
// a test run each want their own. PGlite still runs one statement at a time behind them.
const MAX_CONNECTIONS = 100;

/** Starts PGlite on 127.0.0.1 (a random port unless one is given); in memory unless `dataDir` names a directory. */
export async function startEmbeddedPostgres(
  options: { dataDir?: string; port?: number } = {},
): Promise<EmbeddedPostgres> {
  // PGlite creates the data directory itself, but not its parents.
  if (options.dataDir) await mkdir(options.dataDir, { recursive: true });
  const db = await PGlite.create(options.dataDir);
  const server = new PGLiteSocketServer({
    db,
    host: "127.0.0.1",
    port: options.port ?? 0,
    maxConnections: MAX_CONNECTIONS,
  });
  try {
    await server.start();
  } catch (error) {
    await db.close();
    throw error;
  }
  // With port 0 the server reports the port the OS picked.
  const port = Number(server.getServerConn().split(":").at(-1));
  return {
    databaseUrl: embeddedDatabaseUrl(port),
    async close() {
      await server.stop();
      await db.close();
    },
  };
}

/**
 * The connection string of an embedded database on `port`. PGlite ignores the user, password and
 * database name, but a startup packet without a user fails, and a failed startup wedges the
 * session every connection shares. So it names them all, and no client falls back to its own
 * defaults (PGUSER, the OS user).
 */
export function embeddedDatabaseUrl(port: number): string {
  return `postgres://postgres:postgres@127.0.0.1:${port}/postgres`;
}
