/**
 * Fliq's Worker on workerd alone, as `npm start` and the bench run it: the bundle `wrangler deploy`
 * uploads (scripts/local/build-worker.ts), its wrangler.toml's compatibility date, flags and vars,
 * and, each a few lines here, what its other bindings are locally:
 *
 * - Durable Objects (the tick's watchdog, delivery cells): kept in memory; they hold nothing the
 *   database does not.
 * - Rate limits: counted in workerd's memory per key in fixed windows, answering `{ success }` as
 *   Cloudflare's binding does.
 * - Static assets (Swagger UI's files for /docs): read from their directory, with their content type.
 * - Service bindings to other Workers: none of them runs here, so each answers 503 saying so.
 *
 * The cron trigger is a second, tiny Worker on a port of its own, bound to the first: its
 * `/cdn-cgi/handler/scheduled?cron=…&time=…` calls the Worker's `scheduled` handler and answers
 * its outcome, as wrangler dev's endpoint of the same path does.
 *
 * Why not the configuration Miniflare (what `wrangler dev` drives) makes: around the Worker it puts
 * an entry Worker, an outbound interceptor, a Durable Object with SQLite behind every rate-limit
 * call, a cache and more. Kept working through 32,000 creates, workerd on it grew to about 1 GB;
 * on this one it holds about 430 MiB from the first 2,000 to the last (docs/benchmark.md, "`npm start`
 * on a workerd configuration of its own").
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

/** The binding through which the trigger Worker reaches Fliq's. */
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

/** The rate-limit binding: fixed windows of `period` seconds, `limit` calls each, per key, in memory. */
const RATE_LIMIT_MODULE = `
export default function rateLimit({ limit, period }) {
  const windows = new Map();
  return {
    async limit({ key = "" } = {}) {
      const now = Date.now();
      if (windows.size > 10000) for (const [k, w] of windows) if (w.endsAt <= now) windows.delete(k);
      let window = windows.get(key);
      if (!window || window.endsAt <= now) windows.set(key, (window = { endsAt: now + period * 1000, count: 0 }));
      window.count += 1;
      return { success: window.count <= limit };
    },
  };
}
`;
const RATE_LIMIT_MODULE_NAME = "fliq-local:rate-limit";

/** The static-assets binding: files from the directory, with the content type their name gives. */
const ASSETS_WORKER = `
const TYPES = { css: "text/css; charset=utf-8", js: "text/javascript; charset=utf-8", html: "text/html; charset=utf-8",
  json: "application/json", map: "application/json", png: "image/png", svg: "image/svg+xml" };
export default {
  async fetch(request, env) {
    const { pathname } = new URL(request.url);
    const type = TYPES[pathname.slice(pathname.lastIndexOf(".") + 1)];
    const file = request.method === "GET" || request.method === "HEAD" ? await env.FILES.fetch(request) : undefined;
    if (!type || !file?.ok) return new Response("Not Found", { status: 404 });
    const response = new Response(file.body, file);
    response.headers.set("Content-Type", type);
    return response;
  },
};
`;

const ABSENT_SERVICE_WORKER = `
export default {
  fetch: (request, env) => new Response(\`the Worker \${env.NAME} is not run here: deploy it, or run it with npm run dev\`, { status: 503 }),
};
`;

/**
 * A young generation of at most 4 MiB a semi-space in workerd's isolates instead of V8's 16: under
 * npm start's load workerd peaked about 70 MiB lower, for about a tenth fewer creates a second at
 * saturation (more frequent scavenges; docs/benchmark.md).
 */
const NPM_START_V8_FLAGS = ["--max-semi-space-size=4"];

/** What workerd needs to know of the Worker: wrangler.toml's settings as wrangler derives them for local runs. */
export interface WorkerSettings {
  compatibilityDate: string;
  compatibilityFlags: string[];
  vars: Record<string, unknown>;
  durableObjects: Array<{ binding: string; className: string; sql: boolean }>;
  rateLimits: Array<{ binding: string; limit: number; period: number }>;
  assets?: { binding: string; directory: string };
  services: Array<{ binding: string; name: string }>;
}

