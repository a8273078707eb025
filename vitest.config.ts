import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // One database and one receiver serve every workerd file, and ticks claim any project's due
    // jobs: files run one after another so one file's tick never fires another file's jobs.
    fileParallelism: false,
    projects: [
      {
        plugins: [
          cloudflareTest(({ inject }) => ({
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              bindings: {
                DATABASE_URL: inject("databaseUrl"),
                LOCAL_DB_PROXY: inject("dbProxy"),
                RECEIVER_URL: inject("receiverUrl"),
                DATABASE_KIND: inject("databaseKind"),
                // The test receiver listens on 127.0.0.1; SSRF tests call the app with this turned off.
                ALLOW_LOOPBACK_TARGETS: "true",
                // Jobs may call the Worker below as service://welcome/… (test/service-target.test.ts).
                CALLBACK_SERVICES: "welcome=WELCOME_WORKER",
              },
              serviceBindings: { WELCOME_WORKER: "callback-service" },
              workers: [
                {
                  name: "callback-service",
                  modules: true,
                  scriptPath: "./test/fixtures/callback-service.js",
                  compatibilityDate: "2026-11-01",
                },
              ],
              // Tests make far more requests per token than production allows; the rate-limit test
              // swaps in the small limiter.
              ratelimits: {
                RATE_LIMITER: { namespace_id: "7001", simple: { limit: 1_000_000, period: 60 } },
                SMALL_RATE_LIMITER: { namespace_id: "7002", simple: { limit: 3, period: 60 } },
              },
            },
          })),
        ],
        test: {
          name: "workerd",
          globalSetup: ["./test/setup/global-setup.ts"],
          include: ["test/**/*.test.ts"],
          exclude: ["test/browser/**"],
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
    ],
  },
});
