/**
 * Runs a Worker on the workerd binary alone, as Cloudflare runs a deployed one: the bundle
 * `wrangler deploy --dry-run` writes, its wrangler.toml's compatibility date and flags, its vars,
 * and nothing in between.
 *
 * Why not `wrangler dev`: it routes every outgoing fetch through an interceptor Worker of its
 * own (miniflare's `outbound:N` service, which re-issues the request) and keeps a DevTools
 * session attached. Both are dev conveniences production does not have, and on this machine
 * they cap a Worker at about 2,500 signed callbacks a second where workerd alone makes 7,000 to
 * 10,000 (the ceiling scenario measures both; docs/benchmark.md).
 *
 * The cron trigger comes from a second, tiny Worker bound to the first: its
 * `/cdn-cgi/handler/scheduled?cron=…&time=…` calls the Worker's `scheduled` handler through the
 * binding and answers its outcome, as wrangler dev's endpoint of the same path does.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { unstable_readConfig } from "wrangler";
import { type RunningWorker, startProcessGroup } from "./stack";

/** The binding through which the trigger Worker reaches the Worker under test. */
const TRIGGER_BINDING = "WORKER";

const TRIGGER_WORKER = `
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname !== "/cdn-cgi/handler/scheduled") return new Response("not found", { status: 404 });
    const { outcome } = await env.${TRIGGER_BINDING}.scheduled({
      scheduledTime: new Date(Number(url.searchParams.get("time") ?? Date.now())),
      cron: url.searchParams.get("cron") ?? "",
    });
    return new Response(outcome, { status: outcome === "ok" ? 200 : 500 });
  },
};
`;

/** Bundles the Worker in `root` and serves it on workerd at `port`, the trigger at `triggerPort`. */
export async function startWorkerd(options: {
  root: string;
  port: number;
  triggerPort: number;
  /** Opens DevTools' inspector here (for --profile only: an attached session costs CPU). */
  inspectorPort?: number;
  vars: Record<string, string>;
  logFile: string;
}): Promise<RunningWorker> {
  const buildDir = await mkdtemp(join(tmpdir(), "fliq-bench-workerd-"));
  const removeBuild = () => rm(buildDir, { recursive: true, force: true });
  try {
    await promisify(execFile)("npx", ["wrangler", "deploy", "--dry-run", "--outdir", join(buildDir, "bundle")], {
      cwd: options.root,
      env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
    });
    const config = unstable_readConfig({ config: join(options.root, "wrangler.toml") });
    if (!config.compatibility_date) throw new Error(`${options.root}/wrangler.toml sets no compatibility_date`);
    await writeFile(join(buildDir, "trigger.js"), TRIGGER_WORKER);
    await writeFile(
      join(buildDir, "config.capnp"),
      capnpConfig({
        modules: (await readdir(join(buildDir, "bundle"))).filter((file) => file.endsWith(".js")),
        compatibilityDate: config.compatibility_date,
        compatibilityFlags: config.compatibility_flags,
        // wrangler.toml's vars only: the rate limiter stays unbound (nothing is limited).
        vars: { ...stringVars(config.vars), ...options.vars },
        // Its Durable Objects (the tick's watchdog, the engine's clock), kept in memory for the run.
        durableObjects: config.durable_objects.bindings.map((binding: { name: string; class_name: string }) => ({
          binding: binding.name,
          className: binding.class_name,
          sql: config.migrations.some((migration: { new_sqlite_classes?: string[] }) =>
            migration.new_sqlite_classes?.includes(binding.class_name),
          ),
        })),
        port: options.port,
        triggerPort: options.triggerPort,
      }),
    );
    // --verbose: workerd reports an exception thrown outside any handler's promise (in an event
    // listener, say a database WebSocket's) only as an informational line, which it otherwise drops.
    const args = ["serve", "--experimental", "--verbose", join(buildDir, "config.capnp")];
    if (options.inspectorPort !== undefined) args.push(`--inspector-addr=127.0.0.1:${options.inspectorPort}`);
    const worker = await startProcessGroup({
      name: "workerd",
      command: workerdBinary(),
      args,
      cwd: options.root,
      url: `http://127.0.0.1:${options.port}`,
      scheduledUrl: `http://127.0.0.1:${options.triggerPort}/cdn-cgi/handler/scheduled`,
      inspectorPort: options.inspectorPort,
      // workerd lists each service as a target by its name.
      inspectorTarget: "worker",
      logFile: options.logFile,
    });
    return {
      ...worker,
      async stop() {
        await worker.stop();
        await removeBuild();
      },
    };
  } catch (error) {
    await removeBuild();
    throw error;
  }
}

/** The workerd wrangler itself runs: the `workerd` package's main export is its platform binary's path. */
function workerdBinary(): string {
  return (createRequire(import.meta.url)("workerd") as { default: string }).default;
}

function stringVars(vars: Record<string, unknown> | undefined): Record<string, string> {
  return Object.fromEntries(
    Object.entries(vars ?? {}).map(([name, value]) => [
      name,
      typeof value === "string" ? value : JSON.stringify(value),
    ]),
  );
}

/** workerd's configuration: the Worker, its self-contained bindings, the network, and the trigger. */
function capnpConfig(worker: {
  modules: string[];
  compatibilityDate: string;
  compatibilityFlags: string[];
  vars: Record<string, string>;
  durableObjects: Array<{ binding: string; className: string; sql: boolean }>;
  port: number;
  triggerPort: number;
}): string {
  const text = (value: string) => JSON.stringify(value); // capnp text strings take JSON's escapes
  const list = (items: string[]) => `[${items.join(", ")}]`;
  const modules = worker.modules.map((file) => `(name = ${text(file)}, esModule = embed ${text(`bundle/${file}`)})`);
  const bindings = [
    ...Object.entries(worker.vars).map(([name, value]) => `(name = ${text(name)}, text = ${text(value)})`),
    ...worker.durableObjects.map((o) => `(name = ${text(o.binding)}, durableObjectNamespace = ${text(o.className)})`),
  ];
  const namespaces = worker.durableObjects.map(
    (o) => `(className = ${text(o.className)}, uniqueKey = ${text(`fliq-bench-${o.className}`)}, enableSql = ${o.sql})`,
  );
  return `using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "worker", worker = .worker),
    (name = "trigger", worker = .trigger),
    # Callbacks and the database bridge are on loopback; production's Worker reaches the Internet.
    (name = "internet", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [
    (name = "http", address = ${text(`127.0.0.1:${worker.port}`)}, http = (), service = "worker"),
    (name = "trigger", address = ${text(`127.0.0.1:${worker.triggerPort}`)}, http = (), service = "trigger"),
  ],
);

const worker :Workerd.Worker = (
  modules = ${list(modules)},
  compatibilityDate = ${text(worker.compatibilityDate)},
  compatibilityFlags = ${list(worker.compatibilityFlags.map(text))},
  bindings = ${list(bindings)},
  durableObjectNamespaces = ${list(namespaces)},
  durableObjectStorage = (inMemory = void),
  globalOutbound = "internet",
);

const trigger :Workerd.Worker = (
  modules = [(name = "trigger.js", esModule = embed "trigger.js")],
  compatibilityDate = ${text(worker.compatibilityDate)},
  compatibilityFlags = ["service_binding_extra_handlers"],
  bindings = [(name = ${text(TRIGGER_BINDING)}, service = "worker")],
);
`;
}
