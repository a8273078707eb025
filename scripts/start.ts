/**
 * `npm start`: the whole Fliq service on this machine, nothing external. Postgres (embedded
 * PGlite in `.fliq/pgdata`, or DATABASE_URL), the WebSocket bridge the Worker reaches it through
 * (or, with DATABASE_VIA=hyperdrive, a Hyperdrive binding that wrangler points at it), migrations, a dev project and token, a sample callback receiver, `wrangler dev`, and a ticker
 * that fires the cron every minute as production does. Ctrl-C stops all of it.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { createServer, isIPv4 } from "node:net";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { startDbBridge } from "./local/bridge";
import { ensureDevProject } from "./local/dev-project";
import { startEmbeddedPostgres } from "./local/embedded-postgres";
import { migrateDatabase } from "./local/migrate";
import { startSampleReceiver } from "./local/sample-receiver";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const STATE_DIR = join(ROOT, ".fliq");
const PGDATA_DIR = join(STATE_DIR, "pgdata");
const CREDENTIALS_FILE = join(STATE_DIR, "dev-credentials.json");
const API_PORT = portFromEnv("PORT", 8787);
const RECEIVER_PORT = portFromEnv("RECEIVER_PORT", 8789);
const API_URL = `http://127.0.0.1:${API_PORT}`;
const MINUTE_MS = 60_000;
const WRANGLER_STOP_GRACE_MS = 5_000;
/** How the Worker reaches the database: Neon's driver through the bridge, or `pg` through Hyperdrive. */
const VIA_HYPERDRIVE = process.env.DATABASE_VIA === "hyperdrive";

/** Closers of everything started so far; the shutdown runs them newest first. */
const running: Array<() => Promise<void>> = [];
let shuttingDown = false;

async function main(): Promise<void> {
  // Fail before touching `.fliq/pgdata`: a second stack on the same data directory would corrupt it.
  await assertPortFree(API_PORT, "PORT");
  await assertPortFree(RECEIVER_PORT, "RECEIVER_PORT");

  const database = await startDatabase();
  const bridge = !VIA_HYPERDRIVE && isLoopback(database.databaseUrl) ? await startDbBridge() : undefined;
  if (bridge) running.push(bridge.close);
  await migrateDatabase(database.databaseUrl);
  const dev = await ensureDevProject({
    databaseUrl: database.databaseUrl,
    ...(VIA_HYPERDRIVE ? { databaseDriver: "tcp" } : { localDbProxy: bridge?.proxy }),
    credentialsFile: CREDENTIALS_FILE,
  });
  const receiver = await startSampleReceiver({ port: RECEIVER_PORT });
  running.push(receiver.close);

  const wrangler = startWrangler(
    {
      ...(VIA_HYPERDRIVE ? {} : { DATABASE_URL: database.databaseUrl }),
      ...(bridge && { LOCAL_DB_PROXY: bridge.proxy }),
      // Local development only: jobs may call loopback receivers (the sample receiver is on 127.0.0.1).
      ALLOW_LOOPBACK_TARGETS: "true",
    },
    VIA_HYPERDRIVE ? await hyperdriveConfig(database.databaseUrl) : undefined,
  );
  running.push(wrangler.stop);
  await waitForHttp(API_URL, wrangler.exited);

  const ticker = startMinuteTicker(`${API_URL}/cdn-cgi/handler/scheduled?cron=*+*+*+*+*`);
  running.push(async () => ticker.stop());
  const via = VIA_HYPERDRIVE ? "pg through a local Hyperdrive binding" : "Neon's driver through the bridge";
  printBanner({ ...dev, database: `${database.description} (${via})`, receiverUrl: receiver.url });
}

/** Embedded PGlite unless DATABASE_URL names a server. */
async function startDatabase(): Promise<{ databaseUrl: string; description: string }> {
  const serverUrl = process.env.DATABASE_URL;
  if (serverUrl) return { databaseUrl: serverUrl, description: redactPassword(serverUrl) };
  const embedded = await startEmbeddedPostgres({ dataDir: PGDATA_DIR });
  running.push(embedded.close);
  return { databaseUrl: embedded.databaseUrl, description: `embedded PGlite, data in ${relative(ROOT, PGDATA_DIR)}` };
}