/** The option kinds of wrangler's local options (scripts/local/build-worker.ts) read here, or harmless. */
const HANDLED_OPTIONS = new Set([
  ...["rootPath", "compatibilityDate", "compatibilityFlags", "cronTriggers", "bindings", "durableObjects"],
  ...["ratelimits", "assets", "serviceBindings"],
]);

/**
 * The Worker's settings from `miniflare-options.json` (scripts/local/build-worker.ts). A binding of
 * a kind not provided here (KV, R2, queues, Hyperdrive…) is refused, naming it, rather than left out.
 */
export function workerSettings(options: Record<string, unknown>): WorkerSettings {
  const unhandled = Object.keys(options).filter((kind) => !HANDLED_OPTIONS.has(kind) && !isEmpty(options[kind]));
  if (unhandled.length > 0)
    throw new Error(`workerd's local configuration provides no ${unhandled.join(", ")} bindings (wrangler.toml)`);
  const record = (value: unknown) => (value ?? {}) as Record<string, Record<string, unknown>>;
  const assets = options.assets as { binding: string; directory: string } | undefined;
  return {
    compatibilityDate: String(options.compatibilityDate),
    compatibilityFlags: (options.compatibilityFlags as string[] | undefined) ?? [],
    vars: (options.bindings as Record<string, unknown> | undefined) ?? {},
    durableObjects: Object.entries(record(options.durableObjects)).map(([binding, object]) => ({
      binding,
      className: String(object.className),
      sql: object.useSQLite === true,
    })),
    rateLimits: Object.entries(record(options.ratelimits)).map(([binding, { simple }]) => ({
      binding,
      ...(simple as { limit: number; period: number }),
    })),
    ...(assets && { assets: { binding: assets.binding, directory: assets.directory } }),
    services: Object.entries(record(options.serviceBindings)).map(([binding, service]) => ({
      binding,
      name: typeof service === "string" ? service : String(service.name),
    })),
  };
}

function isEmpty(value: unknown): boolean {
  if (value === undefined || value === null) return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === "object") return Object.values(value).every(isEmpty);
  return false;
}

/**
 * Writes workerd's configuration (config.capnp, and the small Workers it names) into `buildDir`, whose
 * `bundle/` holds the Worker's bundle and `miniflare-options.json` its settings (build-worker.ts), and
 * returns the command that serves the Worker on `port` and the cron trigger on `triggerPort`.
 * `extraVars` are added to wrangler.toml's vars. `bare` keeps only the vars and Durable Objects, as
 * the bench's `workerd` runtime has always run it: no rate limits, static assets or V8 setting.
 */
export function prepareWorkerd(options: {
  buildDir: string;
  port: number;
  triggerPort: number;
  extraVars: Record<string, string>;
  bare?: boolean;
}): { command: string; args: string[] } {
  const { buildDir } = options;
  const settings = workerSettings(JSON.parse(readFileSync(join(buildDir, "miniflare-options.json"), "utf8")));
  if (options.bare) {
    settings.rateLimits = [];
    delete settings.assets;
  }
  settings.vars = { ...settings.vars, ...options.extraVars };
  const modules = readdirSync(join(buildDir, "bundle")).filter((file) => file.endsWith(".js"));
  writeFileSync(join(buildDir, "trigger.js"), TRIGGER_WORKER);
  writeFileSync(join(buildDir, "rate-limit.js"), RATE_LIMIT_MODULE);
  writeFileSync(join(buildDir, "assets.js"), ASSETS_WORKER);
  writeFileSync(join(buildDir, "absent-service.js"), ABSENT_SERVICE_WORKER);
  const v8Flags = options.bare ? [] : NPM_START_V8_FLAGS;
  writeFileSync(join(buildDir, "config.capnp"), capnpConfig(settings, modules, v8Flags, options));
  // --experimental: compatibility flags without a default-on date, as Miniflare runs workerd.
  return { command: workerdBinary(), args: ["serve", "--experimental", join(buildDir, "config.capnp")] };
}

