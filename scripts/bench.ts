/**
 * `npm run bench`: how precisely and how cheaply Fliq delivers, measured on this machine.
 * A scratch database on the local Postgres (pg_stat_statements counts the SQL), the bridge, the
 * Worker on workerd (or as `npm start` runs it with --runtime npm-start, or on `wrangler dev` with
 * --runtime wrangler-dev; see bench/workerd.ts for why workerd alone is the default), and a recording receiver; jobs are created through the API and
 * delivered by a cron tick the bench fires itself. Prints the numbers, a markdown table with PASS/MISS against
 * the targets, and writes .fliq/bench-results.json.
 *
 *   npm run bench [-- --scenario a|b|c|mixed|slow200|slow200-10k|far-db|cell-fails|tick-cut|db-restart|create|create-batch|ceiling|idle|handover|retention|create-waiting|npm-start|npm-start-soak|topic|flow|all]
 *                    [--idle-minutes 2] [--concurrency 32] [--handover-starts 10] [--handover-database postgres|embedded]
 *                    [--retention-rows 10000000] [--create-waiting-requests 200] [--topic-messages 200]
 *                    [--batch-size 500] [--profile]
 *                    [--source worktree|<git rev>] [--patch <file.diff>] [--var NAME=VALUE]...
 *                    [--runtime workerd|npm-start|wrangler-dev] [--count-statements postgres|bridge]
 *                    [--database-delay-ms 0] [--restart-cluster VERSION/NAME] [--history cold|warm]
 *
 * A delivery scenario named more than once (`--scenario c,c,c`) runs again on the same database
 * and Worker: the later runs see warm server connections, as a Fliq running for a while does.
 *
 * The Worker under test is a copy taken at the start (the working tree, or a commit with
 * --source), so edits made during a run neither change nor restart it; --patch applies a diff
 * to that copy only, to measure a proposed change without touching the sources.
 *
 * The copy enters through bench/worker-probe.js, which reports the most connections any one
 * invocation held and injects the faults of cell-fails and tick-cut (bench/faults.ts).
 * --database-delay-ms adds round-trip time to every exchange between the Worker and Postgres (the
 * bridge holds it back), for every scenario that sets none of its own (far-db sets 30 ms).
 * --history warm fires a few jobs to each destination before a delivery scenario, so its tick
 * plans from their measured latency, as for any destination called lately; cold (the default)
 * leaves the planner to assume UNKNOWN_LATENCY_MS (bench/history.ts).
 * `db-restart` stops and starts the PostgreSQL cluster named by --restart-cluster, which must
 * serve DATABASE_URL and be used by no one else; `all` leaves it out, and `npm-start-soak` (one
 * `npm start` kept working through 32,000 creates, about eight minutes).
 *
 * `handover`, `retention`, `create-waiting`, `npm-start` and `npm-start-soak` count no SQL: run alone, they need neither
 * pg_stat_statements nor root.
 *
 * Needs root on this machine: pg_stat_statements is set up as the postgres superuser (and, if it
 * is not preloaded yet, PostgreSQL is restarted once; see bench/enable-pg-stat-statements.sh).
 * `--count-statements bridge` counts the statements the Worker sends through the database bridge
 * instead, with no restart (for a PostgreSQL others are using), but without the per-statement breakdown.
 */
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { measureCeiling } from "./bench/ceiling";
import { measureCreateCeiling } from "./bench/create-ceiling";
import { MAX_BATCH_SIZE } from "./bench/create-jobs";
import { type CreateWaitingResult, runCreateWaitingScenario } from "./bench/create-waiting";
import { runBatchCreateScenario, runSingleCreateScenario } from "./bench/creation";
import { createScratchDatabase, ensurePgStatStatements, StatementCounter } from "./bench/database";
import { checkRestartableCluster, FAULT_SCENARIO_NAMES, FAULT_SCENARIOS } from "./bench/faults";
import { printFlowResult, runFlowScenario } from "./bench/flow";
import { type HandoverDatabase, type HandoverResult, runHandoverScenario } from "./bench/handover";
import { HISTORIES, type History } from "./bench/history";
import {
  type NpmStartResult,
  type NpmStartSoakResult,
  runNpmStartScenario,
  runNpmStartSoakScenario,
} from "./bench/npm-start";
import { createBenchProject } from "./bench/project";
import { startRecordingReceiver } from "./bench/receiver";
import {
  type BenchResults,
  checkTargets,
  markdownReport,
  printCeilingResult,
  printCreateCeilingResult,
  printCreateWaitingResult,
  printCreationResult,
  printDeliveryResult,
  printIdleResult,
  printNpmStartResult,
  printNpmStartSoakResult,
  printRetentionResult,
  writeResultsJson,
} from "./bench/report";
import { type RetentionResult, runRetentionScenario } from "./bench/retention";
import { RUNTIMES, type Runtime, startWorker } from "./bench/runtime";
import {
  type BenchContext,
  DELIVERY_SCENARIOS,
  measureCreationRate,
  runDeliveryScenario,
  runIdleScenario,
} from "./bench/scenarios";
import { Cleanup } from "./bench/stack";
import {
  printTargetResult,
  runTargetScenario,
  TARGET_SCENARIOS,
  TargetReceivers,
  type TargetScenario,
} from "./bench/targets";
import { printTopicResult, runTopicScenario } from "./bench/topic";
import { snapshotWorker, type WorkerSnapshot } from "./bench/worker-snapshot";
import { startDbBridge } from "./local/bridge";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const STATE_DIR = join(ROOT, ".fliq");
const RESULTS_FILE = join(STATE_DIR, "bench-results.json");
const WORKER_LOG = join(STATE_DIR, "bench-worker.log");
const CEILING_WORKER_LOG = join(STATE_DIR, "bench-ceiling-worker.log");
const CREATE_CEILING_WORKER_LOG = join(STATE_DIR, "bench-create-ceiling-worker.log");
/** PgBouncer's default `server_idle_timeout`, which Neon's pooled connections sit behind. */
const PGBOUNCER_IDLE_MS = 600_000;
const DEFAULT_DATABASE_URL = "postgres://fliq:fliq@127.0.0.1:5432/fliq";
const SCENARIO_NAMES = [
  "a",
  "b",
  "c",
  ...TARGET_SCENARIOS,
  ...FAULT_SCENARIO_NAMES,
  "create",
  "create-batch",
  "ceiling",
  "create-ceiling",
  "idle",
  "handover",
  "retention",
  "create-waiting",
  "npm-start",
  "npm-start-soak",
  "topic",
  "flow",
] as const;
/** Starts of `npm start` in the npm-start scenario: its figures are given per run. */
const NPM_START_RUNS = 3;
const HANDOVER_WORKER_LOG = join(STATE_DIR, "bench-handover-worker.log");
const CREATE_WAITING_WORKER_LOG = join(STATE_DIR, "bench-create-waiting-worker.log");
/** Scenarios that set up everything they need themselves and count no SQL (no pg_stat_statements). */
const STANDALONE: readonly ScenarioName[] = ["handover", "retention", "create-waiting", "npm-start", "npm-start-soak"];
/**
 * Scenarios `all` leaves out: db-restart restarts a whole PostgreSQL cluster; npm-start-soak takes
 * about eight minutes to say how npm start's memory holds up, which npm-start says for a user's load.
 */
