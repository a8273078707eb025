/**
 * Runs in Node before the workerd tests: a fresh, migrated database (a scratch database on
 * the real Postgres named by DATABASE_URL, or embedded PGlite), the WebSocket bridge the
 * Worker reaches it through, and a real callback receiver.
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
  const bridge = await startDbBridge();
  const receiver = await startReceiver();
  const { close: closeWelcomeWorker, ...welcomeWorker } = await prepareWelcomeWorker({
    databaseUrl: database.databaseUrl,
    localDbProxy: bridge.proxy,
  });
  project.provide("databaseUrl", database.databaseUrl);
  project.provide("databaseKind", serverUrl ? "postgres" : "pglite");
  project.provide("dbProxy", bridge.proxy);
  project.provide("receiverUrl", receiver.url);
  project.provide("welcomeWorker", welcomeWorker);
  return async () => {
    await closeWelcomeWorker();
    await receiver.close();
    await bridge.close();
    await database.close();
  };
}
