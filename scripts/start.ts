/**
 * `npm start`: the whole Fliq service on this machine, nothing external. Postgres (embedded
 * PGlite in `.fliq/pgdata`, or DATABASE_URL), the WebSocket bridge the Worker reaches it through
 * (or, with DATABASE_VIA=hyperdrive, a local Hyperdrive binding to it), migrations, a dev project and token, a sample callback
 * receiver, the Worker (the deployable bundle on workerd: scripts/local/workerd.ts), and a ticker
 * that fires the cron every minute as production does. Ctrl-C stops all of it.
 *
 * Each step prints one line with its time as it completes. The Worker (the slowest step) starts
 * alongside the database rather than after it: it needs only the database's address, known
 * before the database is up, and nothing is announced until every step is done.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createServer, isIPv4 } from "node:net";
import { delimiter, join, relative } from "node:path";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { relayWorkerdLog, relayWorkerOutput } from "./local/worker-output";
import { prepareWorkerd } from "./local/workerd";

// The database's modules (PGlite, drizzle, pg) take seconds to load; they are imported where
// needed, after the Worker has been started, so their loading overlaps the Worker's start-up.

const ROOT = fileURLToPath(new URL("..", import.meta.url));
/** Where the local stack keeps its database and credentials; FLIQ_STATE_DIR moves it (tests start stacks of their own). */
const STATE_DIR = process.env.FLIQ_STATE_DIR ?? join(ROOT, ".fliq");
const PGDATA_DIR = join(STATE_DIR, "pgdata");
const CREDENTIALS_FILE = join(STATE_DIR, "dev-credentials.json");
const BUILD_SCRIPT = join(ROOT, "scripts", "local", "build-worker.ts");
/** Miniflare's process, for DATABASE_VIA=hyperdrive. */
const MINIFLARE_SCRIPT = join(ROOT, "scripts", "local", "miniflare-worker.ts");
/** Where the Worker's bundle and workerd's configuration are written. */
const BUILD_DIR = join(STATE_DIR, "worker");
const API_PORT = portFromEnv("PORT", 8787);
const RECEIVER_PORT = portFromEnv("RECEIVER_PORT", 8789);
const API_URL = `http://127.0.0.1:${API_PORT}`;
const MINUTE_MS = 60_000;
const WORKER_STOP_GRACE_MS = 5_000;
/** How the Worker reaches the database: Neon's driver through the bridge, or `pg` through Hyperdrive. */
const VIA_HYPERDRIVE = process.env.DATABASE_VIA === "hyperdrive";

/** Closers of everything started so far; the shutdown runs them newest first. */
const running: Array<() => Promise<void>> = [];
/**
 * Stops the Worker's process and workerd; the shutdown runs it before anything else. They run in a process
 * group of their own, which nothing else stops: stopped last, a shutdown cut short (a second
 * Ctrl-C, a slow database close) would leave them running.
 */
let stopWorker: (() => Promise<void>) | undefined;
let shuttingDown = false;

async function main(): Promise<void> {
  // Fail before touching `.fliq/pgdata`: a second stack on the same data directory would corrupt it.
  await assertPortFree(API_PORT, "PORT");
  await assertPortFree(RECEIVER_PORT, "RECEIVER_PORT");
  log("starting: database, migrations, dev project, receiver, Worker, ticker");

  const database = await planDatabase();
  const { startDbBridge } = await import("./local/bridge");
  const bridge = !VIA_HYPERDRIVE && isLoopback(database.databaseUrl) ? await startDbBridge() : undefined;
  if (bridge) running.push(bridge.close);

  const workerStartedAt = performance.now();
  const vars = {
    ...(VIA_HYPERDRIVE ? {} : { DATABASE_URL: database.databaseUrl }),
    ...(bridge && { LOCAL_DB_PROXY: bridge.proxy }),
    // Local development only: jobs may call loopback receivers (the sample receiver is on 127.0.0.1).
    ALLOW_LOOPBACK_TARGETS: "true",
  };
  const worker = VIA_HYPERDRIVE
    ? startOnMiniflare(vars, database.databaseUrl)
    : startOnWorkerd(vars, await freeLoopbackPort());
  stopWorker = worker.stop;
  log(`${"Worker".padEnd(12)} building it and starting workerd on ${API_URL}, alongside the database`);
  const workerReady = waitForHttp(API_URL, worker.exited).then(() =>
    step("Worker", workerStartedAt, `workerd answers on ${API_URL}`),
  );
  // Awaited after the database steps; until then a Worker that exits is handled by its own exit handler.
  workerReady.catch(() => {});

  await timed("database", () => database.start(), database.description);
  await timed(
    "migrations",
    async () => (await import("./local/migrate")).migrateDatabase(database.databaseUrl),
    "schema up to date",
  );
  const { ensureDevProject } = await import("./local/dev-project");
  const dev = await timed(
    "dev project",
    () =>
      ensureDevProject({
        databaseUrl: database.databaseUrl,
        ...(VIA_HYPERDRIVE ? { databaseDriver: "tcp" as const } : { localDbProxy: bridge?.proxy }),
        credentialsFile: CREDENTIALS_FILE,
      }),
    (project) => `project ${project.projectId}`,
  );
  const { startSampleReceiver } = await import("./local/sample-receiver");
  const receiver = await timed(
    "receiver",
    () => startSampleReceiver({ port: RECEIVER_PORT }),
    (started) => `${started.url} logs every request it gets`,
  );
  running.push(receiver.close);
  await workerReady;

  const ticker = startMinuteTicker(`${worker.scheduledUrl}?cron=*+*+*+*+*`);
  running.push(async () => ticker.stop());
  log(`${"ticker".padEnd(12)} fires the cron now and at every minute boundary`);
  const via = VIA_HYPERDRIVE ? "pg through a local Hyperdrive binding" : "Neon's driver through the bridge";
  printBanner({ ...dev, database: `${database.description} (${via})`, receiverUrl: receiver.url });
}