const ONLY_BY_NAME: readonly ScenarioName[] = ["db-restart", "npm-start-soak"];

type ScenarioName = (typeof SCENARIO_NAMES)[number];

interface Options {
  scenarios: ScenarioName[];
  idleMinutes: number;
  concurrency: number;
  /** Jobs per creation request: POST /jobs/batch, or one POST /jobs per job when 1. */
  batchSize: number;
  /** Save a CPU profile of the Worker during each delivery scenario (and, in `create`, during creation). */
  profile: boolean;
  /** "worktree", or a git revision to bench instead of the working tree. */
  source: string;
  /** A diff applied to the Worker's copy only, to measure a proposed change. */
  patch?: string;
  /** Settings passed to the Worker under test (such as MAX_SHARDS), to measure other limits. */
  vars: Record<string, string>;
  /** What runs the Worker (and the ceiling's): workerd alone, or wrangler dev. */
  runtime: Runtime;
  /** Where statements are counted: pg_stat_statements ("postgres"), or the bridge's own count. */
  countStatements: "postgres" | "bridge";
  /** Fresh starts of the stack the handover scenario measures. */
  handoverStarts: number;
  /** The database of each of those starts. */
  handoverDatabase: HandoverDatabase;
  /** Rows of old history the retention scenario builds and prunes. */
  retentionRows: number;
  /** POST /jobs per project and round in create-waiting. */
  createWaitingRequests: number;
  /** Messages the topic scenario publishes, each to its 3 endpoints. */
  topicMessages: number;
  /** Round-trip time the bridge adds to the Worker's database traffic (scenarios that set their own aside). */
  databaseDelayMs: number;
  /** The PostgreSQL cluster db-restart stops and starts ("15/bench"). */
  restartCluster?: string;
  /** Whether delivery scenarios' destinations have recent attempts when the tick plans (bench/history.ts). */
  history: History;
}

