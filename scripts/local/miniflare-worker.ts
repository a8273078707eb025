/**
 * Runs Fliq's Worker through Miniflare, the Workers simulator `wrangler dev` itself drives, for
 * `npm start` with DATABASE_VIA=hyperdrive: a local Hyperdrive binding is a proxy in Miniflare's
 * Node process (its HyperdriveProxyController), so that process has to stay. Otherwise `npm start`
 * runs workerd alone (scripts/local/workerd.ts), without this process or Miniflare's services.
 *
 *   miniflare-worker.ts --root <project> --out <build dir> --port <port> --hyperdrive <url> [--var NAME=VALUE]…
 *
 * It serves the bundle `wrangler deploy` would upload with wrangler.toml's bindings (Durable
 * Objects, rate limits, static assets, vars) as Miniflare configures them, and the cron trigger at
 * `/cdn-cgi/local/scheduled?cron=…&time=…`. The Worker's console output is this process's stdout
 * and stderr; SIGTERM or SIGINT stops workerd, then this process.
 *
 * Why not `wrangler dev`: it is a development server. Around the Worker it keeps wrangler's own
 * process, a bundler watching the sources, a DevTools session and a proxy Worker in a second
 * workerd: npm start took about 900 MB of memory idle and 1.2 GB under load with it
 * (docs/benchmark.md). `npm run dev` is `wrangler dev`, for editing Fliq with reloads.
 *
 * Node runs this file itself (Node 22's type stripping: it imports no TypeScript of its own), not
 * through tsx.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { convertV4MiniflareOptions, Miniflare } from "miniflare";

const { values } = parseArgs({
  options: {
    root: { type: "string" },
    out: { type: "string" },
    port: { type: "string" },
    var: { type: "string", multiple: true, default: [] },
    hyperdrive: { type: "string" },
  },
});
const { root, out, port, hyperdrive } = values;
if (!root || !out || !port || !hyperdrive)
  throw new Error("usage: miniflare-worker.ts --root <project> --out <build dir> --port <port> --hyperdrive <url> …");

const built = spawnSync(process.execPath, [join(import.meta.dirname, "build-worker.ts"), root, out], {
  cwd: root,
  stdio: ["ignore", "inherit", "inherit"],
});
if (built.status !== 0) {
  console.error("[fliq] the Worker did not build (wrangler's message above)");
  process.exit(1);
}

const bundleDir = join(out, "bundle");
const scripts = readdirSync(bundleDir).filter((file) => file.endsWith(".js"));
if (scripts.length !== 1) throw new Error(`expected one module in ${bundleDir}, found ${scripts.join(", ")}`);
const fromConfig = JSON.parse(readFileSync(join(out, "miniflare-options.json"), "utf8"));
const vars = Object.fromEntries(
  (values.var ?? []).map((pair) => {
    const at = pair.indexOf("=");
    if (at < 1) throw new Error(`--var takes NAME=VALUE, not ${pair}`);
    return [pair.slice(0, at), pair.slice(at + 1)];
  }),
);

/**
 * Where Miniflare keeps the directories the configuration names (the rate limits' storage, the
 * email store): its temporary folder, inside the build dir and emptied at each start.
 */
const runtimeDir = join(out, "runtime");
rmSync(runtimeDir, { recursive: true, force: true });
mkdirSync(runtimeDir, { recursive: true });
process.env.TMPDIR = runtimeDir;

// A young generation of at most 4 MiB a semi-space in workerd's isolates instead of V8's 16: under
// npm start's load workerd peaked about 70 MiB lower, for about a tenth fewer creates a second at
// saturation (more frequent scavenges; docs/benchmark.md). Miniflare puts these flags into
// workerd's configuration; setting the variable overrides them.
process.env.MINIFLARE_WORKERD_V8_FLAGS ??= "--max-semi-space-size=4";

const miniflare = new Miniflare(
  convertV4MiniflareOptions({
    host: "127.0.0.1",
    port: Number(port),
    // The cron trigger's endpoint, for npm start's ticker (production's Cron Trigger).
    unsafeTriggerHandlers: true,
    workers: [
      {
        ...fromConfig,
        name: "fliq",
        scriptPath: join(bundleDir, scripts[0]),
        modules: true,
        modulesRoot: bundleDir,
        bindings: { ...fromConfig.bindings, ...vars },
        hyperdrives: { HYPERDRIVE: hyperdrive },
        // The Durable Objects (the tick's watchdog, delivery cells) hold nothing the database
        // does not: kept in memory, as the bench's workerd keeps them, not written to disk.
        unsafeEphemeralDurableObjects: true,
      },
    ],
  }),
);
await miniflare.ready;

let stopping = false;
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    miniflare.dispose().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  });
}