/** One line of the start-up log, `[fliq]  12.3 s  <text>`, timed from this process's launch. */
function log(text: string): void {
  console.log(`[fliq] ${(performance.now() / 1000).toFixed(1).padStart(5)} s  ${text}`);
}

/** Logs a finished step: its name, what it gave, and how long it took. */
function step(name: string, startedAt: number, detail: string): void {
  log(`${name.padEnd(12)} ${detail} (took ${((performance.now() - startedAt) / 1000).toFixed(1)} s)`);
}

/** Runs one step and logs it when it is done. */
async function timed<T>(name: string, run: () => Promise<T>, detail: string | ((value: T) => string)): Promise<T> {
  const startedAt = performance.now();
  const value = await run();
  step(name, startedAt, typeof detail === "string" ? detail : detail(value));
  return value;
}

/**
 * Embedded PGlite unless DATABASE_URL names a server. Its address is known before it runs (a
 * free port is picked first), so the Worker can start while the database does.
 */
async function planDatabase(): Promise<{ databaseUrl: string; description: string; start(): Promise<void> }> {
  const serverUrl = process.env.DATABASE_URL;
  if (serverUrl) return { databaseUrl: serverUrl, description: redactPassword(serverUrl), start: async () => {} };
  const port = await freeLoopbackPort();
  // What scripts/local/embedded-postgres.ts serves on that port; checked once it runs.
  const databaseUrl = `postgres://postgres:postgres@127.0.0.1:${port}/postgres`;
  return {
    databaseUrl,
    description: `embedded PGlite, data in ${shownPath(PGDATA_DIR)}`,
    async start() {
      const { startEmbeddedPostgres } = await import("./local/embedded-postgres");
      const embedded = await startEmbeddedPostgres({ dataDir: PGDATA_DIR, port });
      if (embedded.databaseUrl !== databaseUrl)
        throw new Error(`PGlite serves ${embedded.databaseUrl}, not ${databaseUrl}`);
      running.push(embedded.close);
    },
  };
}

/** A path as the console shows it: relative to the project when inside it. */
function shownPath(path: string): string {
  const inProject = relative(ROOT, path);
  return inProject.startsWith("..") ? path : inProject;
}

/** A loopback port free right now, for a server started a moment later. */
async function freeLoopbackPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const address = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  if (address === null || typeof address === "string") throw new Error("could not pick a free port");
  return address.port;
}

interface Worker {
  /** Resolves with the Worker's exit code when it exits (or its build fails). */
  exited: Promise<number | null>;
  /** Where the cron trigger calls its `scheduled` handler (`?cron=…&time=…`). */
  scheduledUrl: string;
  /** Stops the Worker's processes. */
  stop(): Promise<void>;
}

/**
 * Builds the Worker (scripts/local/build-worker.ts) and runs it with `vars` on workerd alone
 * (scripts/local/workerd.ts), the cron trigger on `triggerPort`. Its output goes through
 * relayWorkerdLog: the engine's JSON lines are printed readably.
 */
