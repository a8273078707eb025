/**
 * The processes and servers the bench runs Fliq in: a Worker's processes in their own group,
 * free loopback ports, and a cleanup list that stops everything started, also on errors and Ctrl-C.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { closeSync, openSync } from "node:fs";
import { open } from "node:fs/promises";
import { createServer } from "node:net";

/** Closers of everything started, run newest first. */
export class Cleanup {
  private readonly closers: Array<{ name: string; close: () => Promise<void> }> = [];

  /** Registers something to stop at the end. */
  add(name: string, close: () => Promise<void>): void {
    this.closers.push({ name, close });
  }

  /** Stops everything registered, newest first; one failure does not stop the rest. Safe to call twice. */
  async run(): Promise<void> {
    for (let closer = this.closers.pop(); closer; closer = this.closers.pop()) {
      try {
        await closer.close();
      } catch (error) {
        console.error(`[bench] stopping ${closer.name} failed:`, error instanceof Error ? error.message : error);
      }
    }
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A Worker running locally (on workerd alone, as `npm start` runs it, or on `wrangler dev`) in its own process group. */
export interface RunningWorker {
  /** `http://127.0.0.1:PORT`: the Worker's own HTTP handler. */
  url: string;
  /** The endpoint whose `GET ?cron=…&time=…` fires the Worker's cron handler. */
  scheduledUrl: string;
  logFile: string;
  /** Where DevTools' inspector listens, if it does. */
  inspectorPort?: number;
  /** The Worker's id among the inspector's targets, when it lists several. */
  inspectorTarget?: string;
  /** The process group the Worker's processes run in. */
  group: number;
  /** Bytes of output so far; pass to `logSince` to read what came after. */
  logSize(): Promise<number>;
  /** The processes' (and the Worker's) output written since `offset`. */
  logSince(offset: number): Promise<string>;
  /** Resolves with the main process's exit code when it exits. */
  exited: Promise<number | null>;
  /** Stops every process in the group. */
  stop(): Promise<void>;
}

const STOP_GRACE_MS = 5_000;
const START_TIMEOUT_MS = 120_000;

/** Starts `wrangler dev` on loopback with the given vars, its output going to `logFile`, and waits until it serves. */
export async function startWranglerDev(options: {
  root: string;
  port: number;
  inspectorPort: number;
  vars: Record<string, string>;
  logFile: string;
}): Promise<RunningWorker> {
  const args = ["wrangler", "dev", "--port", String(options.port), "--ip", "127.0.0.1"];
  // An explicit inspector port: the default one may be held by another local wrangler.
  args.push("--inspector-port", String(options.inspectorPort), "--inspector-ip", "127.0.0.1");
  args.push("--show-interactive-dev-session=false");
  for (const [name, value] of Object.entries(options.vars)) args.push("--var", `${name}:${value}`);
  const url = `http://127.0.0.1:${options.port}`;
  return startProcessGroup({
    name: "wrangler",
    command: "npx",
    args,
    cwd: options.root,
    url,
    scheduledUrl: `${url}/cdn-cgi/handler/scheduled`,
    inspectorPort: options.inspectorPort,
    logFile: options.logFile,
    // On a build error wrangler keeps running and waits for a fix; the bench cannot wait.
    brokenWhenLogSays: "Build failed",
  });
}

/** Starts `command` in a process group of its own, its output going to `logFile`, and waits until `url` answers. */
export async function startProcessGroup(options: {
  /** What the process is called in messages. */
  name: string;
  command: string;
  args: string[];
  cwd: string;
  url: string;
  scheduledUrl: string;
  inspectorPort?: number;
  inspectorTarget?: string;
  logFile: string;
  /** Output that means the process will never serve. */
  brokenWhenLogSays?: string;
}): Promise<RunningWorker> {
  const log = openSync(options.logFile, "w");
  let child: ChildProcess;
  try {
    // Its own process group: stopping npx alone leaves wrangler and workerd running.
    child = spawn(options.command, options.args, {
      cwd: options.cwd,
      detached: true,
      stdio: ["ignore", log, log],
      env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" },
    });
  } finally {
    closeSync(log);
  }
  const group = child.pid;
  if (group === undefined) throw new Error(`could not start ${options.name} (${options.command})`);
  // Last resort for an exit that skips the cleanup: never leave workerd behind.
  const killOnExit = () => signalGroup(group, "SIGKILL");
  process.on("exit", killOnExit);
  const exited = once(child, "exit").then(([code]) => code as number | null);
  const worker: RunningWorker = {
    url: options.url,
    scheduledUrl: options.scheduledUrl,
    logFile: options.logFile,
    inspectorPort: options.inspectorPort,
    inspectorTarget: options.inspectorTarget,
    group,
    logSize: async () => {
      const file = await open(options.logFile);
      try {
        return (await file.stat()).size;
      } finally {
        await file.close();
      }
    },
    logSince: async (offset) => {
      const file = await open(options.logFile);
      try {
        const { size } = await file.stat();
        const buffer = Buffer.alloc(Math.max(0, size - offset));
        await file.read(buffer, 0, buffer.length, offset);
        return buffer.toString("utf8");
      } finally {
        await file.close();
      }
    },
    exited,
    async stop() {
      signalGroup(group, "SIGTERM");
      for (let waited = 0; waited < STOP_GRACE_MS && groupAlive(group); waited += 100) await sleep(100);
      signalGroup(group, "SIGKILL");
      process.off("exit", killOnExit);
    },
  };
  try {
    await waitForHttp(options.url, exited, START_TIMEOUT_MS, async () =>
      options.brokenWhenLogSays ? (await worker.logSince(0)).includes(options.brokenWhenLogSays) : false,
    );
  } catch (error) {
    await worker.stop();
    throw new Error(`${options.name}: ${error instanceof Error ? error.message : error}; see ${options.logFile}`);
  }
  return worker;
}

/** Resolves once `url` answers HTTP at all; rejects if the process exits, `broken()` says so, or the deadline passes. */
async function waitForHttp(
  url: string,
  exited: Promise<unknown>,
  timeoutMs: number,
  broken: () => Promise<boolean>,
): Promise<void> {
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  const deadline = Date.now() + timeoutMs;
  while (!gone && Date.now() < deadline) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await response.body?.cancel();
      return;
    } catch {
      if (await broken()) throw new Error("the Worker does not build");
      await sleep(250);
    }
  }
  throw new Error(gone ? "it exited before it served" : `it did not serve within ${timeoutMs} ms`);
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

/** Resolves after `ms` (a timer, not a poll). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}
