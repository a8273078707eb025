/**
 * Runs in Node before the workerd tests: a fresh, migrated database (a scratch database on
 * the real Postgres named by DATABASE_URL, or embedded PGlite), the bridge the Worker reaches it
 * through (a WebSocket for Neon's driver; a TCP relay behind miniflare's local Hyperdrive with
 * DATABASE_VIA=hyperdrive), and a real callback receiver.
 */
import type { TestProject } from "vitest/node";
import { startDbBridge } from "../../scripts/local/bridge";
import { startEmbeddedPostgres } from "../../scripts/local/embedded-postgres";
import { migrateDatabase } from "../../scripts/local/migrate";
import { startReceiver } from "./receiver";
import { createScratchDatabase } from "./scratch-database";
import { prepareWelcomeWorker } from "./welcome-worker";

declare module "vitest" {
  export interface ProvidedContext {
    databaseUrl: string;
    databaseKind: "postgres" | "pglite";
    dbProxy: string;
    /** The database's connection string through the bridge's TCP relay: Hyperdrive's local origin. */
    hyperdriveOrigin: string;
    receiverUrl: string;
    /** examples/welcome-worker, run beside Fliq (see test/setup/welcome-worker.ts). */
    welcomeWorker: {
      scriptPath: string;
      bundledFiles: string[];
      projectId: string;
      token: string;
      signingSecret: string;
    };
  }
}

export default async function setup(project: TestProject) {
  const serverUrl = process.env.DATABASE_URL;
  const database = serverUrl ? await createScratchDatabase(serverUrl) : await startEmbeddedPostgres();
  await migrateDatabase(database.databaseUrl);
  const origin = new URL(database.databaseUrl);
  const bridge = await startDbBridge({ relayTo: `${origin.hostname}:${origin.port || 5432}` });
  const hyperdriveOrigin = new URL(database.databaseUrl);
  hyperdriveOrigin.host = bridge.relay ?? "";
  const receiver = await startReceiver();
  const { close: closeWelcomeWorker, ...welcomeWorker } = await prepareWelcomeWorker({
    databaseUrl: database.databaseUrl,
    localDbProxy: bridge.proxy,
  });
  project.provide("databaseUrl", database.databaseUrl);
  project.provide("databaseKind", serverUrl ? "postgres" : "pglite");
  project.provide("dbProxy", bridge.proxy);
  project.provide("hyperdriveOrigin", hyperdriveOrigin.toString());
  project.provide("receiverUrl", receiver.url);
  project.provide("welcomeWorker", welcomeWorker);
  return async () => {
    await closeWelcomeWorker();
    await receiver.close();
    await bridge.close();
    await database.close();
  };
}
