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
 *
 * `npm-start-soak` (runNpmStartSoakScenario) keeps one npm start working far longer, to see whether
 * its memory levels off.
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
  return withNpmStart(root, databaseUrl, async ({ api, receiverPort, token, pid, output }) => {
    const idle = await treeMemory(pid);
    const peak = samplePeak(pid, idle);
    const statuses: Record<string, number> = {};
    const agent = new Agent({ keepAlive: true, maxSockets: IN_FLIGHT });
    const createsPerSecond = await createDueSoon({
      agent,
      api,
      url: `http://127.0.0.1:${receiverPort}/bench`,
      tokens: [token],
      creates: SINGLE_CREATES,
      statuses,
    });
    for (let batch = 0; batch < BATCHES; batch++) {
      const dueAt = new Date(Date.now() + 3_600_000).toISOString();
      const jobs = Array.from({ length: BATCH_SIZE }, () => ({
        url: `http://127.0.0.1:${receiverPort}/later`,
        scheduled_at: dueAt,
      }));
      tally(statuses, `POST /jobs/batch ${(await post(agent, `${api}/jobs/batch`, token, { jobs })).status}`);
    }
    await new Promise((resolve) => setTimeout(resolve, DELIVERY_WAIT_MS));
    const top = peak.stop();
    agent.destroy();
    const delivered = countLines(output, " POST /bench ");
    return { idleMib: idle.mib, peakMib: top.mib, peakParts: top.parts, createsPerSecond, statuses, delivered };
  });
}

/**
 * The npm-start-soak scenario's load: SOAK_ROUNDS rounds of SOAK_ROUND_CREATES creates, the memory
 * taken SOAK_SETTLE_MS after a round's last job was due, and once more after SOAK_IDLE_MS idle.
 */
const SOAK_ROUNDS = 16;
const SOAK_ROUND_CREATES = 2_000;
const SOAK_SETTLE_MS = 3_000;
const SOAK_IDLE_MS = 60_000;
/**
 * Tokens the soak's creates take turns with: each may make 600 requests a minute (wrangler.toml's
 * rate limit, which npm start keeps), and 50 allow 30,000, more than this machine creates.
 */
const SOAK_TOKENS = 50;

/** Memory after one soak round, once its jobs were delivered. */
export interface NpmStartSoakRound {
  createsPerSecond: number;
  workerdMib: number;
  treeMib: number;
}

export interface NpmStartSoakResult {
  idleMib: number;
  rounds: NpmStartSoakRound[];
  /** SOAK_IDLE_MS after the last round, with nothing to do. */
  afterIdle: { workerdMib: number; treeMib: number };
  peakMib: number;
  peakParts: Record<string, number>;
  statuses: Record<string, number>;
  /** Callbacks the sample receiver logged (of the creates answered 201). */
  delivered: number;
}

/**
 * `npm-start-soak`: one `npm start` kept working. SOAK_ROUNDS rounds of SOAK_ROUND_CREATES single
 * `POST /jobs`, 10 in flight, each due 5 s later (fired by the API), with npm start's memory taken
 * after each round has been delivered, and again after a minute idle: whether it levels off.
 */
export async function runNpmStartSoakScenario(root: string, databaseUrl: string): Promise<NpmStartSoakResult> {
  return withNpmStart(root, databaseUrl, async ({ api, receiverPort, token, pid, output }) => {
    const idle = await treeMemory(pid);
    const peak = samplePeak(pid, idle);
    const agent = new Agent({ keepAlive: true, maxSockets: IN_FLIGHT });
    const tokens: string[] = [];
    for (let index = 0; index < SOAK_TOKENS; index++)
      tokens.push(await createToken(agent, api, token, `soak ${index}`));
    const statuses: Record<string, number> = {};
    const rounds: NpmStartSoakRound[] = [];
    for (let round = 1; round <= SOAK_ROUNDS; round++) {
      const createsPerSecond = await createDueSoon({
        agent,
        api,
        url: `http://127.0.0.1:${receiverPort}/soak`,
        tokens,
        creates: SOAK_ROUND_CREATES,
        statuses,
      });
      // The round's last jobs are due 5 s after their create; the memory is taken once they have gone out.
      await new Promise((resolve) => setTimeout(resolve, 5_000 + SOAK_SETTLE_MS));
      const memory = await treeMemory(pid);
      rounds.push({ createsPerSecond, workerdMib: memory.parts.workerd ?? 0, treeMib: memory.mib });
      console.log(
        `[bench npm-start-soak] round ${round} of ${SOAK_ROUNDS}: ${createsPerSecond.toFixed(0)} creates/s, ` +
          `workerd ${(memory.parts.workerd ?? 0).toFixed(0)} MiB, all ${memory.mib.toFixed(0)} MiB`,
      );
    }
    agent.destroy();
    await new Promise((resolve) => setTimeout(resolve, SOAK_IDLE_MS));
    const rested = await treeMemory(pid);
    const top = peak.stop();
    return {
      idleMib: idle.mib,
      rounds,
      afterIdle: { workerdMib: rested.parts.workerd ?? 0, treeMib: rested.mib },
      peakMib: top.mib,
      peakParts: top.parts,
      statuses,
      delivered: countLines(output, " POST /soak "),
    };
  });
}

