/**
 * The bench's scenarios: a burst of jobs created through the API and delivered by one cron tick
 * the bench fires itself, and an idle stretch with the production tick rhythm.
 */

import { join } from "node:path";
import type { DbBridge } from "../local/bridge";
import { type CpuUse, cpuSince, readCpu } from "./cpu";
import { type Api, createJobs } from "./create-jobs";
import {
  emptyJobs,
  type ScratchDatabase,
  type StatementCount,
  type StatementCounter,
  type StatementSnapshot,
} from "./database";
import { type History, prepareHistory } from "./history";
import { type MemoryPeak, sampleMemory } from "./memory";
import { type ConnectionPeaks, readConnectionPeaks } from "./probe";
import { type HotFunction, startProfiler } from "./profile";
import type { Arrival, RecordingReceiver } from "./receiver";
import { type RunningWorker, sleep } from "./stack";
import {
  type DeliveryStats,
  latenessTimeline,
  type Percentiles,
  percentiles,
  summarizeDeliveries,
  type TimelineSlice,
} from "./stats";

/**
 * A job due this soon after its creation is fired by the API invocation itself (its after-response
 * window is 28 s less the 15 s default timeout). Scenario jobs must be left to the tick.
 */
const API_FIRES_WITHIN_MS = 13_000;
/** The first due time lies at least this far past the (estimated) end of creation. */
const CREATION_LEAD_MS = 25_000;
/** The tick is fired this long before the first due time: it claims its whole window at its start. */
const TICK_LEAD_MS = 17_000;
/** Deliveries not in by the first due time plus this count as missing. */
const DELIVERY_TIMEOUT_MS = 60_000;
/** A tick's window: its minute plus the 5 s overlap (src/dispatch/tick.ts); it answers when the window has passed. */
const TICK_WINDOW_MS = 65_000;
/** How much longer than its window a tick may take to answer before the bench gives up on it. */
const TICK_RESPONSE_SLACK_MS = 120_000;
/** Creation-time estimates are stretched by this factor, in case creation slows down as it goes. */
const CREATION_ESTIMATE_FACTOR = 1.15;

/** What every scenario runs against. */
export interface BenchContext {
  api: Api;
  receiver: RecordingReceiver;
  database: ScratchDatabase;
  /** The bridge the Worker reaches the database through; it counts the server logins it makes. */
  bridge: DbBridge;
  counter: StatementCounter;
  /** The Worker under test. */
  worker: RunningWorker;
  /** How jobs are created: jobs per request (1: one POST /jobs each) and requests in flight. */
  creation: CreationSettings;
  /** Where to save a CPU profile of each delivery scenario (none when unset). */
  profileDir?: string;
  /** Jobs per second creation is expected to reach (the slowest seen so far); sets how far ahead jobs are due. */
  creationRate: number;
  /** Round-trip time the bridge adds to the Worker's database traffic outside scenarios that set their own. */
  databaseDelayMs: number;
  /** The PostgreSQL cluster the bench may restart ("15/bench"), for db-restart; none when unset. */
  restartableCluster?: string;
  /** Whether the scenarios' destinations have recent attempts when their tick plans (bench/history.ts). */
  history: History;
}

/** Jobs per request (1: one POST /jobs each) and requests in flight. */
export interface CreationSettings {
  batchSize: number;
  concurrency: number;
}

/** A burst of jobs due over `spreadMs`, evenly spaced. */
export interface DeliveryScenario {
  name: string;
  description: string;
  jobs: number;
  spreadMs: number;
  /** How this scenario creates its jobs, when not as the bench's options say. */
  creation?: CreationSettings;
  /** Round-trip time the bridge adds to the Worker's database traffic during this scenario (a far database). */
  databaseDelayMs?: number;
  /** Something that goes wrong while the tick delivers (scripts/bench/faults.ts). */
  fault?: Fault;
  /** Deliveries not in by the first due time plus this count as missing (DELIVERY_TIMEOUT_MS when unset). */
  deliveryTimeoutMs?: number;
}

/** Something made to go wrong during a scenario's delivery. */
export interface Fault {
  /** Sets the fault going; called just before the tick is fired at `tickAt`, for jobs due from `firstDueAt` to `lastDueAt`. */
  start(ctx: BenchContext, times: { tickAt: number; firstDueAt: number; lastDueAt: number }): Promise<StartedFault>;
}

export interface StartedFault {
  /** Called once the deliveries are in (or given up on): what the fault did, and to which jobs. */
  finish(): Promise<FaultStrike>;
}