interface Wrangler {
  /** Resolves with wrangler's exit code when it exits. */
  exited: Promise<number | null>;
  /** Stops wrangler and every process it started (workerd among them). */
  stop(): Promise<void>;
}

/**
 * wrangler.toml plus a Hyperdrive binding whose local origin is `databaseUrl`, written to
 * `.fliq/` (wrangler.toml itself binds none: a deploy needs the id of one made in your account).
 */
async function hyperdriveConfig(databaseUrl: string): Promise<string> {
  const config = (await readFile(join(ROOT, "wrangler.toml"), "utf8")).replace(/^main = "/m, 'main = "../');
  const path = join(STATE_DIR, "wrangler.hyperdrive.toml");
  await mkdir(STATE_DIR, { recursive: true });
  const binding = `[[hyperdrive]]\nbinding = "HYPERDRIVE"\nid = "local"\nlocalConnectionString = ${JSON.stringify(databaseUrl)}\n`;
  await writeFile(
    path,
    `# Written by npm start (DATABASE_VIA=hyperdrive); edit wrangler.toml instead.\n${config}\n${binding}`,
  );
  return path;
}

/** Runs `wrangler dev` (on `configPath`, wrangler.toml by default) in its own process group, its output passed through. */
function startWrangler(vars: Record<string, string>, configPath?: string): Wrangler {
  const args = ["wrangler", "dev", "--port", String(API_PORT), "--ip", "127.0.0.1"];
  if (configPath) args.push("--config", configPath);
  for (const [name, value] of Object.entries(vars)) args.push("--var", `${name}:${value}`);
  // Its own group, because stopping npx leaves wrangler and workerd running; the group is
  // stopped as a whole. No stdin: a background group reading the terminal would be suspended.
  const child = spawn("npx", args, {
    cwd: ROOT,
    detached: true,
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" },
  });
  const group = child.pid;
  if (group === undefined) throw new Error("could not start wrangler (is npx on PATH?)");
  // Last resort for an exit that skips the shutdown (a crash): never leave workerd behind.
  process.on("exit", () => signalGroup(group, "SIGKILL"));
  const exited = exitCode(child);
  exited.then((code) => {
    if (shuttingDown) return;
    console.error(`wrangler exited (code ${code}); stopping.`);
    return shutDown(code || 1);
  }, console.error);
  return {
    exited,
    async stop() {
      signalGroup(group, "SIGTERM");
      for (let waited = 0; waited < WRANGLER_STOP_GRACE_MS && groupAlive(group); waited += 100) await sleep(100);
      signalGroup(group, "SIGKILL");
    },
  };
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

/** Resolves once `url` answers HTTP at all; rejects if wrangler exits first. */
async function waitForHttp(url: string, exited: Promise<unknown>): Promise<void> {
  let gone = false;
  exited.then(() => {
    gone = true;
  }, console.error);
  // No deadline: on a build error wrangler keeps watching the sources, and a fix makes it serve.
  while (!gone) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await response.body?.cancel();
      return;
    } catch {
      await sleep(250);
    }
  }
  throw new Error("wrangler exited before it served");
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
      if (!aborter.signal.aborted)
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
  for (let close = running.pop(); close; close = running.pop()) {
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
  const job = {
    url: `${info.receiverUrl}/hello`,
    http_method: "POST",
    scheduled_at: new Date(Date.now() + 10_000).toISOString(),
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
             (project ${info.projectId}; kept in ${relative(ROOT, CREDENTIALS_FILE)})
   Signing   ${info.signingSecret}
             (verifies the webhook-signature header of every callback)
   Database  ${info.database}
   Receiver  ${info.receiverUrl} logs every request it gets
   Ticker    fires the cron at every minute boundary

 Schedule a callback to the receiver (scheduled_at is 10 s after this banner; edit it as you like):

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
