/**
 * The user's path to a job: creating jobs through the HTTP API with a token, as clients do.
 * - `create`: one `POST /jobs` per job, 10 requests in flight, each job then delivered by the
 *   tick; three runs, so every number comes with its spread.
 * - `create-batch`: `POST /jobs/batch`, 1,000 jobs a request; jobs due in an hour, not delivered.
 */
import { join } from "node:path";
import { type Api, createJobs } from "./create-jobs";
import { emptyJobs } from "./database";
import { type MemoryPeak, sampleMemory } from "./memory";
import { startProfiler } from "./profile";
import {
  type BenchContext,
  type CreationSettings,
  type DeliveryResult,
  type DeliveryScenario,
  measureCreationRate,
  perJob,
  printHottest,
  runDeliveryScenario,
  type StatementUse,
} from "./scenarios";
import { type Percentiles, percentiles } from "./stats";

/** Runs per scenario: the report gives min / median / max across them. */
export const CREATION_RUNS = 3;

const SINGLE: CreationSettings = { batchSize: 1, concurrency: 10 };
const BATCH: CreationSettings = { batchSize: 1_000, concurrency: 4 };
const SINGLE_JOBS = 2_000;
const BATCH_JOBS = 20_000;

/** The smallest, middle and largest of a number across runs. */
export interface Spread {
  min: number;
  median: number;
  max: number;
}

/** What one creation scenario measured, run by run and as spreads. */
export interface CreationScenarioResult {
  scenario: "create" | "create-batch";
  description: string;
  runs: CreationRun[];
  spread: {
    createsPerSecond: Spread;
    latencyP50Ms: Spread;
    latencyP99Ms: Spread;
    /** SQL statements per job, creation and delivery together (create-batch: creation only). */
    statementsPerJob: Spread;
    /** Postgres sessions started per creation request. */
    connectionsPerRequest: Spread;
    /** Logins the bridge made per creation request. */
    serverLoginsPerRequest: Spread;
    peakMemoryMib: Spread;
  };
}

/** One run of a creation scenario. */
export interface CreationRun {
  created: number;
  failures: number;
  firstError?: string;
  requests: number;
  createsPerSecond: number;
  latencyMs: Percentiles | null;
  creation: StatementUse;
  /** Delivery of the created jobs by the tick (create only). */
  delivery?: StatementUse & { delivered: number; missing: number; duplicates: number };
  statementsPerJob: number;
  peakMemory: MemoryPeak;
}

/** `create`: single POST /jobs calls, 10 in flight, each job delivered by the tick, three runs. */
export async function runSingleCreateScenario(ctx: BenchContext): Promise<CreationScenarioResult> {
  const scenario: DeliveryScenario = {
    name: "create",
    description: `${SINGLE_JOBS.toLocaleString("en")} jobs, one POST /jobs each, ${SINGLE.concurrency} in flight`,
    jobs: SINGLE_JOBS,
    spreadMs: 1_000,
    creation: SINGLE,
  };
  // The scenario sets its due times from the rate creation reaches this way.
  const saved = ctx.creationRate;
  ctx.creationRate = await measureCreationRate(ctx, SINGLE);
  const runs: CreationRun[] = [];
  try {
    for (let run = 1; run <= CREATION_RUNS; run++) {
      console.log(`[bench create] run ${run} of ${CREATION_RUNS}`);
      runs.push(fromDelivery(await runDeliveryScenario(ctx, scenario)));
    }
  } finally {
    ctx.creationRate = saved;
  }
  return summarize("create", scenario.description, runs);
}

function fromDelivery(result: DeliveryResult): CreationRun {
  const d = result.deliveries;
  const created = result.creation.created;
  return {
    created,
    failures: result.creation.failures,
    firstError: result.creation.firstError,
    requests: created + result.creation.failures,
    createsPerSecond: result.creation.rate,
    latencyMs: result.creation.latencyMs,
    creation: result.creation,
    delivery: { ...result.delivery, delivered: d.delivered, missing: d.missing, duplicates: d.duplicates },
    statementsPerJob: created > 0 ? (result.creation.statements + result.delivery.statements) / created : 0,
    peakMemory: result.peakMemory,
  };
}

