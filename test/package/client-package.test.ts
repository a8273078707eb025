/**
 * The client package as an outside project gets it, against `npm start`'s whole stack:
 *
 *   npm pack (src/client) ─▶ tarball ─▶ npm install in empty projects ─▶ tsc (Worker and Node settings)
 *                                                                   └─▶ node 20 and 22 run a round trip
 *   npm start (PGlite, bridge, migrations, Worker, ticker)     ◀── create job / signed callback ──┘
 *
 * The same stack's console is checked here too: its step lines, the ticker reaching the Worker,
 * the banner's curl (run as printed), and the line a failed attempt prints.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { workerSettings } from "../../scripts/local/workerd";
import { packClientPackage } from "../setup/client-package";
import { freeLoopbackPorts } from "../setup/free-ports";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const ROOT_MODULES = join(ROOT, "node_modules");
const TSC = join(ROOT_MODULES, "typescript", "bin", "tsc");

/**
 * The most each entry point may add to a bundle, minified and gzipped (esbuild, as wrangler
 * bundles). Measured at 3.8, 1.4 and 1.6 KiB; the budget leaves room to grow, not to double.
 */
const SIZE_BUDGET_BYTES: Record<string, number> = {
  "@fliq/client": 5 * 1024,
  "@fliq/client/receive": 2 * 1024,
  "@fliq/client/hono": 2 * 1024,
};
/** The tarball itself (16.5 kB when measured). */
const TARBALL_BUDGET_BYTES = 24 * 1024;

/** The Node binaries the round trip runs on: the machine's Node 20 and the project's Node 22. */
const NODES = [
  { major: 20, path: process.env.NODE20_PATH ?? "/usr/bin/node" },
  { major: 22, path: join(ROOT_MODULES, "node", "bin", "node") },
];

let work: string;
let tarball: string;
let stack: Stack;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "fliq-client-package-"));
  // The stack starts first: it takes longest, and packing and installing happen meanwhile.
  const starting = startStack(join(work, "stack"));
  tarball = await packClientPackage(work);
  stack = await starting;
}, 240_000);

afterAll(async () => {
  await stack?.stop();
  if (work) await rm(work, { recursive: true, force: true });
}, 45_000);

describe("the tarball", () => {
  it("holds the built package only, and depends on nothing", async () => {
    const { stdout } = await run("tar", ["-tzf", tarball]);
    const files = stdout.trim().split("\n").sort();
    expect(files).toContain("package/dist/index.js");
    expect(files).toContain("package/dist/index.d.ts");
    expect(
      files.filter((file) => !/^package\/(package\.json|README\.md|dist\/[a-z-]+\.(js|d\.ts))$/.test(file)),
    ).toEqual([]);
    const manifest = JSON.parse(await readFile(join(CLIENT_MANIFEST_DIR(), "package.json"), "utf8"));
    expect(manifest.dependencies ?? {}).toEqual({});
    expect(manifest.peerDependenciesMeta?.hono?.optional).toBe(true);
  });

  it("stays within its size budget, and so does each entry point in a minified bundle", async () => {
    const { size } = await import("node:fs/promises").then((fs) => fs.stat(tarball));
    expect(size).toBeLessThanOrEqual(TARBALL_BUDGET_BYTES);
    const project = await consumerProject("size");
    for (const [entry, budget] of Object.entries(SIZE_BUDGET_BYTES)) {
      const result = await build({
        stdin: { contents: `export * from "${entry}";`, resolveDir: project, loader: "js" },
        bundle: true,
        minify: true,
        format: "esm",
        platform: "neutral",
        external: ["hono"],
        write: false,
        logLevel: "silent",
      });
      const gzipped = gzipSync(result.outputFiles[0].contents, { level: 9 }).length;
      expect({ entry, gzipped: gzipped <= budget ? "within budget" : `${gzipped} B > ${budget} B` }).toEqual({
        entry,
        gzipped: "within budget",
      });
    }
  });
});