const cleanup = new Cleanup();
let stopping = false;

async function main(options: Options): Promise<void> {
  const serverUrl = process.env.DATABASE_URL || DEFAULT_DATABASE_URL;
  const host = new URL(serverUrl).hostname;
  if (host !== "127.0.0.1" && host !== "localhost") {
    throw new Error(`DATABASE_URL must name the local PostgreSQL (it needs its superuser), not ${host}`);
  }

  const snapshot = await snapshotWorker(
    ROOT,
    join(STATE_DIR, `bench-worker-${process.pid}`),
    options.source,
    options.patch,
  );
  cleanup.add("worker snapshot", snapshot.remove);
  const changed = snapshot.uncommittedChanges.length;
  console.log(
    `[bench] Worker under test: ${snapshot.source} at ${snapshot.commit.slice(0, 12)}` +
      (changed > 0 ? ` + ${changed} uncommitted change(s)` : "") +
      (snapshot.patch ? ` + patch ${snapshot.patch}` : ""),
  );
  if (options.scenarios.includes("db-restart")) {
    if (!options.restartCluster)
      throw new Error("db-restart needs --restart-cluster VERSION/NAME (a cluster no one else uses)");
    await checkRestartableCluster(options.restartCluster, serverUrl);
  }
  // Server connections stay logged in while idle, as behind Neon's PgBouncer: a tick's cells wait
  // up to a minute between handing out their shares and their jobs' time.
  const bridge = await startDbBridge({ databaseDelayMs: options.databaseDelayMs, serverIdleMs: PGBOUNCER_IDLE_MS });
  cleanup.add("bridge", bridge.close);
  // First, and with nothing else running: its stacks are its own, one per fresh start, and it
  // counts no SQL, so a run of it alone never needs pg_stat_statements (nor a PostgreSQL restart).
  const handover = options.scenarios.includes("handover")
    ? await runHandover(serverUrl, snapshot, bridge.proxy, options)
    : undefined;
  const retention = options.scenarios.includes("retention")
    ? await runRetention(serverUrl, snapshot, bridge.proxy, options)
    : undefined;
  const createWaiting = options.scenarios.includes("create-waiting")
    ? await runCreateWaiting(serverUrl, snapshot, bridge.proxy, options)
    : undefined;
  const npmStart = options.scenarios.includes("npm-start") ? await runNpmStart(serverUrl, snapshot) : undefined;
  const npmStartSoak = options.scenarios.includes("npm-start-soak")
    ? await runNpmStartSoak(serverUrl, snapshot)
    : undefined;
  if (options.scenarios.every((name) => STANDALONE.includes(name))) {
    const results: BenchResults = {
      deliveries: [],
      creations: [],
      handover,
      retention,
      createWaiting,
      npmStart,
      npmStartSoak,
    };
    await writeResultsJson(RESULTS_FILE, {
      generatedAt: new Date().toISOString(),
      complete: true,
      options,
      ...results,
    });
    console.log(`\n${markdownReport(results, checkTargets(results, options.runtime))}\n`);
    return;
  }

  if (options.countStatements === "postgres") await ensurePgStatStatements(serverUrl);
  const database = await createScratchDatabase(serverUrl, snapshot.migrate);
  cleanup.add("scratch database", database.drop);
  console.log(`[bench] scratch database ${database.name}`);
  const { token } = await createBenchProject(database.url, bridge.proxy);
  // A second tenant, for the scenarios that check one project's targets never delay another's.
  const other = await createBenchProject(database.url, bridge.proxy);
  const receiver = await startRecordingReceiver();
  cleanup.add("receiver", receiver.close);

  console.log(`[bench] starting the Worker on ${options.runtime} (output in ${WORKER_LOG})`);
  const worker = await startWorker(options.runtime, {
    root: snapshot.dir,
    inspector: options.profile,
    vars: {
      DATABASE_URL: database.url,
      LOCAL_DB_PROXY: bridge.proxy,
      // As npm start does: the receiver is on 127.0.0.1, which a Worker guarding its targets refuses.
      ALLOW_LOOPBACK_TARGETS: "true",
      ...options.vars,
    },
    logFile: WORKER_LOG,
  });
  cleanup.add("Worker", worker.stop);
  const workerDied = worker.exited.then((code) => {
    throw new Error(`the Worker's runtime exited mid-run (code ${code}); see ${WORKER_LOG}`);
  });
  // Only a death before the run ends matters; after that the rejection is expected and ignored.
  workerDied.catch(() => {});
  console.log(`[bench] the Worker serves ${worker.url}`);

  const ctx: BenchContext = {
    api: { url: worker.url, token },
    receiver,
    database,
    bridge,
    counter: new StatementCounter(
      database,
      options.countStatements === "bridge" ? () => bridge.stats().statementsByDatabase[database.name] ?? 0 : undefined,
    ),
    worker,
    creation: { batchSize: options.batchSize, concurrency: options.concurrency },
    profileDir: options.profile ? STATE_DIR : undefined,
    creationRate: 0,
    databaseDelayMs: options.databaseDelayMs,
    restartableCluster: options.restartCluster,
    history: options.history,
  };
  // Written after every scenario, so a run cut short keeps what it measured.
  const save = (results: BenchResults, complete: boolean) =>
    writeResultsJson(RESULTS_FILE, {
      generatedAt: new Date().toISOString(),
      complete,
      machine: { cpus: availableParallelism(), node: process.version },
      worker: {
        source: snapshot.source,
        commit: snapshot.commit,
        uncommittedChanges: snapshot.uncommittedChanges,
        patch: snapshot.patch,
      },
      options,
      ...results,
      targets: checkTargets(results, options.runtime),
    });
  const otherApi = { url: worker.url, token: other.token };
  const targetReceivers = new TargetReceivers();
  cleanup.add("target receivers", () => targetReceivers.close());
  const results = await Promise.race([
    runScenarios(ctx, otherApi, targetReceivers, options, (partial) => save(partial, false)),
    workerDied,
  ]);
  if (handover) results.handover = handover;
  if (retention) results.retention = retention;
  if (createWaiting) results.createWaiting = createWaiting;
  if (npmStart) results.npmStart = npmStart;
  if (npmStartSoak) results.npmStartSoak = npmStartSoak;
  await save(results, true);
  console.log(`\n${markdownReport(results, checkTargets(results, options.runtime))}\n`);
  console.log(`[bench] results written to ${RESULTS_FILE}`);
}