/** What a fault did. */
export interface FaultStrike {
  /** One line, e.g. "the tick was cut 12.3 s after it started". */
  what: string;
  /** When it struck (epoch ms): the jobs due from then on are reported apart. */
  at?: number;
  /** The jobs it hit directly (a failed cell's share), reported apart from the others. */
  hitJobs?: string[];
}

/** A fault's strike and the deliveries on either side of it. */
export interface FaultResult extends FaultStrike {
  /** The jobs due from the strike on. */
  dueAfterStrike?: DeliveryStats;
  /** The jobs it hit directly, and all the others. */
  hit?: DeliveryStats;
  others?: DeliveryStats;
}

/** The delivery scenarios, by name. */
export const DELIVERY_SCENARIOS: readonly DeliveryScenario[] = [
  { name: "a", description: "1,000 jobs spread evenly over 10 s", jobs: 1_000, spreadMs: 10_000 },
  { name: "b", description: "1,000 jobs due within one second", jobs: 1_000, spreadMs: 1_000 },
  { name: "c", description: "10,000 jobs due within one second", jobs: 10_000, spreadMs: 1_000 },
];

/** The SQL a phase cost, in all and per job. */
export interface StatementUse {
  statements: number;
  perJob: number;
  top: StatementCount[];
  /** Database connections opened (Postgres sessions started in the scratch database). */
  connections: number;
  /** Logins the bridge made to Postgres on the Worker's behalf (each one a new server connection). */
  serverLogins: number;
}

/** How a fired tick ended. */
export interface TickOutcome {
  /** The tick's answer: "ok" when the scheduled handler succeeded. */
  outcome: string;
  durationMs: number;
}

/** Everything measured in one delivery scenario. */
export interface DeliveryResult {
  scenario: DeliveryScenario["name"];
  description: string;
  creation: StatementUse & {
    created: number;
    failures: number;
    firstError?: string;
    seconds: number;
    rate: number;
    /** Each creation request's round trip as the client saw it. */
    latencyMs: Percentiles | null;
    cpu: CpuUse;
  };
  /** First due time minus the end of creation: above API_FIRES_WITHIN_MS, no job was fired by the API. */
  leadAfterCreationMs: number;
  /** First due time minus the moment the tick was fired. */
  tickLeadMs: number;
  tick: TickOutcome;
  deliveries: DeliveryStats;
  /** Lateness by due time across the spread (the JSON's evidence for where lateness comes from). */
  timeline: TimelineSlice[];
  delivery: StatementUse & { cpu: CpuUse };
  /** Error lines the Worker (or wrangler, when it runs it) printed during the scenario. */
  workerErrors: string[];
  /** The most memory the processes running Fliq held at once, from creation to the last delivery. */
  peakMemory: MemoryPeak;
  /** The most connections any one invocation held at once, by kind, from creation to the tick's end. */
  connectionPeaks: ConnectionPeaks;
  /** Uncaught errors in the Worker's output during delivery (the probe's own injected faults left out). */
  uncaughtErrors: string[];
  fault?: FaultResult;
}

const WARM_UP_JOBS = 200;

/**
 * Creates a few jobs due in an hour (then deletes them) to warm the Worker up and measure how fast
 * the API creates jobs: the scenarios set their due times from that rate. Fails fast on a bad setup.
 */
export async function measureCreationRate(ctx: BenchContext, creation = ctx.creation): Promise<number> {
  const dueAt = Date.now() + 3_600_000;
  const result = await createJobs(
    ctx.api,
    `${ctx.receiver.url}/warm-up`,
    Array<number>(WARM_UP_JOBS).fill(dueAt),
    creation,
  );
  await emptyJobs(ctx.database.client);
  if (result.failures > 0) throw new Error(`creating warm-up jobs failed: ${result.firstError}`);
  console.log(`[bench] warm-up: created ${WARM_UP_JOBS} jobs at ${result.rate.toFixed(0)}/s`);
  return result.rate;
}

/** Creates the scenario's jobs through the API, fires one tick ahead of them, and measures their delivery. */
export async function runDeliveryScenario(ctx: BenchContext, scenario: DeliveryScenario): Promise<DeliveryResult> {
  const log = (line: string) => console.log(`[bench ${scenario.name}] ${line}`);
  const creation = scenario.creation ?? ctx.creation;
  await emptyJobs(ctx.database.client);
  await prepareHistory(ctx, [{ api: ctx.api, url: `${ctx.receiver.url}/callback` }]);
  ctx.receiver.clear();
  ctx.bridge.setDatabaseDelay(scenario.databaseDelayMs ?? ctx.databaseDelayMs);
  try {
    return await deliverScenario(ctx, scenario, creation, log);
  } finally {
    ctx.bridge.setDatabaseDelay(ctx.databaseDelayMs);
  }
}