function startOnWorkerd(vars: Record<string, string>, triggerPort: number): Worker {
  let running = startGroup("node", [BUILD_SCRIPT, ROOT, BUILD_DIR]);
  const exited = exitCode(running).then((code) => {
    if (code !== 0 || shuttingDown) return code;
    let workerd: { command: string; args: string[] };
    try {
      workerd = prepareWorkerd({ buildDir: BUILD_DIR, port: API_PORT, triggerPort, extraVars: vars });
    } catch (error) {
      // A binding of a kind npm start cannot provide, say: the message names it.
      console.error(`[fliq] ${error instanceof Error ? error.message : error}`);
      return 1;
    }
    running = startGroup(workerd.command, workerd.args, relayWorkerdLog);
    return exitCode(running);
  });
  return superviseWorker(exited, () => running, `http://127.0.0.1:${triggerPort}/cdn-cgi/handler/scheduled`);
}

/**
 * For DATABASE_VIA=hyperdrive: the Worker through Miniflare's process (scripts/local/miniflare-worker.ts),
 * whose local Hyperdrive binding is a proxy in that process, to `hyperdriveOrigin`.
 */
function startOnMiniflare(vars: Record<string, string>, hyperdriveOrigin: string): Worker {
  const args = [MINIFLARE_SCRIPT, "--root", ROOT, "--out", BUILD_DIR, "--port", String(API_PORT)];
  for (const [name, value] of Object.entries(vars)) args.push("--var", `${name}=${value}`);
  const miniflare = startGroup("node", [...args, "--hyperdrive", hyperdriveOrigin]);
  return superviseWorker(exitCode(miniflare), () => miniflare, `${API_URL}/cdn-cgi/local/scheduled`);
}

/**
 * Starts one of the Worker's processes in a process group of its own, its output relayed. Its own
 * group, because stopping a parent leaves workerd running; the group is stopped as a whole. On the
 * project's Node 22 (node_modules/.bin first on PATH, as npm puts it). No stdin: a background
 * group reading the terminal would be suspended.
 */
function startGroup(
  command: string,
  args: string[],
  relay: (line: string, write: (line: string) => void) => void = relayWorkerOutput,
): ChildProcess {
  const child = spawn(command, args, {
    cwd: ROOT,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      PATH: `${join(ROOT, "node_modules", ".bin")}${delimiter}${process.env.PATH ?? ""}`,
      CLOUDFLARE_CF_FETCH_ENABLED: "false",
      WRANGLER_SEND_METRICS: "false",
    },
  });
  relayLines(child.stdout, (line) => relay(line, console.log));
  relayLines(child.stderr, (line) => relay(line, console.error));
  if (child.pid === undefined) throw new Error(`could not start ${command}`);
  // Last resort for an exit that skips the shutdown (a crash): never leave workerd behind.
  const group = child.pid;
  process.on("exit", () => signalGroup(group, "SIGKILL"));
  return child;
}

/** The Worker that ends with `exited`, `running` being its process now. Its exit stops npm start. */
function superviseWorker(exited: Promise<number | null>, running: () => ChildProcess, scheduledUrl: string): Worker {
  exited.then((code) => {
    if (shuttingDown) return;
    console.error(`the Worker exited (code ${code}); stopping.`);
    return shutDown(code || 1);
  }, console.error);
  return {
    exited,
    scheduledUrl,
    async stop() {
      const group = running().pid;
      if (group === undefined) return;
      signalGroup(group, "SIGTERM");
      for (let waited = 0; waited < WORKER_STOP_GRACE_MS && groupAlive(group); waited += 100) await sleep(100);
      signalGroup(group, "SIGKILL");
    },
  };
}

function relayLines(stream: Readable, onLine: (line: string) => void): void {
  createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on("line", onLine);
}

function exitCode(child: ChildProcess): Promise<number | null> {
  return once(child, "exit").then(([code]) => code as number | null);
}

function signalGroup(group: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-group, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

function groupAlive(group: number): boolean {
  try {
    process.kill(-group, 0);
    return true;
  } catch {
    return false;
  }
}

/** Resolves once `url` answers HTTP at all; rejects if the Worker exits first. */
async function waitForHttp(url: string, exited: Promise<unknown>): Promise<void> {
  let gone = false;
  exited.then(() => {
    gone = true;
  }, console.error);
  // No deadline: building and starting take seconds here, longer on a loaded machine.
  while (!gone) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await response.body?.cancel();
      return;
    } catch {
      await sleep(250);
    }
  }
  throw new Error("the Worker exited before it served");
}

/**
 * Calls the scheduled handler at every minute boundary with that minute as its scheduled time,
 * as production's `* * * * *` trigger does, plus once now: in production some tick always owns
 * the current minute, so jobs due before the first boundary must not wait for it.
 */
