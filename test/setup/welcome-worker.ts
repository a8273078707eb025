/**
 * The end-to-end harness for examples/welcome-worker, prepared in Node before the workerd tests:
 *
 *   test ──HTTP──▶ welcome-worker ──@fliq/client over HTTP──▶ Fliq (the Worker under test)
 *                        ▲                                         │
 *                        └──────── signed callback over HTTP ──────┘ (tick or API delivery)
 *
 * Both Workers run in the test runtime: the example as an auxiliary Worker (bundled here with
 * esbuild, as wrangler would, against the client package packed by `npm pack` and unpacked where
 * an install puts it, so the example uses the package as an outside project does), and each gets a real loopback HTTP socket (Miniflare's direct
 * sockets), so the example calls Fliq and Fliq calls the example over real HTTP, exactly as
 * deployed Workers would. The example's project, token and signing secret are created here,
 * once per run; the ports are picked in vitest.config.ts each time a runtime starts (one per
 * test file), because a runtime may still hold its ports while the next one starts.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { generateApiToken } from "../../src/auth/tokens";
import { openDatabase } from "../../src/db/client";
import { insertApiToken, insertProject, liveSigningSecrets } from "../../src/db/projects";
import { packClientPackage, unpackInto } from "./client-package";

export interface WelcomeWorkerHarness {
  /** The bundled example, for the auxiliary Worker's scriptPath. */
  scriptPath: string;
  /** Files the bundle holds (repository-relative, or absolute outside it), to check what ships in it. */
  bundledFiles: string[];
  /** The example's Fliq project, API token and signing secret. */
  projectId: string;
  token: string;
  signingSecret: string;
  close(): Promise<void>;
}

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export async function prepareWelcomeWorker(database: {
  databaseUrl: string;
  localDbProxy: string;
}): Promise<WelcomeWorkerHarness> {
  const outdir = await mkdtemp(join(tmpdir(), "welcome-worker-"));
  const scriptPath = join(outdir, "index.mjs");
  // The example resolves `@fliq/client` from here, hono from the repository's node_modules.
  const installed = await unpackInto(outdir, await packClientPackage(outdir));
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: ["examples/welcome-worker/src/index.ts"],
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2024",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["module", "main"],
    nodePaths: [installed],
    outfile: scriptPath,
    metafile: true,
    logLevel: "warning",
  });
  const credentials = await createExampleProject(database);
  return {
    scriptPath,
    bundledFiles: Object.keys(result.metafile.inputs),
    ...credentials,
    close: () => rm(outdir, { recursive: true, force: true }),
  };
}

async function createExampleProject(database: { databaseUrl: string; localDbProxy: string }) {
  const { db, close } = openDatabase(database);
  try {
    const now = new Date();
    const project = await insertProject(db, "welcome-worker-example", now);
    const generated = await generateApiToken();
    await insertApiToken(
      db,
      {
        projectId: project.id,
        name: "welcome-worker",
        prefix: generated.prefix,
        tokenHash: generated.hash,
        scopes: ["write"],
      },
      now,
    );
    const [signingSecret] = await liveSigningSecrets(db, project.id, now);
    return { projectId: project.id, token: generated.token, signingSecret };
  } finally {
    await close();
  }
}
