/**
 * Builds the Worker for npm start and the bench (scripts/local/workerd.ts, miniflare-worker.ts), in a
 * process of its own that exits when done: wrangler takes about 300 MB to load, and nothing of it is
 * needed once the Worker runs.
 *
 *   build-worker.ts <project root> <out dir>
 *
 * writes to <out dir> the bundle `wrangler deploy` would upload (`wrangler deploy --dry-run`) and
 * `miniflare-options.json`: the Worker's options as wrangler derives them from its wrangler.toml
 * for local runs (compatibility date and flags, vars, Durable Objects, rate limits, static assets),
 * the same derivation `wrangler dev` and the tests' Workers pool use.
 */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const [root, outDir] = process.argv.slice(2);
if (!root || !outDir) throw new Error("usage: build-worker.ts <project root> <out dir>");

// This project's wrangler, whichever folder holds the Worker (the bench builds copies of it).
const wranglerBin = fileURLToPath(new URL("../../node_modules/wrangler/bin/wrangler.js", import.meta.url));
// The bundle first, in wrangler's own process, before this one loads wrangler: one at a time.
execFileSync(process.execPath, [wranglerBin, "deploy", "--dry-run", "--outdir", join(outDir, "bundle")], {
  cwd: root,
  stdio: ["ignore", "ignore", "inherit"],
  env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
});

const { unstable_getMiniflareWorkerOptions } = await import("wrangler");
const { workerOptions } = unstable_getMiniflareWorkerOptions(join(root, "wrangler.toml"));
// The bundle is one ES module with `node:` imports; wrangler's default module rules (text, data
// and wasm files) describe sources it bundled already, and Miniflare refuses them for a module
// path it is given.
const { modulesRules: _bundled, ...options } = workerOptions;
writeFileSync(join(outDir, "miniflare-options.json"), JSON.stringify(options, null, 2));