function startMinuteTicker(tickUrl: string): { stop(): void } {
  const aborter = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let nextMinute = Math.ceil(Date.now() / MINUTE_MS) * MINUTE_MS;

  const fire = async (scheduledTime: number) => {
    const label = `[ticker] tick ${new Date(scheduledTime).toISOString()}`;
    try {
      const response = await fetch(`${tickUrl}&time=${scheduledTime}`, { signal: aborter.signal });
      const text = await response.text();
      if (!response.ok) console.error(`${label}: ${response.status} ${text}`);
    } catch (error) {
      // fetch reports every network failure as "fetch failed"; the cause says which one.
      // Stopping cuts the tick in flight short (the Worker is stopped first): not worth reporting.
      if (!aborter.signal.aborted && !shuttingDown)
        console.error(`${label}: ${error}${error instanceof Error && error.cause ? ` (${error.cause})` : ""}`);
    }
  };
  const scheduleNext = () => {
    // Timers can run late (a suspended laptop): skip missed minutes, as cron does, never fire twice.
    if (nextMinute <= Date.now()) nextMinute = Math.ceil(Date.now() / MINUTE_MS) * MINUTE_MS;
    timer = setTimeout(() => {
      // Ticks overlap like production ones: a tick waits out its whole minute before it answers.
      void fire(nextMinute);
      nextMinute += MINUTE_MS;
      scheduleNext();
    }, nextMinute - Date.now());
  };

  void fire(Date.now());
  scheduleNext();
  return {
    stop() {
      clearTimeout(timer);
      aborter.abort();
    },
  };
}

/** Stops everything started, newest first, then exits. Safe to call more than once. */
async function shutDown(code: number): Promise<void> {
  if (shuttingDown) return;
  shuttingDown = true;
  const closers = stopWorker ? [...running, stopWorker] : running;
  for (let close = closers.pop(); close; close = closers.pop()) {
    try {
      await close();
    } catch (error) {
      console.error("while stopping:", error);
    }
  }
  process.exit(code);
}

function printBanner(info: {
  projectId: string;
  token: string;
  signingSecret: string;
  database: string;
  receiverUrl: string;
}): void {
  // Relative: the command works whenever it is pasted, and the callback comes 10 s after that.
  const job = {
    url: `${info.receiverUrl}/hello`,
    delay: "10s",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ hello: "world" }),
    max_retries: 3,
  };
  const rule = "─".repeat(78);
  console.log(`
${rule}
 Fliq is running
   API       ${API_URL}
   Dashboard ${API_URL}/dashboard (sign in with the token below)
   Token     ${info.token}
             (project ${info.projectId}; kept in ${shownPath(CREDENTIALS_FILE)})
   Signing   ${info.signingSecret}
             (verifies the webhook-signature header of every callback)
   Database  ${info.database}
   Receiver  ${info.receiverUrl} logs every request it gets
   Ticker    fires the cron at every minute boundary, as production's Cron Trigger does
   Attempts  that do not succeed print one line each, with the reason

 Schedule a callback to the receiver, 10 s after you run this (delay takes "30s", "15m", "1h30m", "2d"):

TOKEN=${info.token}
curl -X POST ${API_URL}/jobs -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" -d '${JSON.stringify(job)}'

 Ctrl-C stops everything.
${rule}
`);
}

async function assertPortFree(port: number, envName: string): Promise<void> {
  const probe = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      probe.once("error", reject);
      probe.listen(port, "127.0.0.1", resolve);
    });
  } catch {
    throw new Error(`port ${port} is in use (another \`npm start\`?); set ${envName} to use another one`);
  }
  await new Promise((resolve) => probe.close(resolve));
}

function portFromEnv(name: string, fallback: number): number {
  const port = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(port) || port <= 0 || port >= 65536) throw new Error(`${name} must be a TCP port number`);
  return port;
}

/** A database on this machine, reached through the bridge; any other (Neon) the driver reaches itself. */
function isLoopback(databaseUrl: string): boolean {
  const host = new URL(databaseUrl).hostname;
  return host === "localhost" || host === "[::1]" || (isIPv4(host) && host.startsWith("127."));
}

function redactPassword(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  if (url.password) url.password = "***";
  return url.toString();
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, () => void shutDown(0));
main().catch((error: unknown) => {
  // A step cut short by Ctrl-C fails too; that is not worth reporting.
  if (!shuttingDown) console.error(error instanceof Error ? error.message : error);
  return shutDown(1);
});