async function deliverScenario(
  ctx: BenchContext,
  scenario: DeliveryScenario,
  creation: CreationSettings,
  log: (line: string) => void,
): Promise<DeliveryResult> {
  // Started over: the scenario's own peaks, creation's included.
  await readConnectionPeaks(ctx.api.url);

  const estimatedCreationMs = (scenario.jobs / ctx.creationRate) * 1000 * CREATION_ESTIMATE_FACTOR;
  // A whole second keeps the due times readable in logs and in the database.
  const firstDueAt = Math.ceil((Date.now() + estimatedCreationMs + CREATION_LEAD_MS) / 1000) * 1000;
  const dueTimes = Array.from(
    { length: scenario.jobs },
    (_, index) => firstDueAt + Math.floor((index * scenario.spreadMs) / scenario.jobs),
  );

  log(
    `creating ${scenario.jobs} jobs (${creation.batchSize} per request, ${creation.concurrency} requests in flight), first due ${new Date(firstDueAt).toISOString()}`,
  );
  const memory = sampleMemory(ctx.worker.group, ctx.database.name);
  await ctx.counter.reset();
  const creationLogins = ctx.bridge.stats().serverLogins;
  const creationCpu = await readCpu(ctx.worker.group);
  // In `create`, creating is what is measured: its profile is taken too, apart from the delivery's.
  const creationProfiler = ctx.profileDir && scenario.name === "create" ? await startProfiler(ctx.worker) : undefined;
  const created = await createJobs(ctx.api, `${ctx.receiver.url}/callback`, dueTimes, creation);
  if (creationProfiler && ctx.profileDir) {
    const file = join(ctx.profileDir, `bench-${scenario.name}-creation.cpuprofile`);
    printHottest(log, `CPU profile (creation) saved to ${file}`, await creationProfiler.stop(file));
  }
  const creationStatements = await ctx.counter.read();
  const creationServerLogins = ctx.bridge.stats().serverLogins - creationLogins;
  const creationCpuUse = cpuSince(creationCpu, await readCpu(ctx.worker.group));
  const leadAfterCreationMs = firstDueAt - Date.now();
  ctx.creationRate = Math.min(ctx.creationRate, created.rate);
  log(
    `created ${created.ids.length} in ${(created.elapsedMs / 1000).toFixed(1)} s (${created.rate.toFixed(0)}/s, ` +
      `${created.failures} failed); first due in ${(leadAfterCreationMs / 1000).toFixed(1)} s`,
  );
  if (created.firstError) log(`first creation error: ${created.firstError}`);
  if (leadAfterCreationMs < API_FIRES_WITHIN_MS + 2_000) {
    log("WARNING: creation overran its estimate; some jobs may have been fired by the API, not the tick");
  }

  await sleep(firstDueAt - TICK_LEAD_MS - Date.now());
  const logOffset = await ctx.worker.logSize();
  await ctx.counter.reset();
  const deliveryLogins = ctx.bridge.stats().serverLogins;
  const deliveryCpu = await readCpu(ctx.worker.group);
  const tickAt = Date.now();
  const fault = await scenario.fault?.start(ctx, { tickAt, firstDueAt, lastDueAt: dueTimes[dueTimes.length - 1] });
  log(`firing the tick ${((firstDueAt - tickAt) / 1000).toFixed(1)} s before the first due time`);
  const profiler = ctx.profileDir ? await startProfiler(ctx.worker) : undefined;
  const tick = fireTick(ctx.worker.scheduledUrl, tickAt, TICK_WINDOW_MS + TICK_RESPONSE_SLACK_MS);

  const all = await ctx.receiver.waitForJobs(
    created.ids,
    firstDueAt + (scenario.deliveryTimeoutMs ?? DELIVERY_TIMEOUT_MS),
  );
  log(all ? "every job arrived; waiting for the tick to end its window" : "timed out waiting for deliveries");
  const strike = await fault?.finish();
  if (strike) log(`fault: ${strike.what}`);
  if (profiler && ctx.profileDir) {
    const file = join(ctx.profileDir, `bench-${scenario.name}.cpuprofile`);
    printHottest(log, `CPU profile (tick fired → last delivery) saved to ${file}`, await profiler.stop(file));
  }
  const tickOutcome = await tick;
  const deliveryStatements = await ctx.counter.read();
  const deliveryServerLogins = ctx.bridge.stats().serverLogins - deliveryLogins;
  const deliveryCpuUse = cpuSince(deliveryCpu, await readCpu(ctx.worker.group));
  const peakMemory = await memory.stop();
  const deliveries = summarizeDeliveries(created.ids, ctx.receiver.arrivals, firstDueAt);
  const connectionPeaks = await readConnectionPeaks(ctx.api.url);
  const deliveryOutput = await ctx.worker.logSince(logOffset);
  // Ids come back in request order, so they pair with their due times when every request succeeded.
  const dueTimeOf = created.failures === 0 ? new Map(created.ids.map((id, index) => [id, dueTimes[index]])) : undefined;

  return {
    scenario: scenario.name,
    description: scenario.description,
    creation: {
      created: created.ids.length,
      failures: created.failures,
      firstError: created.firstError,
      seconds: created.elapsedMs / 1000,
      rate: created.rate,
      latencyMs: created.latenciesMs.length > 0 ? percentiles(created.latenciesMs) : null,
      cpu: creationCpuUse,
      ...perJob(creationStatements, created.ids.length, creationServerLogins),
    },
    leadAfterCreationMs,
    tickLeadMs: firstDueAt - tickAt,
    tick: tickOutcome,
    deliveries,
    timeline: latenessTimeline(ctx.receiver.arrivals, firstDueAt, scenario.spreadMs),
    delivery: { ...perJob(deliveryStatements, created.ids.length, deliveryServerLogins), cpu: deliveryCpuUse },
    workerErrors: errorLines(deliveryOutput),
    peakMemory,
    connectionPeaks,
    uncaughtErrors: uncaughtErrorLines(deliveryOutput),
    fault: strike && faultResult(strike, created.ids, dueTimeOf, ctx.receiver.arrivals, firstDueAt),
  };
}

