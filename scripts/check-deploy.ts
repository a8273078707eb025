/**
 * `npm run check:deploy`: what `wrangler deploy` needs, checked without an account.
 * - `wrangler deploy --dry-run` builds the Worker from wrangler.toml;
 * - the bundle stays within BUNDLE_BUDGET_BYTES compressed;
 * - the budgets the Worker counts against (SUBREQUEST_BUDGET, CPU_BUDGET_MS in [vars]) are
 *   the limits wrangler.toml gives it ([limits] subrequests, cpu_ms). (test/budget.test.ts holds
 *   the code's defaults to the same [vars].)
 */
import { spawnSync } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { unstable_readConfig } from "wrangler";

/**
 * 512 KiB compressed. Workers allow 3 MB on the Free plan and 10 MB on Paid, but a Worker's
 * startup (its global scope, parsed and run on each cold start) must stay under 1 s, and what a
 * bundle weighs is most of what its cold start costs. Fliq is about 360 KiB today (half of it zod),
 * so the budget leaves room for features and fails on an accident: a second database driver, a
 * Node polyfill pulled in whole, a dependency bundled twice.
 */
const BUNDLE_BUDGET_BYTES = 512 * 1024;

const problems: string[] = [];

const outdir = await mkdtemp(join(tmpdir(), "fliq-deploy-"));
try {
  const build = spawnSync("npx", ["wrangler", "deploy", "--dry-run", "--outdir", outdir], {
    encoding: "utf8",
    env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" },
  });
  if (build.status !== 0) {
    problems.push(`wrangler deploy --dry-run failed:\n${build.stdout}\n${build.stderr}`);
  } else {
    let compressed = 0;
    for (const file of await readdir(outdir)) {
      if (/\.(m?js|wasm)$/.test(file)) compressed += gzipSync(await readFile(join(outdir, file))).length;
    }
    const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
    console.log(`bundle: ${kib(compressed)} compressed (budget ${kib(BUNDLE_BUDGET_BYTES)})`);
    if (compressed > BUNDLE_BUDGET_BYTES) {
      problems.push(`the bundle is ${kib(compressed)} compressed, over its budget of ${kib(BUNDLE_BUDGET_BYTES)}`);
    }
  }
} finally {
  await rm(outdir, { recursive: true, force: true });
}

const config = unstable_readConfig({ config: "wrangler.toml" });
const vars = config.vars as Record<string, unknown>;
for (const [limit, variable] of [
  ["subrequests", "SUBREQUEST_BUDGET"],
  ["cpu_ms", "CPU_BUDGET_MS"],
] as const) {
  const configured = config.limits?.[limit];
  const counted = Number(vars[variable]);
  if (configured === undefined || configured !== counted) {
    problems.push(`[limits] ${limit} is ${configured} but [vars] ${variable} is ${vars[variable]}: set them equal`);
  }
}

if (problems.length > 0) {
  for (const problem of problems) console.error(problem);
  process.exit(1);
}
console.log("wrangler deploy --dry-run builds; [limits] and the Worker's budgets agree");
