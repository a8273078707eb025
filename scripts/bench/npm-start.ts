/**
 * `npm-start`: the memory of `npm start` itself, as a user runs it, under a user's load. Each run
 * starts `npm start` from this project (against a scratch database on the local PostgreSQL, in a
 * state folder of its own, on free ports), waits for its banner, and with the banner's token
 * makes 580 single `POST /jobs`, 10 in flight, each due 5 s later at npm start's own sample
 * receiver (so fired by the API), then 10 `POST /jobs/batch` of 1,000 jobs due in an hour: 590
 * requests, under the 600 a minute the token may make (`wrangler.toml`'s rate limit, which
 * npm start keeps). It waits 15 s for the deliveries, sampling every 200 ms the resident memory of
 * every process npm start started (npm, Node, the Worker's process and workerd, whatever their
 * process group), and stops it.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./stack";

const SINGLE_CREATES = 580;
const IN_FLIGHT = 10;
const BATCHES = 10;
const BATCH_SIZE = 1_000;
const DELIVERY_WAIT_MS = 15_000;
const SAMPLE_INTERVAL_MS = 200;
const START_TIMEOUT_MS = 180_000;
const MIB = 1024 * 1024;

/** One start of `npm start` and what it took. */
export interface NpmStartRun {
  /** Resident memory of its processes once its banner was out, before any request. */
  idleMib: number;
  peakMib: number;
  /** The peak's parts, MiB by process (see processLabel). */
  peakParts: Record<string, number>;
  createsPerSecond: number;
  /** Responses by status code, single creates and batches apart. */
  statuses: Record<string, number>;
  /** Callbacks its sample receiver logged (of SINGLE_CREATES). */
  delivered: number;
}

export interface NpmStartResult {
  runs: NpmStartRun[];
}

/** Runs npm start `runs` times against `databaseUrl` (a database it may migrate and write to). */
export async function runNpmStartScenario(root: string, databaseUrl: string, runs: number): Promise<NpmStartResult> {
  const result: NpmStartResult = { runs: [] };
  for (let run = 1; run <= runs; run++) {
    console.log(`[bench npm-start] run ${run} of ${runs}`);
    result.runs.push(await oneRun(root, databaseUrl));
  }
  return result;
}

async function oneRun(root: string, databaseUrl: string): Promise<NpmStartRun> {
  const stateDir = await mkdtemp(join(tmpdir(), "fliq-bench-npm-start-"));
  const apiPort = await freePort();
  const receiverPort = await freePort();
  const output: string[] = [];
  const child = spawn("npm", ["start"], {
    cwd: root,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      FLIQ_STATE_DIR: stateDir,
      PORT: String(apiPort),
      RECEIVER_PORT: String(receiverPort),
    },
  });
  for (const stream of [child.stdout, child.stderr]) stream?.on("data", (chunk: Buffer) => output.push(String(chunk)));
  try {
    await waitForBanner(child, output);
    const credentials = JSON.parse(await readFile(join(stateDir, "dev-credentials.json"), "utf8"));
    const token: string = credentials.token;
    const pid = child.pid ?? 0;
    const idle = await treeMemory(pid);
    let peak = idle;
    const sampler = setInterval(() => {
      void treeMemory(pid).then((sample) => {
        if (sample.mib > peak.mib) peak = sample;
      });
    }, SAMPLE_INTERVAL_MS);
    const api = `http://127.0.0.1:${apiPort}`;
    const statuses: Record<string, number> = {};
    const count = (key: string) => {
      statuses[key] = (statuses[key] ?? 0) + 1;
    };
    const agent = new Agent({ keepAlive: true, maxSockets: IN_FLIGHT });
    const startedAt = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        for (; next < SINGLE_CREATES; ) {
          next++;
          const dueAt = new Date(Date.now() + 5_000).toISOString();
          const body = { url: `http://127.0.0.1:${receiverPort}/bench`, scheduled_at: dueAt, body: "{}" };
          count(`POST /jobs ${await post(agent, `${api}/jobs`, token, body)}`);
        }
      }),
    );
    const createsPerSecond = SINGLE_CREATES / ((performance.now() - startedAt) / 1000);
    for (let batch = 0; batch < BATCHES; batch++) {
      const dueAt = new Date(Date.now() + 3_600_000).toISOString();
      const jobs = Array.from({ length: BATCH_SIZE }, () => ({
        url: `http://127.0.0.1:${receiverPort}/later`,
        scheduled_at: dueAt,
      }));
      count(`POST /jobs/batch ${await post(agent, `${api}/jobs/batch`, token, { jobs })}`);
    }
    await new Promise((resolve) => setTimeout(resolve, DELIVERY_WAIT_MS));
    clearInterval(sampler);
    agent.destroy();
    const delivered = output
      .join("")
      .split("\n")
      .filter((line) => line.includes(" POST /bench ")).length;
    return { idleMib: idle.mib, peakMib: peak.mib, peakParts: peak.parts, createsPerSecond, statuses, delivered };
  } finally {
    await stop(child);
    await rm(stateDir, { recursive: true, force: true });
  }
}

