import { dirname } from "node:path";
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { freeLoopbackPorts } from "./test/setup/free-ports";

/**
 * How the Worker under test reaches the database: Neon's serverless driver through the local
 * bridge (the default), or `pg` through a Hyperdrive binding (DATABASE_VIA=hyperdrive), which
 * miniflare runs against the same database.
 */
const databaseVia = process.env.DATABASE_VIA === "hyperdrive" ? "hyperdrive" : "neon";

export default defineConfig({
  test: {
    // One database and one receiver serve every workerd file, and ticks claim any project's due
    // jobs: files run one after another so one file's tick never fires another file's jobs.
    fileParallelism: false,
    projects: [
      {
        plugins: [
          // Called each time a runtime starts (once per test file).
          cloudflareTest(async ({ inject }) => {
            // Fresh ports for every runtime: the previous file's runtime may still hold its own.
            const [fliqPort, welcomePort] = await freeLoopbackPorts(2);
            const welcome = inject("welcomeWorker");
            return {
              wrangler: { configPath: "./wrangler.toml" },
              miniflare: {
                bindings: {
                  DATABASE_URL: inject("databaseUrl"),
                  LOCAL_DB_PROXY: inject("dbProxy"),
                  RECEIVER_URL: inject("receiverUrl"),
                  DATABASE_KIND: inject("databaseKind"),
                  DATABASE_VIA: databaseVia,
                  // The test receiver listens on 127.0.0.1; SSRF tests call the app with this turned off.
                  ALLOW_LOOPBACK_TARGETS: "true",
                  // Jobs may call the Worker below as service://welcome/… (test/service-target.test.ts).
                  CALLBACK_SERVICES: "welcome=WELCOME_WORKER",
                  // What test/welcome-worker.test.ts needs to know about the example running beside Fliq.
                  WELCOME_EXAMPLE: {
                    fliqUrl: `http://127.0.0.1:${fliqPort}`,
                    workerUrl: `http://127.0.0.1:${welcomePort}`,
                    projectId: welcome.projectId,
                    token: welcome.token,
                    signingSecret: welcome.signingSecret,
                    bundledFiles: welcome.bundledFiles,
                  },
                },
                ...(databaseVia === "hyperdrive" && { hyperdrives: { HYPERDRIVE: inject("hyperdriveOrigin") } }),
                serviceBindings: { WELCOME_WORKER: "callback-service" },
                // Fliq's API on a real loopback socket, for the example Worker to call (test/setup/welcome-worker.ts).
                unsafeDirectSockets: [{ host: "127.0.0.1", port: fliqPort }],
                workers: [
                  {
                    name: "callback-service",
                    modules: true,
                    scriptPath: "./test/fixtures/callback-service.js",
                    compatibilityDate: "2026-11-01",
                  },
                  {
                    // examples/welcome-worker, bundled by test/setup/welcome-worker.ts.
                    name: "welcome-example",
                    modules: true,
                    scriptPath: welcome.scriptPath,
                    // The bundle lives in a temporary directory, outside the project root.
                    modulesRoot: dirname(welcome.scriptPath),
                    compatibilityDate: "2026-11-01",
                    bindings: {
                      FLIQ_URL: `http://127.0.0.1:${fliqPort}`,
                      FLIQ_API_TOKEN: welcome.token,
                      FLIQ_SIGNING_SECRET: welcome.signingSecret,
                      WELCOME_DELAY: "1h",
                      // The test receiver stands in for the email provider: the test reads what was "sent".
                      EMAIL_API_URL: `${inject("receiverUrl")}/ok/welcome-emails`,
                    },
                    unsafeDirectSockets: [{ host: "127.0.0.1", port: welcomePort }],
                  },
                ],
                // Tests make far more requests per token, and fail far more often, than production allows;
                // the rate-limit test swaps in the small limiter.
                ratelimits: {
                  RATE_LIMITER: { namespace_id: "7001", simple: { limit: 1_000_000, period: 60 } },
                  SMALL_RATE_LIMITER: { namespace_id: "7002", simple: { limit: 3, period: 60 } },
                  AUTH_FAILURE_LIMITER: { namespace_id: "7003", simple: { limit: 1_000_000, period: 60 } },
                },
              },
            };
          }),
        ],
        test: {
          name: "workerd",
          globalSetup: ["./test/setup/global-setup.ts"],
          include: ["test/**/*.test.ts"],
          exclude: ["test/browser/**", "test/package/**"],
          fileParallelism: false,
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      {
        // The dashboard in Chromium against a whole running Fliq of its own (test/browser/stack.ts).
        test: {
          name: "browser",
          environment: "node",
          include: ["test/browser/**/*.test.ts"],
          fileParallelism: false,
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        // The client package packed and installed as an outside project would, against `npm start`'s
        // stack (test/package). CI runs it once, on its own (.ci/run), not with each database.
        test: {
          name: "package",
          environment: "node",
          include: ["test/package/**/*.test.ts"],
          fileParallelism: false,
          testTimeout: 60_000,
          hookTimeout: 240_000,
        },
      },
    ],
  },
});
