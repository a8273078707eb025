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