/** The deliveries of the jobs a fault hit directly, of the others, and of those due after it struck. */
function faultResult(
  strike: FaultStrike,
  ids: readonly string[],
  dueTimeOf: Map<string, number> | undefined,
  arrivals: readonly Arrival[],
  firstDueAt: number,
): FaultResult {
  const result: FaultResult = { ...strike };
  const { at, hitJobs } = strike;
  if (at !== undefined && dueTimeOf) {
    const dueAfter = ids.filter((id) => (dueTimeOf.get(id) ?? 0) >= at);
    result.dueAfterStrike = summarizeDeliveries(dueAfter, arrivals, Math.max(at, firstDueAt));
  }
  if (hitJobs) {
    const hit = new Set(hitJobs);
    result.hit = summarizeDeliveries(
      ids.filter((id) => hit.has(id)),
      arrivals,
      firstDueAt,
    );
    result.others = summarizeDeliveries(
      ids.filter((id) => !hit.has(id)),
      arrivals,
      firstDueAt,
    );
  }
  return result;
}

/**
 * Lines of the Worker's output that report an error nothing caught (workerd's "Uncaught", the
 * driver's send on a closed WebSocket), less those of the probe's own injected faults.
 */
function uncaughtErrorLines(output: string): string[] {
  return output
    .split("\n")
    .map((line) => line.trimEnd())
    .filter((line) => /uncaught|send\(\) after close\(\)/i.test(line) && !line.includes("the bench"));
}

/** Prints a profile's functions with the most self time. */
export function printHottest(log: (line: string) => void, title: string, hottest: HotFunction[]): void {
  log(`${title}; most self time:`);
  for (const fn of hottest)
    log(`  ${fn.selfMs.toFixed(0).padStart(6)} ms ${(fn.share * 100).toFixed(1).padStart(5)}%  ${fn.name}`);
}

/** What the idle scenario measured. */
export interface IdleResult {
  minutes: number;
  ticks: number;
  seconds: number;
  statements: number;
  statementsPerSecond: number;
  top: StatementCount[];
  /** Database connections opened. */
  connections: number;
  /** Minutes in which the Worker opened at least one database connection (counted by the bridge). */
  minutesWithConnections: number;
  /** Connections the Worker opened in each minute. */
  connectionsByMinute: number[];
  /**
   * The one job created halfway through (due 30 s after its creation, with a 30 s timeout so the
   * tick, not the API, fires it): how late it arrived, in ms (null: it never did).
   */
  jobLatenessMs: number | null;
  tickOutcomes: TickOutcome[];
  cpu: CpuUse;
  workerErrors: string[];
}

/** How far ahead of its creation the idle scenario's one job is due. */
const IDLE_JOB_DUE_IN_MS = 30_000;

