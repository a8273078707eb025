import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

export default defineConfig({
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
    globalSetup: ["./test/setup/global-setup.ts"],
    include: ["test/**/*.test.ts"],
    // One database and one receiver serve every file, and ticks claim any project's due jobs:
    // files run one after another so one file's tick never fires another file's jobs.
    fileParallelism: false,
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