describe("an empty project that installs the tarball", () => {
  it("installs the package and nothing else", async () => {
    const project = await consumerProject("bare", { tools: [] });
    expect((await readdir(join(project, "node_modules"))).filter((name) => !name.startsWith("."))).toEqual(["@fliq"]);
  });

  it("type-checks the example Worker under a Worker tsconfig (@cloudflare/workers-types)", async () => {
    const project = await consumerProject("worker", { tools: ["hono", "@cloudflare/workers-types"] });
    const example = join(ROOT, "examples", "welcome-worker");
    await cp(join(example, "src"), join(project, "src"), { recursive: true });
    await cp(join(example, "tsconfig.json"), join(project, "tsconfig.json"));
    await expect(typecheck(project)).resolves.toBe("");
  });

  it("type-checks a Node program under a Node tsconfig (nodenext, @types/node, no DOM)", async () => {
    const project = await nodeProject();
    await expect(typecheck(project)).resolves.toBe("");
  });

  for (const node of NODES) {
    it(`runs a create → callback → verify round trip on Node ${node.major} against npm start's stack`, async () => {
      const { stdout: version } = await run(node.path, ["--version"]);
      expect(version.trim()).toMatch(new RegExp(`^v${node.major}\\.`));
      const project = await nodeProject();
      const { stdout } = await run(node.path, [join(project, "roundtrip.mjs")], {
        cwd: project,
        env: {
          ...process.env,
          FLIQ_URL: stack.apiUrl,
          FLIQ_TOKEN: stack.token,
          FLIQ_SIGNING_SECRET: stack.signingSecret,
        },
        timeout: 90_000,
      });
      const result = JSON.parse(stdout.trim().split("\n").at(-1) ?? "");
      expect(result).toEqual({
        node: version.trim(),
        job: { id: expect.any(String), status: "succeeded", webhook_id: expect.any(String), attempts: 1 },
        verified: {
          jobId: result.job.id,
          attempt: 1,
          webhookId: result.job.webhook_id,
          payload: { from: version.trim() },
        },
      });
    }, 120_000);
  }
});

describe("npm start's console", () => {
  it("prints each step as it completes, with its time, before the banner", () => {
    const steps = ["database", "migrations", "dev project", "receiver", "Worker", "ticker"];
    const banner = stack.lines.findIndex((line) => line.includes("Fliq is running"));
    for (const name of steps) {
      const index = stack.lines.findIndex((line) => new RegExp(`^\\[fliq\\] +\\d+\\.\\d s  ${name} `).test(line));
      expect({ name, printed: index !== -1 && index < banner }).toEqual({ name, printed: true });
    }
    expect(stack.lines.filter((line) => / \(took \d+\.\d s\)$/.test(line)).length).toBeGreaterThanOrEqual(5);
  });

  it("reaches the Worker's cron handler: the ticker's first tick reported no error", () => {
    // The ticker prints a line only for a tick that failed; a wrong trigger path fails at once (404).
    expect(stack.lines.filter((line) => line.startsWith("[ticker]"))).toEqual([]);
  });

  it("prints a curl that schedules the callback 10 s after it is run, however late it is pasted", async () => {
    const tokenLine = stack.lines.find((line) => line.startsWith("TOKEN="));
    const curlLine = stack.lines.find((line) => line.startsWith("curl "));
    expect(curlLine).toContain('"delay":"10s"');
    expect(curlLine).not.toContain("scheduled_at");
    const ranAt = Date.now();
    const { stdout } = await run("bash", ["-c", `${tokenLine}\n${curlLine} --silent --fail-with-body`]);
    const job = JSON.parse(stdout);
    const inMs = new Date(job.scheduled_at).getTime() - ranAt;
    expect(inMs).toBeGreaterThan(8_000);
    expect(inMs).toBeLessThan(12_000);
    const canceled = await fetch(`${stack.apiUrl}/jobs/${job.id}/cancel`, {
      method: "POST",
      headers: { authorization: `Bearer ${stack.token}` },
    });
    expect(canceled.status).toBe(200);
  });

  it("prints one line for an attempt that failed, naming a refused connection", async () => {
    const [closedPort] = await freeLoopbackPorts(1);
    const url = `http://127.0.0.1:${closedPort}/nobody-home`;
    const created = await fetch(`${stack.apiUrl}/jobs`, {
      method: "POST",
      headers: { authorization: `Bearer ${stack.token}`, "content-type": "application/json" },
      body: JSON.stringify({ url, max_retries: 0 }),
    });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    const line = await stack.waitForLine((text) => text.startsWith(`[attempt] job ${id} `), 60_000);
    expect(line).toBe(
      `[attempt] job ${id} #1 ${url} → failed: connection_refused (connection refused: nothing accepts connections at 127.0.0.1:${closedPort}); the job failed`,
    );
  }, 90_000);
});