/**
 * `creates` single `POST /jobs`, IN_FLIGHT at a time, with `tokens` in turn, each due 5 s later at
 * `url` (so fired by the API), their answers counted into `statuses`; returns creates a second.
 */
async function createDueSoon(options: {
  agent: Agent;
  api: string;
  url: string;
  tokens: string[];
  creates: number;
  statuses: Record<string, number>;
}): Promise<number> {
  const startedAt = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < options.creates) {
        const token = options.tokens[next++ % options.tokens.length];
        const body = { url: options.url, scheduled_at: new Date(Date.now() + 5_000).toISOString(), body: "{}" };
        tally(options.statuses, `POST /jobs ${(await post(options.agent, `${options.api}/jobs`, token, body)).status}`);
      }
    }),
  );
  return options.creates / ((performance.now() - startedAt) / 1000);
}

function tally(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

/** What a started `npm start` offers the load run against it. */
interface RunningNpmStart {
  api: string;
  receiverPort: number;
  /** The banner's token (admin scope). */
  token: string;
  pid: number;
  /** Everything it has printed so far. */
  output: string[];
}

/**
 * Starts `npm start` from `root` against `databaseUrl` (in a state folder of its own, on free
 * ports), waits for its banner, runs `use` against it, and stops it.
 */
async function withNpmStart<T>(
  root: string,
  databaseUrl: string,
  use: (running: RunningNpmStart) => Promise<T>,
): Promise<T> {
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
    return await use({ api: `http://127.0.0.1:${apiPort}`, receiverPort, token, pid: child.pid ?? 0, output });
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

/** Samples the memory of `pid`'s tree every SAMPLE_INTERVAL_MS until stopped; `stop` gives the highest. */
function samplePeak(pid: number, first: Awaited<ReturnType<typeof treeMemory>>) {
  let peak = first;
  const sampler = setInterval(() => {
    void treeMemory(pid).then((sample) => {
      if (sample.mib > peak.mib) peak = sample;
    });
  }, SAMPLE_INTERVAL_MS);
  return {
    stop() {
      clearInterval(sampler);
      return peak;
    },
  };
}

/** Lines of `output` that contain `text`: callbacks the sample receiver logged, for one path. */
function countLines(output: string[], text: string): number {
  return output
    .join("")
    .split("\n")
    .filter((line) => line.includes(text)).length;
}

/** A new token of the project `adminToken` belongs to (`POST /tokens`), its secret. */
async function createToken(agent: Agent, api: string, adminToken: string, name: string): Promise<string> {
  const { status, text } = await post(agent, `${api}/tokens`, adminToken, { name });
  if (status !== 201) throw new Error(`POST /tokens answered ${status}: ${text}`);
  return JSON.parse(text).token;
}

/** POSTs `body` as JSON with `token`: the answer's status and text. */
function post(agent: Agent, url: string, token: string, body: unknown): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: "POST", agent, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" } },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
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
  if (command.includes("scripts/local/miniflare-worker.ts")) return "Miniflare's Node";
  if (command.includes("workerd")) return "workerd";
  if (command.includes("scripts/start.ts")) return argv[0] === "sh" ? "sh" : "npm start's Node";
  return argv[0].split("/").pop() || "?";
}
