/**
 * How the driver of the Hyperdrive path was chosen: `pg` against `postgres` (postgres.js), each
 * bundled by wrangler as a deploy would (nodejs_compat) and run in workerd with a Hyperdrive
 * binding against the local PostgreSQL. Each round: connect, 2,000 small statements one after
 * another ("small"), or ten 5,000-row results ("big"); wall times from inside the Worker, CPU of
 * the workerd process from /proc. `pgnamed` is pg with named (prepared once) statements.
 *
 * Not part of the project's dependencies (`postgres` is not installed); to run it again:
 *   mkdir /tmp/drivers && cd /tmp/drivers && npm install postgres@3.4.9
 *   for d in <checkout>/node_modules/*; do [ -e node_modules/$(basename $d) ] || ln -s $d node_modules/; done
 *   copy this directory's workers to /tmp/drivers/src/, bundle each with
 *     npx wrangler deploy --dry-run -c wrangler-<driver>.toml --outdir out-<driver>
 *   (a wrangler.toml per driver: main = "src/<driver>-worker.js", compatibility_flags = ["nodejs_compat"]), then
 *   node measure.mjs postgres://fliq:fliq@127.0.0.1:5432/<database>
 */

import { readdirSync, readFileSync } from "node:fs";
import { convertV4MiniflareOptions, Miniflare } from "miniflare";

const url = process.argv[2];
const CLOCK = 100;
function workerdCpuMs() {
  let ticks = 0;
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    let stat;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    } catch {
      continue;
    }
    const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (name.startsWith("workerd") && Number(f[1]) === process.pid) ticks += Number(f[11]) + Number(f[12]);
  }
  return (ticks / CLOCK) * 1000;
}
const results = {};
for (let round = 0; round < 3; round++)
  for (const [driver, load] of [
    ["pg", "small"],
    ["pgnamed", "small"],
    ["postgres", "small"],
    ["pg", "big"],
    ["postgres", "big"],
  ]) {
    const mf = new Miniflare(
      convertV4MiniflareOptions({
        modules: true,
        scriptPath: `out-${driver}/${driver}-worker.js`,
        compatibilityDate: "2026-11-01",
        compatibilityFlags: ["nodejs_compat"],
        hyperdrives: { HYPERDRIVE: url },
      }),
    );
    await mf.ready;
    await (
      await mf.dispatchFetch("http://x/", { method: "POST", body: JSON.stringify({ queries: 50, rows: 10 }) })
    ).json(); // warm
    const cpu0 = workerdCpuMs();
    const r = await (
      await mf.dispatchFetch("http://x/", {
        method: "POST",
        body: JSON.stringify(load === "small" ? { queries: 2000, rows: 1 } : { queries: 0, rows: 5000 }),
      })
    ).json();
    const cpu = workerdCpuMs() - cpu0;
    const key = `${driver} ${load}`;
    results[key] ??= [];
    results[key].push({ ...r, workerdCpuMs: cpu });
    await mf.dispose();
  }
for (const [k, v] of Object.entries(results))
  console.log(
    k,
    v.map((r) => `connect ${r.connectMs} small ${r.smallMs} big ${r.bigMs} cpu ${r.workerdCpuMs}`).join(" | "),
  );