/** The workerd wrangler itself runs: the `workerd` package's main export is its platform binary's path. */
function workerdBinary(): string {
  return (createRequire(import.meta.url)("workerd") as { default: string }).default;
}

function capnpConfig(
  worker: WorkerSettings,
  modules: string[],
  v8Flags: string[],
  { port, triggerPort }: { port: number; triggerPort: number },
): string {
  const text = (value: string) => JSON.stringify(value); // capnp text strings take JSON's escapes
  const list = (items: string[]) => `[${items.join(", ")}]`;
  const compatibility = `compatibilityDate = ${text(worker.compatibilityDate)}`;
  const bindings = [
    ...Object.entries(worker.vars).map(([name, value]) =>
      typeof value === "string"
        ? `(name = ${text(name)}, text = ${text(value)})`
        : `(name = ${text(name)}, json = ${text(JSON.stringify(value))})`,
    ),
    ...worker.durableObjects.map((o) => `(name = ${text(o.binding)}, durableObjectNamespace = ${text(o.className)})`),
    ...worker.rateLimits.map(
      (r) =>
        `(name = ${text(r.binding)}, wrapped = (moduleName = ${text(RATE_LIMIT_MODULE_NAME)}, innerBindings = [` +
        `(name = "limit", json = ${text(String(r.limit))}), (name = "period", json = ${text(String(r.period))})]))`,
    ),
    ...(worker.assets ? [`(name = ${text(worker.assets.binding)}, service = "assets")`] : []),
    ...worker.services.map((s) => `(name = ${text(s.binding)}, service = ${text(`absent-${s.name}`)})`),
  ];
  const namespaces = worker.durableObjects.map(
    (o) => `(className = ${text(o.className)}, uniqueKey = ${text(`fliq-${o.className}`)}, enableSql = ${o.sql})`,
  );
  const services = [
    `(name = "worker", worker = .worker)`,
    `(name = "trigger", worker = .trigger)`,
    // Callbacks and the database bridge are on loopback; production's Worker reaches the Internet.
    `(name = "internet", network = (allow = ["public", "private", "local"]))`,
    ...(worker.assets
      ? [
          `(name = "assets", worker = (modules = [(name = "assets.js", esModule = embed "assets.js")], ${compatibility}, ` +
            `bindings = [(name = "FILES", service = "asset-files")]))`,
          `(name = "asset-files", disk = (path = ${text(worker.assets.directory)}))`,
        ]
      : []),
    ...worker.services.map(
      (s) =>
        `(name = ${text(`absent-${s.name}`)}, worker = (modules = [(name = "absent-service.js", esModule = embed "absent-service.js")], ` +
        `${compatibility}, bindings = [(name = "NAME", text = ${text(s.name)})]))`,
    ),
  ];
  return `using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = ${list(services)},
  sockets = [
    (name = "http", address = ${text(`127.0.0.1:${port}`)}, http = (), service = "worker"),
    (name = "trigger", address = ${text(`127.0.0.1:${triggerPort}`)}, http = (), service = "trigger"),
  ],
  extensions = [(modules = [(name = ${text(RATE_LIMIT_MODULE_NAME)}, internal = true, esModule = embed "rate-limit.js")])],
  # Each console line as JSON ({"timestamp","level","message"}), which npm start unwraps (worker-output.ts).
  structuredLogging = true,
  v8Flags = ${list(v8Flags.map(text))},
);

const worker :Workerd.Worker = (
  modules = ${list(modules.map((file) => `(name = ${text(file)}, esModule = embed ${text(`bundle/${file}`)})`))},
  ${compatibility},
  compatibilityFlags = ${list(worker.compatibilityFlags.map(text))},
  bindings = ${list(bindings)},
  durableObjectNamespaces = ${list(namespaces)},
  durableObjectStorage = (inMemory = void),
  globalOutbound = "internet",
);

const trigger :Workerd.Worker = (
  modules = [(name = "trigger.js", esModule = embed "trigger.js")],
  ${compatibility},
  compatibilityFlags = ["service_binding_extra_handlers"],
  bindings = [(name = ${text(TRIGGER_BINDING)}, service = "worker")],
);
`;
}