/** `create-batch`: POST /jobs/batch with 1,000 jobs each, 4 in flight, three runs; creation only. */
export async function runBatchCreateScenario(ctx: BenchContext): Promise<CreationScenarioResult> {
  const description = `${BATCH_JOBS.toLocaleString("en")} jobs, POST /jobs/batch of ${BATCH.batchSize.toLocaleString("en")}, ${BATCH.concurrency} in flight`;
  await measureCreationRate(ctx, BATCH);
  const runs: CreationRun[] = [];
  for (let run = 1; run <= CREATION_RUNS; run++) {
    await emptyJobs(ctx.database.client);
    const memory = sampleMemory(ctx.worker.group, ctx.database.name);
    await ctx.counter.reset();
    const logins = ctx.bridge.stats().serverLogins;
    const dueAt = Date.now() + 3_600_000;
    // With --profile, the first run's creation is profiled (the Worker's CPU is what batches spend).
    const profiler = ctx.profileDir && run === 1 ? await startProfiler(ctx.worker) : undefined;
    const created = await createBatch(ctx.api, `${ctx.receiver.url}/batch`, dueAt, BATCH);
    if (profiler && ctx.profileDir) {
      const file = join(ctx.profileDir, "bench-create-batch.cpuprofile");
      printHottest(
        (line) => console.log(`[bench create-batch] ${line}`),
        `CPU profile saved to ${file}`,
        await profiler.stop(file),
      );
    }
    const statements = await ctx.counter.read();
    const creation = perJob(statements, created.ids.length, ctx.bridge.stats().serverLogins - logins);
    const peakMemory = await memory.stop();
    console.log(
      `[bench create-batch] run ${run}: ${created.ids.length} jobs in ${(created.elapsedMs / 1000).toFixed(2)} s` +
        ` (${created.rate.toFixed(0)}/s, ${created.failures} failed), ${statements.calls} statements`,
    );
    runs.push({
      created: created.ids.length,
      failures: created.failures,
      firstError: created.firstError,
      requests: Math.ceil(BATCH_JOBS / BATCH.batchSize),
      createsPerSecond: created.rate,
      latencyMs: created.latenciesMs.length > 0 ? percentiles(created.latenciesMs) : null,
      creation,
      statementsPerJob: creation.perJob,
      peakMemory,
    });
  }
  await emptyJobs(ctx.database.client);
  return summarize("create-batch", description, runs);
}

function createBatch(api: Api, url: string, dueAt: number, settings: CreationSettings) {
  return createJobs(api, url, Array<number>(BATCH_JOBS).fill(dueAt), settings);
}

function summarize(
  scenario: CreationScenarioResult["scenario"],
  description: string,
  runs: CreationRun[],
): CreationScenarioResult {
  const of = (value: (run: CreationRun) => number) => spreadOf(runs.map(value));
  const perRequest = (count: (run: CreationRun) => number) => of((run) => count(run) / Math.max(1, run.requests));
  return {
    scenario,
    description,
    runs,
    spread: {
      createsPerSecond: of((run) => run.createsPerSecond),
      latencyP50Ms: of((run) => run.latencyMs?.p50 ?? Number.NaN),
      latencyP99Ms: of((run) => run.latencyMs?.p99 ?? Number.NaN),
      statementsPerJob: of((run) => run.statementsPerJob),
      connectionsPerRequest: perRequest((run) => run.creation.connections),
      serverLoginsPerRequest: perRequest((run) => run.creation.serverLogins),
      peakMemoryMib: of((run) => run.peakMemory.totalMib),
    },
  };
}

function spreadOf(values: number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  return { min: sorted[0], median: sorted[Math.floor(sorted.length / 2)], max: sorted[sorted.length - 1] };
}
