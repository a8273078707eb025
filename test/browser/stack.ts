/**
 * A whole Fliq a browser can reach, started from Node: a fresh database (a scratch database
 * on DATABASE_URL's server, or embedded PGlite), migrations, the WebSocket bridge, a real
 * callback receiver, and the Worker itself served by wrangler's dev server on a free port.
 */
import { unstable_startWorker } from "wrangler";
import { startDbBridge } from "../../scripts/local/bridge";
import { startEmbeddedPostgres } from "../../scripts/local/embedded-postgres";
import { migrateDatabase } from "../../scripts/local/migrate";
import { generateApiToken } from "../../src/auth/tokens";
import { openDatabase } from "../../src/db/client";
import { insertApiToken, insertProject } from "../../src/db/projects";
import { startReceiver } from "../setup/receiver";
import { createScratchDatabase } from "../setup/scratch-database";

export interface FliqStack {
  /** The Worker's origin, e.g. http://127.0.0.1:41234. */
  url: string;
  /** The callback receiver's origin (see test/setup/receiver.ts for its paths). */
  receiverUrl: string;
  /** A new project and a token with these scopes. */
  createProject(scopes: string[]): Promise<{ projectId: string; token: string }>;
  /** Another token of a project. */
  createToken(projectId: string, scopes: string[]): Promise<string>;
  /** Stops everything, newest first. */
  close(): Promise<void>;
}

const WRANGLER_CONFIG = new URL("../../wrangler.toml", import.meta.url).pathname;

export async function startFliqStack(): Promise<FliqStack> {
  const closers: Array<() => Promise<void>> = [];
  const close = async () => {
    for (let closer = closers.pop(); closer; closer = closers.pop()) await closer();
  };
  try {
    const serverUrl = process.env.DATABASE_URL;
    const database = serverUrl ? await createScratchDatabase(serverUrl) : await startEmbeddedPostgres();
    closers.push(database.close);
    await migrateDatabase(database.databaseUrl);
    const bridge = await startDbBridge();
    closers.push(bridge.close);
    const receiver = await startReceiver();
    closers.push(receiver.close);
    process.env.CLOUDFLARE_CF_FETCH_ENABLED = "false";
    process.env.WRANGLER_SEND_METRICS = "false";
    const worker = await unstable_startWorker({
      config: WRANGLER_CONFIG,
      bindings: {
        DATABASE_URL: { type: "plain_text", value: database.databaseUrl },
        LOCAL_DB_PROXY: { type: "plain_text", value: bridge.proxy },
        // The test receiver listens on 127.0.0.1, as `npm start` allows.
        ALLOW_LOOPBACK_TARGETS: { type: "plain_text", value: "true" },
      },
      dev: { server: { hostname: "127.0.0.1", port: 0 }, inspector: false, watch: false, logLevel: "warn" },
    } as Parameters<typeof unstable_startWorker>[0]);
    closers.push(() => worker.dispose());
    await worker.ready;
    const url = new URL(await worker.url).origin;
    const { db, close: closeDb } = openDatabase({ databaseUrl: database.databaseUrl, localDbProxy: bridge.proxy });
    closers.push(closeDb);
    const createToken = async (projectId: string, scopes: string[]) => {
      const generated = await generateApiToken();
      await insertApiToken(
        db,
        { projectId, name: "browser", prefix: generated.prefix, tokenHash: generated.hash, scopes },
        new Date(),
      );
      return generated.token;
    };
    return {
      url,
      receiverUrl: receiver.url,
      async createProject(scopes) {
        const project = await insertProject(db, `browser-${crypto.randomUUID().slice(0, 8)}`, new Date());
        return { projectId: project.id, token: await createToken(project.id, scopes) };
      },
      createToken,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