/** The npm-start scenario: this project's `npm start` under a user's load, three runs, on a scratch database. */
async function runNpmStart(serverUrl: string, snapshot: WorkerSnapshot): Promise<NpmStartResult> {
  const database = await createScratchDatabase(serverUrl, snapshot.migrate, { countStatements: false });
  try {
    const result = await runNpmStartScenario(ROOT, database.url, NPM_START_RUNS);
    printNpmStartResult(result);
    return result;
  } finally {
    await database.drop();
  }
}

/** The npm-start-soak scenario: one `npm start` kept working, its memory round by round, on a scratch database. */
async function runNpmStartSoak(serverUrl: string, snapshot: WorkerSnapshot): Promise<NpmStartSoakResult> {
  const database = await createScratchDatabase(serverUrl, snapshot.migrate, { countStatements: false });
  try {
    const result = await runNpmStartSoakScenario(ROOT, database.url);
    printNpmStartSoakResult(result);
    return result;
  } finally {
    await database.drop();
  }
}

/** The handover scenario: ten (or --handover-starts) fresh starts of the stack. */
async function runHandover(
  serverUrl: string,
  snapshot: { dir: string; migrate: (databaseUrl: string) => Promise<void> },
  localDbProxy: string,
  options: Options,
): Promise<HandoverResult> {
  console.log(
    `[bench handover] ${options.handoverStarts} fresh starts on ${options.handoverDatabase} ` +
      `(Worker output in ${HANDOVER_WORKER_LOG})`,
  );
  const result = await runHandoverScenario(
    {
      serverUrl,
      database: options.handoverDatabase,
      migrate: snapshot.migrate,
      localDbProxy,
      runtime: options.runtime,
      root: snapshot.dir,
      logFile: HANDOVER_WORKER_LOG,
      vars: options.vars,
    },
    options.handoverStarts,
  );
  console.log(`[bench handover] worst lateness over all starts: ${result.worstLatenessMs.toFixed(1)} ms`);
  return result;
}