async function waitForBanner(child: ChildProcess, output: string[]): Promise<void> {
  const exited = once(child, "exit");
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!output.join("").includes("Ctrl-C stops everything.")) {
    if (Date.now() > deadline) throw new Error(`npm start printed no banner:\n${output.join("")}`);
    const gone = await Promise.race([exited.then(() => true), new Promise((r) => setTimeout(() => r(false), 250))]);
    if (gone) throw new Error(`npm start exited:\n${output.join("")}`);
  }
}

/** Stops npm start as Ctrl-C does, and kills whatever is left after 30 s. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.pid === undefined) return;
  const exited = once(child, "exit");
  process.kill(-child.pid, "SIGINT");
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 30_000))]);
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    // ESRCH: already gone.
  }
}

function post(agent: Agent, url: string, token: string, body: unknown): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: "POST", agent, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" } },
      (response) => {
        response.resume();
        response.on("end", () => resolve(response.statusCode ?? 0));
      },
    );
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}

/**
 * Resident MiB of `rootPid` and all its descendants, found by parent pid (the Worker runs in a
 * process group of its own, so its group would miss it), in all and by process.
 */
async function treeMemory(rootPid: number): Promise<{ mib: number; parts: Record<string, number> }> {
  const processes = new Map<number, { parent: number; rssBytes: number; label: string }>();
  for (const pid of await readdir("/proc").catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = await readFile(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const label = processLabel((await readFile(`/proc/${pid}/cmdline`, "utf8")).split("\0"));
      processes.set(Number(pid), { parent: Number(fields[1]), rssBytes: Number(fields[21]) * 4096, label });
    } catch {
      // The process ended while being read.
    }
  }
  const tree = new Set([rootPid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, { parent }] of processes) {
      if (!tree.has(pid) && tree.has(parent)) {
        tree.add(pid);
        grew = true;
      }
    }
  }
  let bytes = 0;
  const parts: Record<string, number> = {};
  for (const pid of tree) {
    const found = processes.get(pid);
    if (!found) continue;
    bytes += found.rssBytes;
    parts[found.label] = (parts[found.label] ?? 0) + found.rssBytes / MIB;
  }
  return { mib: bytes / MIB, parts };
}

/** What a process of npm start's tree is, from its command line. */
function processLabel(argv: string[]): string {
  const command = argv.join(" ");
  if (command.includes("scripts/local/worker.ts")) return "Miniflare's Node";
  if (command.includes("workerd")) return "workerd";
  if (command.includes("scripts/start.ts")) return argv[0] === "sh" ? "sh" : "npm start's Node";
  return argv[0].split("/").pop() || "?";
}