describe("npm start's Worker: wrangler.toml's bindings as workerd serves them locally", () => {
  it("serves the API reference's Swagger UI files with their content types, and nothing else of their folder", async () => {
    const file = (name: string) => fetch(`${stack.apiUrl}/docs/assets/swagger-ui-dist/${name}`);
    const css = await file("swagger-ui.css");
    const script = await file("swagger-ui-bundle.js");
    expect([css.status, css.headers.get("content-type")]).toEqual([200, "text/css; charset=utf-8"]);
    expect([script.status, script.headers.get("content-type")]).toEqual([200, "text/javascript; charset=utf-8"]);
    expect(await css.text()).toContain(".swagger-ui");
    expect((await file("package.json")).status).toBe(404);
  });

  it("limits each token to 600 requests a minute (wrangler.toml's RATE_LIMITER), and not the next token", async () => {
    const token = await newToken("rate-limit");
    const statuses: number[] = [];
    for (let batch = 0; batch < 60; batch++) {
      const answers = await Promise.all(Array.from({ length: 10 }, () => jobsWith(token)));
      statuses.push(...answers.map((response) => response.status));
    }
    expect(statuses.filter((status) => status !== 200)).toEqual([]);
    const over = await jobsWith(token);
    expect([over.status, ((await over.json()) as { error: { code: string } }).error.code]).toEqual([
      429,
      "rate_limited",
    ]);
    expect((await jobsWith(await newToken("fresh"))).status).toBe(200);
  }, 60_000);

  it("refuses a wrangler.toml binding of a kind it does not provide locally, naming it, instead of leaving it out", () => {
    const options = { compatibilityDate: "2026-11-01", bindings: { A: "1" }, email: { send_email: [] } };
    expect(workerSettings(options).vars).toEqual({ A: "1" });
    expect(() => workerSettings({ ...options, kvNamespaces: { CACHE: "id" } })).toThrow(
      "workerd's local configuration provides no kvNamespaces bindings (wrangler.toml)",
    );
  });

  // Last: it leaves this machine's address refused for a minute (valid tokens still pass).
  it("refuses an address after 10 failed authentications a minute (AUTH_FAILURE_LIMITER)", async () => {
    const wrong = `${stack.token.slice(0, -4)}AAAA`;
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 11; attempt++) statuses.push((await jobsWith(wrong)).status);
    expect(statuses).toEqual([...Array(10).fill(401), 429]);
    expect((await jobsWith(stack.token)).status).toBe(200);
  });
});

function jobsWith(token: string): Promise<Response> {
  return fetch(`${stack.apiUrl}/jobs?limit=1`, { headers: { authorization: `Bearer ${token}` } });
}

/** A new token of the stack's project, made through the API with the stack's (admin) token. */
async function newToken(name: string): Promise<string> {
  const response = await fetch(`${stack.apiUrl}/tokens`, {
    method: "POST",
    headers: { authorization: `Bearer ${stack.token}`, "content-type": "application/json" },
    body: JSON.stringify({ name }),
  });
  expect(response.status).toBe(201);
  return ((await response.json()) as { token: string }).token;
}

const CLIENT_MANIFEST_DIR = () => join(ROOT, "src", "client");

/**
 * An empty project with the tarball installed by npm, plus development tools (type
 * definitions, hono) linked from this repository's node_modules, as the project's own npm
 * would have installed them.
 */
async function consumerProject(name: string, options: { tools?: string[] } = {}): Promise<string> {
  const project = join(work, name);
  await mkdir(project, { recursive: true });
  await writeFile(
    join(project, "package.json"),
    JSON.stringify({ name: `consumer-${name}`, private: true, type: "module" }),
  );
  // Nothing but the tarball, and nothing from the registry: the package has no dependencies.
  await run("npm", ["install", tarball, "--offline", "--no-audit", "--no-fund", "--no-package-lock"], { cwd: project });
  for (const tool of options.tools ?? []) {
    const link = join(project, "node_modules", tool);
    await mkdir(dirname(link), { recursive: true });
    await symlink(join(ROOT_MODULES, tool), link);
  }
  return project;
}