/** The retention scenario: --retention-rows rows of old history built, then pruned as ticks would. */
async function runRetention(
  serverUrl: string,
  snapshot: { migrate: (databaseUrl: string) => Promise<void> },
  localDbProxy: string,
  options: Options,
): Promise<RetentionResult> {
  console.log(`[bench retention] building ${options.retentionRows.toLocaleString("en")} rows of old history`);
  const result = await runRetentionScenario(serverUrl, snapshot.migrate, localDbProxy, options.retentionRows);
  printRetentionResult(result);
  return result;
}

/** The create-waiting scenario: POST /jobs latency with 100,000 jobs waiting against an empty project. */
async function runCreateWaiting(
  serverUrl: string,
  snapshot: { dir: string; migrate: (databaseUrl: string) => Promise<void> },
  localDbProxy: string,
  options: Options,
): Promise<CreateWaitingResult> {
  console.log(`[bench create-waiting] Worker output in ${CREATE_WAITING_WORKER_LOG}`);
  const result = await runCreateWaitingScenario({
    serverUrl,
    migrate: snapshot.migrate,
    localDbProxy,
    runtime: options.runtime,
    root: snapshot.dir,
    logFile: CREATE_WAITING_WORKER_LOG,
    vars: options.vars,
    perRound: options.createWaitingRequests,
  });
  printCreateWaitingResult(result);
  return result;
}

