import { dirname } from "node:path";
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { freeLoopbackPorts } from "./test/setup/free-ports";

export default defineConfig({
  plugins: [
    // Called each time a runtime starts (once per test file).
    cloudflareTest(async ({ inject }) => {
      // Fresh ports for every runtime: the previous file's runtime may still hold its own.
      const [fliqPort, welcomePort] = await freeLoopbackPorts(2);
      const welcome = { ...inject("welcomeWorker"), fliqPort, welcomePort };
      return {
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: {
          bindings: {
            DATABASE_URL: inject("databaseUrl"),
            LOCAL_DB_PROXY: inject("dbProxy"),
            RECEIVER_URL: inject("receiverUrl"),
            DATABASE_KIND: inject("databaseKind"),
            // What test/welcome-worker.test.ts needs to know about the example running beside Fliq.
            WELCOME_EXAMPLE: {
              fliqUrl: `http://127.0.0.1:${welcome.fliqPort}`,
              workerUrl: `http://127.0.0.1:${welcome.welcomePort}`,
              projectId: welcome.projectId,
              token: welcome.token,
              signingSecret: welcome.signingSecret,
              bundledFiles: welcome.bundledFiles,
            },
          },
          // Fliq's API on a real loopback socket, for the example Worker to call (test/setup/welcome-worker.ts).
          unsafeDirectSockets: [{ host: "127.0.0.1", port: welcome.fliqPort }],
          workers: [
            {
              name: "welcome-worker",
              modules: true,
              scriptPath: welcome.scriptPath,
              // The bundle lives in a temporary directory, outside the project root.
              modulesRoot: dirname(welcome.scriptPath),
              compatibilityDate: "2026-11-01",
              bindings: {
                FLIQ_URL: `http://127.0.0.1:${welcome.fliqPort}`,
                FLIQ_API_TOKEN: welcome.token,
                FLIQ_SIGNING_SECRET: welcome.signingSecret,
                WELCOME_DELAY: "1h",
                // The test receiver stands in for the email provider: the test reads what was "sent".
                EMAIL_API_URL: `${inject("receiverUrl")}/ok/welcome-emails`,
              },
              unsafeDirectSockets: [{ host: "127.0.0.1", port: welcome.welcomePort }],
            },
          ],
        },
      };
    }),
  ],
  test: {
    globalSetup: ["./test/setup/global-setup.ts"],
    include: ["test/**/*.test.ts"],
    // One database and one receiver serve every file, and ticks claim any project's due jobs:
    // files run one after another so one file's tick never fires another file's jobs.
    fileParallelism: false,
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