/**
 * With no jobs, fires the tick once a minute for `minutes` minutes, and counts the SQL it costs
 * and the minutes in which the Worker connected to the database at all. Halfway through, one job
 * is created, due 30 s later: the idle tick must still fire it on its second.
 */
export async function runIdleScenario(ctx: BenchContext, minutes: number): Promise<IdleResult> {
  const log = (line: string) => console.log(`[bench idle] ${line}`);
  await emptyJobs(ctx.database.client);
  ctx.receiver.clear();
  const logOffset = await ctx.worker.logSize();
  await ctx.counter.reset();
  const cpu = await readCpu(ctx.worker.group);
  const start = Date.now();
  const ticks: Array<Promise<TickOutcome>> = [];
  const connectionsByMinute: number[] = [];
  let connectionsBefore = ctx.bridge.stats().clientConnections;
  let job: Promise<{ id: string; dueAt: number } | undefined> = Promise.resolve(undefined);
  for (let minute = 0; minute < minutes; minute++) {
    const at = start + minute * 60_000;
    await sleep(at - Date.now());
    if (minute > 0) {
      const connections = ctx.bridge.stats().clientConnections;
      connectionsByMinute.push(connections - connectionsBefore);
      connectionsBefore = connections;
    }
    log(`tick ${minute + 1} of ${minutes}`);
    ticks.push(fireTick(ctx.worker.scheduledUrl, at, TICK_WINDOW_MS + TICK_RESPONSE_SLACK_MS));
    if (minute === Math.floor(minutes / 2)) job = createIdleJob(ctx, at + 20_000);
  }
  await sleep(start + minutes * 60_000 - Date.now());
  connectionsByMinute.push(ctx.bridge.stats().clientConnections - connectionsBefore);
  // Read at the end of the last minute, as the next tick would start: a steady-state rate.
  const snapshot = await ctx.counter.read();
  const seconds = (Date.now() - start) / 1000;
  const cpuUse = cpuSince(cpu, await readCpu(ctx.worker.group));
  log("waiting for the last tick to end its window");
  const tickOutcomes = await Promise.all(ticks);
  const created = await job;
  const arrival = created && ctx.receiver.arrivals.find((a) => a.jobId === created.id);
  return {
    minutes,
    ticks: ticks.length,
    seconds,
    statements: snapshot.calls,
    statementsPerSecond: snapshot.calls / seconds,
    top: snapshot.top,
    connections: snapshot.connections,
    minutesWithConnections: connectionsByMinute.filter((count) => count > 0).length,
    connectionsByMinute,
    jobLatenessMs: arrival && created ? arrival.at - created.dueAt : null,
    tickOutcomes,
    cpu: cpuUse,
    workerErrors: errorLines(await ctx.worker.logSince(logOffset)),
  };
}

/** Creates the idle scenario's one job at `at` (epoch ms). */
async function createIdleJob(ctx: BenchContext, at: number): Promise<{ id: string; dueAt: number } | undefined> {
  await sleep(at - Date.now());
  const dueAt = Date.now() + IDLE_JOB_DUE_IN_MS;
  const result = await createJobs(ctx.api, `${ctx.receiver.url}/idle`, [dueAt], {
    concurrency: 1,
    batchSize: 1,
    fields: { timeout_ms: 30_000 },
  });
  const [id] = result.ids;
  return id ? { id, dueAt } : undefined;
}

/**
 * Fires the cron handler as production's trigger would, for the minute starting at `scheduledTime`.
 * The local endpoint answers only when the handler returns, i.e. after the tick's whole window.
 */
export async function fireTick(scheduledUrl: string, scheduledTime: number, timeoutMs: number): Promise<TickOutcome> {
  const started = Date.now();
  try {
    const response = await fetch(`${scheduledUrl}?cron=*+*+*+*+*&time=${scheduledTime}`, {
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = (await response.text()).trim();
    return { outcome: response.ok ? text : `${response.status} ${text}`, durationMs: Date.now() - started };
  } catch (error) {
    return { outcome: `failed: ${error instanceof Error ? error.message : error}`, durationMs: Date.now() - started };
  }
}

export function perJob(snapshot: StatementSnapshot, jobs: number, serverLogins: number): StatementUse {
  return {
    statements: snapshot.calls,
    perJob: jobs > 0 ? snapshot.calls / jobs : 0,
    top: snapshot.top,
    connections: snapshot.connections,
    serverLogins,
  };
}

/** Lines of the Worker's output that report a problem (wrangler's request log lines are not). */
function errorLines(output: string): string[] {
  return output
    .split("\n")
    .map((line) => line.trimEnd())
    .filter((line) => /error|✘|uncaught|exception|failed/i.test(line));
}
