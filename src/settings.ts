/**
 * The one place that reads `env`: turns the Worker's bindings into typed settings.
 */
import type { DatabaseDriver } from "./db/client";
import type { DeliveryCell } from "./dispatch/delivery-cell";
import type { TickWatchdog } from "./dispatch/tick-watchdog";

export interface Bindings {
  /**
   * Postgres connection string for Neon's serverless driver (Neon's pooled `-pooler` string in
   * production). A Worker secret. Not needed when HYPERDRIVE is bound.
   */
  DATABASE_URL?: string;
  /**
   * A Hyperdrive binding (wrangler.toml `[[hyperdrive]]`): any Postgres, reached with `pg` over
   * TCP through Cloudflare's pool near the database. When bound, it is used instead of DATABASE_URL.
   */
  HYPERDRIVE?: Hyperdrive;
  /** host:port of a local WebSocket-to-TCP bridge; set only for local runs. */
  LOCAL_DB_PROXY?: string;
  /**
   * Subrequests one invocation may make: wrangler.toml's `[limits] subrequests` (10,000, Workers
   * Paid's default), set beside it in `[vars]`; change both together.
   */
  SUBREQUEST_BUDGET?: string;
  /** CPU ms one invocation may use: wrangler.toml's `[limits] cpu_ms` (30,000), set beside it in `[vars]`. */
  CPU_BUDGET_MS?: string;
  /** Callbacks one invocation is planned to make per second before the tick shards. */
  CALLBACKS_PER_SECOND?: string;
  /** Most invocations one tick fans out to through its own service binding, itself included (without cells). */
  MAX_SHARDS?: string;
  /** Most delivery cells one tick hands shares to (0: none; the tick fans out to MAX_SHARDS self-invocations). */
  MAX_CELLS?: string;
  /** Days finished jobs and old attempts are kept (at least 1, so idempotency keys live 24 h). */
  RETENTION_DAYS?: string;
  /**
   * "true" lets jobs call loopback addresses (127.0.0.0/8, ::1, localhost): local development
   * only (`npm start`, the tests). Production never sets it.
   */
  ALLOW_LOOPBACK_TARGETS?: string;
  /** Bearer token of the admin API (`/admin/...`); unset, the admin API does not exist. A Worker secret. */
  ADMIN_TOKEN?: string;
  /** Most jobs one project may have waiting (`scheduled`); creating more answers 429. */
  MAX_SCHEDULED_JOBS_PER_PROJECT?: string;
  /** Requests per token per period (see wrangler.toml `[[ratelimits]]`); unbound, nothing is limited. */
  RATE_LIMITER?: RateLimit;
  /** Failed authentications per client address per period (wrangler.toml `[[ratelimits]]`); unbound, none is limited. */
  AUTH_FAILURE_LIMITER?: RateLimit;
  /**
   * Workers jobs may call as `service://<name>/<path>`, through service bindings on this Worker:
   * `name=BINDING` pairs, comma-separated (e.g. "welcome=WELCOME_WORKER,billing=BILLING").
   * Each binding is a `[[services]]` entry in wrangler.toml.
   */
  CALLBACK_SERVICES?: string;
  /** The Durable Object that takes over a tick cut short (wrangler.toml `[[durable_objects.bindings]]`). */
  TICK_WATCHDOG?: DurableObjectNamespace<TickWatchdog>;
  /** The Durable Objects that carry a tick's shares past one request's 32 invocations (wrangler.toml). */
  DELIVERY_CELLS?: DurableObjectNamespace<DeliveryCell>;
  /** Swagger UI's files for the API reference at /docs (wrangler.toml `[assets]`); unbound, /docs has no script. */
  API_REFERENCE_ASSETS?: Fetcher;
}

/**
 * Every binding Fliq itself reads. CALLBACK_SERVICES may not name one: a job must never reach
 * Fliq's own database, limiter or secrets through a service:// URL.
 */
const FLIQ_BINDINGS = [
  "DATABASE_URL",
  "HYPERDRIVE",
  "LOCAL_DB_PROXY",
  "SUBREQUEST_BUDGET",
  "CPU_BUDGET_MS",
  "CALLBACKS_PER_SECOND",
  "MAX_SHARDS",
  "MAX_CELLS",
  "RETENTION_DAYS",
  "ALLOW_LOOPBACK_TARGETS",
  "ADMIN_TOKEN",
  "MAX_SCHEDULED_JOBS_PER_PROJECT",
  "RATE_LIMITER",
  "AUTH_FAILURE_LIMITER",
  "CALLBACK_SERVICES",
  "TICK_WATCHDOG",
  "DELIVERY_CELLS",
  "API_REFERENCE_ASSETS",
] as const satisfies ReadonlyArray<keyof Bindings>;
// A binding added to Bindings but not to FLIQ_BINDINGS fails to compile here, naming it.
type UnlistedBinding = Exclude<keyof Bindings, (typeof FLIQ_BINDINGS)[number]>;
const everyBindingListed: [UnlistedBinding] extends [never] ? true : UnlistedBinding = true;
void everyBindingListed;

export interface Settings {
  databaseUrl: string;
  /** `tcp` (pg) through Hyperdrive when it is bound; Neon's serverless driver otherwise. */
  databaseDriver: DatabaseDriver;
  localDbProxy?: string;
  subrequestBudget: number;
  cpuBudgetMs: number;
  callbacksPerSecond: number;
  maxShards: number;
  maxCells: number;
  retentionDays: number;
  allowLoopbackTargets: boolean;
  adminToken?: string;
  maxScheduledJobsPerProject: number;
  /** The Workers a `service://<name>/…` callback reaches, by name (CALLBACK_SERVICES). */
  callbackServices: ReadonlyMap<string, Fetcher>;
  /** Where ticks report that they are alive; unbound, a cut tick waits for its leases and the next tick. */
  tickWatchdog?: DurableObjectNamespace<TickWatchdog>;
  /** Where a tick's shares go when one request's invocations are not enough; unbound, self-invoked shards. */
  deliveryCells?: DurableObjectNamespace<DeliveryCell>;
}