async function runScenarios(
  ctx: BenchContext,
  otherApi: { url: string; token: string },
  targetReceivers: TargetReceivers,
  options: Options,
  saveProgress: (results: BenchResults) => Promise<void>,
): Promise<BenchResults> {
  const results: BenchResults = { deliveries: [], creations: [] };
  // In the order given, repeats included: `c,c,c` runs c three times on the same database and
  // Worker, the later runs on the warm connections a Fliq running for a while has.
  const deliveries = options.scenarios.flatMap((name) =>
    [...DELIVERY_SCENARIOS, ...FAULT_SCENARIOS].filter((scenario) => scenario.name === name),
  );
  const targets = options.scenarios.filter((name): name is TargetScenario =>
    (TARGET_SCENARIOS as readonly string[]).includes(name),
  );
  if (deliveries.length > 0 || targets.length > 0) ctx.creationRate = await measureCreationRate(ctx);
  for (const scenario of deliveries) {
    const result = await runDeliveryScenario(ctx, scenario);
    printDeliveryResult(result);
    results.deliveries.push(result);
    await saveProgress(results);
  }
  for (const name of targets) {
    const result = await runTargetScenario(ctx, otherApi, targetReceivers, name);
    printTargetResult(result);
    results.targetScenarios = [...(results.targetScenarios ?? []), result];
    await saveProgress(results);
  }
  for (const [name, run] of [
    ["create", runSingleCreateScenario],
    ["create-batch", runBatchCreateScenario],
  ] as const) {
    if (!options.scenarios.includes(name)) continue;
    const result = await run(ctx);
    printCreationResult(result);
    results.creations.push(result);
    await saveProgress(results);
  }
  if (options.scenarios.includes("topic")) {
    results.topic = await runTopicScenario(ctx, options.topicMessages);
    printTopicResult(results.topic);
    await saveProgress(results);
  }
  if (options.scenarios.includes("flow")) {
    results.flow = await runFlowScenario(ctx.api, ctx.worker.scheduledUrl);
    printFlowResult(results.flow);
    await saveProgress(results);
  }
  if (options.scenarios.includes("ceiling")) {
    console.log(`[bench ceiling] bare callbacks on ${options.runtime} (output in ${CEILING_WORKER_LOG})`);
    results.ceiling = await measureCeiling(ctx.receiver, {
      scriptsDir: join(ROOT, "scripts", "bench"),
      logFile: CEILING_WORKER_LOG,
      runtime: options.runtime,
    });
    printCeilingResult(results.ceiling);
    await saveProgress(results);
  }
  if (options.scenarios.includes("create-ceiling")) {
    console.log(`[bench create-ceiling] bare creates on ${options.runtime} (output in ${CREATE_CEILING_WORKER_LOG})`);
    results.createCeiling = await measureCreateCeiling({
      database: ctx.database,
      bridgeProxy: ctx.bridge.proxy,
      runtime: options.runtime,
      scriptsDir: join(ROOT, "scripts", "bench"),
      logFile: CREATE_CEILING_WORKER_LOG,
    });
    printCreateCeilingResult(results.createCeiling);
    await saveProgress(results);
  }
  if (options.scenarios.includes("idle")) {
    results.idle = await runIdleScenario(ctx, options.idleMinutes);
    printIdleResult(results.idle);
  }
  return results;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      scenario: { type: "string", default: "all" },
      "idle-minutes": { type: "string", default: "2" },
      concurrency: { type: "string", default: "32" },
      "batch-size": { type: "string", default: "500" },
      profile: { type: "boolean", default: false },
      source: { type: "string", default: "worktree" },
      patch: { type: "string" },
      var: { type: "string", multiple: true, default: [] },
      runtime: { type: "string", default: "workerd" },
      "count-statements": { type: "string", default: "postgres" },
      "handover-starts": { type: "string", default: "10" },
      "handover-database": { type: "string", default: "postgres" },
      "retention-rows": { type: "string", default: "10000000" },
      "create-waiting-requests": { type: "string", default: "200" },
      "topic-messages": { type: "string", default: "200" },
      "database-delay-ms": { type: "string", default: "0" },
      "restart-cluster": { type: "string" },
      history: { type: "string", default: "cold" },
    },
  });
  const requested = values.scenario.split(",").map((name) => name.trim());
  const scenarios = requested.includes("all")
    ? SCENARIO_NAMES.filter((name) => !ONLY_BY_NAME.includes(name))
    : requested;
  for (const name of scenarios) {
    if (!(SCENARIO_NAMES as readonly string[]).includes(name)) {
      throw new Error(
        `unknown scenario "${name}"; use ${SCENARIO_NAMES.join(", ")} or all (comma-separated for several)`,
      );
    }
  }
  const idleMinutes = Number(values["idle-minutes"]);
  const concurrency = Number(values.concurrency);
  if (!Number.isInteger(idleMinutes) || idleMinutes < 1) throw new Error("--idle-minutes must be a whole number ≥ 1");
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error("--concurrency must be a whole number ≥ 1");
  const handoverStarts = Number(values["handover-starts"]);
  if (!Number.isInteger(handoverStarts) || handoverStarts < 1) {
    throw new Error("--handover-starts must be a whole number ≥ 1");
  }
  const retentionRows = Number(values["retention-rows"]);
  if (!Number.isInteger(retentionRows) || retentionRows < 2)
    throw new Error("--retention-rows must be a whole number ≥ 2");
  const createWaitingRequests = Number(values["create-waiting-requests"]);
  if (!Number.isInteger(createWaitingRequests) || createWaitingRequests < 1) {
    throw new Error("--create-waiting-requests must be a whole number ≥ 1");
  }
  const topicMessages = Number(values["topic-messages"]);
  if (!Number.isInteger(topicMessages) || topicMessages < 1)
    throw new Error("--topic-messages must be a whole number ≥ 1");
  const databaseDelayMs = Number(values["database-delay-ms"]);
  if (!Number.isFinite(databaseDelayMs) || databaseDelayMs < 0) {
    throw new Error("--database-delay-ms must be a number of ms ≥ 0");
  }
  const batchSize = Number(values["batch-size"]);
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH_SIZE) {
    throw new Error(`--batch-size must be a whole number from 1 to ${MAX_BATCH_SIZE}`);
  }
  if (!(RUNTIMES as readonly string[]).includes(values.runtime)) {
    throw new Error(`--runtime takes ${RUNTIMES.join(" or ")}, not "${values.runtime}"`);
  }
  const countStatements = values["count-statements"];
  if (countStatements !== "postgres" && countStatements !== "bridge") {
    throw new Error(`--count-statements takes postgres or bridge, not "${countStatements}"`);
  }
  const handoverDatabase = values["handover-database"];
  if (handoverDatabase !== "postgres" && handoverDatabase !== "embedded") {
    throw new Error(`--handover-database takes postgres or embedded, not "${handoverDatabase}"`);
  }
  const history = values.history;
  if (!(HISTORIES as readonly string[]).includes(history)) {
    throw new Error(`--history takes ${HISTORIES.join(" or ")}, not "${history}"`);
  }
  return {
    history: history as History,
    countStatements,
    handoverDatabase,
    runtime: values.runtime as Runtime,
    scenarios: scenarios as ScenarioName[],
    idleMinutes,
    concurrency,
    batchSize,
    profile: values.profile,
    source: values.source,
    patch: values.patch,
    vars: Object.fromEntries(values.var.map(parseVar)),
    handoverStarts,
    retentionRows,
    createWaitingRequests,
    topicMessages,
    databaseDelayMs,
    restartCluster: values["restart-cluster"],
  };
}

/** `NAME=VALUE`, as `--var` takes it. */
function parseVar(text: string): [string, string] {
  const match = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(text);
  if (!match) throw new Error(`--var takes NAME=VALUE (an upper-case setting name), not "${text}"`);
  return [match[1], match[2]];
}

/** Stops everything the bench started, then exits. */
async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  await cleanup.run();
  process.exit(code);
}

for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(signal, () => {
    console.error(`\n[bench] ${signal}: stopping`);
    void stop(130);
  });
}

try {
  await main(parseOptions(process.argv.slice(2)));
  await stop(0);
} catch (error) {
  if (!stopping) console.error("[bench] failed:", error instanceof Error ? error.message : error);
  await stop(1);
}