let nodeProjectPath: Promise<string> | undefined;

/** The Node consumer: roundtrip.mjs and a Node tsconfig, with @types/node. Made once. */
function nodeProject(): Promise<string> {
  nodeProjectPath ??= (async () => {
    const project = await consumerProject("node", { tools: ["@types/node"] });
    const fixture = fileURLToPath(new URL("./consumer", import.meta.url));
    await cp(join(fixture, "roundtrip.mjs"), join(project, "roundtrip.mjs"));
    await cp(join(fixture, "tsconfig.json"), join(project, "tsconfig.json"));
    return project;
  })();
  return nodeProjectPath;
}

/** tsc's complaints about a project ("" when none). */
async function typecheck(project: string): Promise<string> {
  try {
    await run(process.execPath, [TSC, "-p", join(project, "tsconfig.json")], { cwd: project });
    return "";
  } catch (error) {
    return String((error as { stdout?: string }).stdout ?? error);
  }
}

interface Stack {
  apiUrl: string;
  token: string;
  signingSecret: string;
  /** Every line the stack printed so far (colours stripped). */
  lines: string[];
  waitForLine(match: (line: string) => boolean, timeoutMs: number): Promise<string>;
  stop(): Promise<void>;
}

/** `npm start` with its own state directory and ports, on the embedded database; resolves once its banner is out. */
async function startStack(stateDir: string): Promise<Stack> {
  const [apiPort, receiverPort] = await freeLoopbackPorts(2);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    FLIQ_STATE_DIR: stateDir,
    PORT: String(apiPort),
    RECEIVER_PORT: String(receiverPort),
  };
  delete env.DATABASE_URL;
  const child = spawn("npm", ["start"], { cwd: ROOT, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  const lines: string[] = [];
  const waiters = new Set<{ match: (line: string) => boolean; resolve: (line: string) => void }>();
  const onData = (() => {
    let pending = "";
    return (chunk: Buffer) => {
      pending += chunk.toString("utf8");
      const complete = pending.split("\n");
      pending = complete.pop() ?? "";
      for (const raw of complete) {
        const line = raw.replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g"), "");
        lines.push(line);
        for (const waiter of waiters) if (waiter.match(line)) waiter.resolve(line);
      }
    };
  })();
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  const exited = once(child, "exit");
  const waitForLine = (match: (line: string) => boolean, timeoutMs: number) => {
    const seen = lines.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise<string>((resolve, reject) => {
      const waiter = {
        match,
        resolve: (line: string) => {
          clearTimeout(timer);
          waiters.delete(waiter);
          resolve(line);
        },
      };
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(new Error(`no such line within ${timeoutMs} ms; the stack printed:\n${lines.join("\n")}`));
      }, timeoutMs);
      waiters.add(waiter);
    });
  };
  const stop = async () => {
    signal(child, "SIGINT");
    // npm start stops the Worker first, then the rest; a loaded machine may need a while for the database.
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 30_000))]);
    signal(child, "SIGKILL");
  };
  try {
    await Promise.race([
      waitForLine((line) => line.includes("Ctrl-C stops everything."), 200_000),
      exited.then(() => Promise.reject(new Error(`npm start exited:\n${lines.join("\n")}`))),
    ]);
  } catch (error) {
    await stop();
    throw error;
  }
  const field = (label: string) =>
    lines
      .find((line) => line.trimStart().startsWith(label))
      ?.trim()
      .split(/\s+/)[1];
  return {
    apiUrl: `http://127.0.0.1:${apiPort}`,
    token: field("Token") ?? "",
    signingSecret: field("Signing") ?? "",
    lines,
    waitForLine,
    stop,
  };
}

/** Signals the stack's whole process group (npm, tsx, and what they started). */
function signal(child: ChildProcess, name: NodeJS.Signals): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, name);
  } catch {
    // Already gone.
  }
}