/**
 * Defaults fit Workers Paid: the subrequests and CPU an invocation has there by default, the
 * values of wrangler.toml's `[limits]` (scripts/check-deploy.ts and test/budget.test.ts hold them equal).
 */
const DEFAULTS = {
  subrequestBudget: 10_000,
  cpuBudgetMs: 30_000,
  callbacksPerSecond: 200,
  maxShards: 16,
  /**
   * 128 cells and the tick hold 645 callbacks in flight: 10,000 callbacks of 200 ms in about
   * 3.1 s, 1,000 due within a second on time. The planner uses only as many as a burst needs.
   */
  maxCells: 128,
  retentionDays: 30,
  maxScheduledJobsPerProject: 100_000,
};

/** Reads and checks the Worker's environment. Throws when a binding is missing or malformed. */
export function readSettings(env: Bindings): Settings {
  return {
    ...databaseOf(env),
    subrequestBudget: positiveInteger("SUBREQUEST_BUDGET", env.SUBREQUEST_BUDGET, DEFAULTS.subrequestBudget, 10),
    cpuBudgetMs: positiveInteger("CPU_BUDGET_MS", env.CPU_BUDGET_MS, DEFAULTS.cpuBudgetMs, 10),
    callbacksPerSecond: positiveInteger(
      "CALLBACKS_PER_SECOND",
      env.CALLBACKS_PER_SECOND,
      DEFAULTS.callbacksPerSecond,
      1,
    ),
    maxShards: positiveInteger("MAX_SHARDS", env.MAX_SHARDS, DEFAULTS.maxShards, 1),
    maxCells: positiveInteger("MAX_CELLS", env.MAX_CELLS, DEFAULTS.maxCells, 0),
    retentionDays: positiveInteger("RETENTION_DAYS", env.RETENTION_DAYS, DEFAULTS.retentionDays, 1),
    allowLoopbackTargets: flag("ALLOW_LOOPBACK_TARGETS", env.ALLOW_LOOPBACK_TARGETS),
    adminToken: env.ADMIN_TOKEN || undefined,
    maxScheduledJobsPerProject: positiveInteger(
      "MAX_SCHEDULED_JOBS_PER_PROJECT",
      env.MAX_SCHEDULED_JOBS_PER_PROJECT,
      DEFAULTS.maxScheduledJobsPerProject,
      1,
    ),
    callbackServices: callbackServices(env),
    tickWatchdog: env.TICK_WATCHDOG,
    deliveryCells: env.DELIVERY_CELLS,
  };
}

/** Hyperdrive when bound (any Postgres), else DATABASE_URL through Neon's serverless driver. */
function databaseOf(env: Bindings): Pick<Settings, "databaseUrl" | "databaseDriver" | "localDbProxy"> {
  if (env.HYPERDRIVE) return { databaseUrl: env.HYPERDRIVE.connectionString, databaseDriver: "tcp" };
  if (!env.DATABASE_URL) {
    throw new Error(
      "No database: bind Hyperdrive ([[hyperdrive]] in wrangler.toml) or set DATABASE_URL (`wrangler secret put DATABASE_URL`); see docs/deploy.md",
    );
  }
  return { databaseUrl: env.DATABASE_URL, databaseDriver: "neon", localDbProxy: env.LOCAL_DB_PROXY || undefined };
}

/** A service name becomes the host of the request the Worker receives, so it is a DNS label. */
const SERVICE_NAME = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const BINDING_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** CALLBACK_SERVICES, each name resolved to its service binding; throws on any mistake in it. */
function callbackServices(env: Bindings): ReadonlyMap<string, Fetcher> {
  const services = new Map<string, Fetcher>();
  const entries = (env.CALLBACK_SERVICES ?? "").split(",").map((entry) => entry.trim());
  for (const entry of entries.filter((entry) => entry !== "")) {
    const [name, binding, ...rest] = entry.split("=").map((part) => part.trim());
    if (binding === undefined || rest.length > 0 || !SERVICE_NAME.test(name) || !BINDING_NAME.test(binding)) {
      throw new Error(
        `CALLBACK_SERVICES: "${entry}" is not name=BINDING (a lower-case name of letters, digits and hyphens, then a binding name)`,
      );
    }
    if (services.has(name)) throw new Error(`CALLBACK_SERVICES: "${name}" is listed twice`);
    if ((FLIQ_BINDINGS as readonly string[]).includes(binding)) {
      throw new Error(`CALLBACK_SERVICES: ${binding} is one of Fliq's own bindings; jobs may not call it`);
    }
    const fetcher = (env as unknown as Record<string, unknown>)[binding];
    if (!isFetcher(fetcher)) {
      throw new Error(
        `CALLBACK_SERVICES: "${name}" names ${binding}, which is not a service binding; add [[services]] binding = "${binding}" to wrangler.toml`,
      );
    }
    services.set(name, fetcher);
  }
  return services;
}

function isFetcher(binding: unknown): binding is Fetcher {
  return typeof binding === "object" && binding !== null && typeof (binding as Fetcher).fetch === "function";
}

function positiveInteger(name: string, raw: string | undefined, fallback: number, minimum: number): number {
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < minimum) throw new Error(`${name} must be an integer of at least ${minimum}`);
  return value;
}

function flag(name: string, raw: string | undefined): boolean {
  if (raw === undefined || raw === "" || raw === "false") return false;
  if (raw === "true") return true;
  throw new Error(`${name} must be "true" or "false"`);
}
