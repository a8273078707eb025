/**
 * Delivery under faults: the same burst-and-tick scenarios as a, b and c (scenarios.ts) while
 * something goes wrong, injected from outside the Worker (the bridge, the database cluster) or
 * inside the bench's copy only (worker-probe.js), never in the sources.
 *
 *   far-db:     scenario a with 30 ms of round-trip time added to every exchange between the
 *               Worker and Postgres (the bridge's database delay).
 *   cell-fails: scenario b (1,000 jobs due within one second, so the tick fans out to cells);
 *               the first cell to receive its share throws instead of delivering it.
 *   tick-cut:   scenario a; the tick's invocation ends at a random moment while its jobs fall due
 *               (a production tick delivers all through its window, so a cut finds it delivering).
 *               Ticks go on each minute after it, as the cron's would.
 *   db-restart: 500 jobs due within 2 s; the database cluster stops half a second into the
 *               burst and starts again 6 s later. It needs a cluster of its own (--restart-cluster).
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { armFault, readFaultHits } from "./probe";
import { type BenchContext, type DeliveryScenario, type Fault, fireTick, type TickOutcome } from "./scenarios";
import { sleep } from "./stack";

/** The round trip far-db adds to each database exchange. */
export const FAR_DATABASE_DELAY_MS = 30;
/** How long db-restart keeps the database down. */
const DATABASE_DOWN_MS = 6_000;
/** db-restart stops the database this long after the first due time: during the burst. */
const DATABASE_STOP_AFTER_FIRST_DUE_MS = 500;
const MINUTE_MS = 60_000;
/** A tick's window and the slack the bench gives its answer, as in scenarios.ts. */
const TICK_ANSWER_TIMEOUT_MS = 185_000;

/** The cut tick's jobs may wait for the next ticks (a started job's lease is its timeout plus 30 s). */
const TICK_CUT_DELIVERY_TIMEOUT_MS = 180_000;

export const FAULT_SCENARIOS: readonly DeliveryScenario[] = [
  {
    name: "far-db",
    description: `1,000 jobs spread evenly over 10 s, ${FAR_DATABASE_DELAY_MS} ms more round trip to the database`,
    jobs: 1_000,
    spreadMs: 10_000,
    databaseDelayMs: FAR_DATABASE_DELAY_MS,
  },
  {
    name: "cell-fails",
    description: "1,000 jobs due within one second, the first delivery cell to get its share throws",
    jobs: 1_000,
    spreadMs: 1_000,
    fault: { start: failFirstCell },
  },
  {
    name: "tick-cut",
    description: "1,000 jobs spread evenly over 10 s, the tick's invocation cut at a random moment",
    jobs: 1_000,
    spreadMs: 10_000,
    fault: { start: cutTick },
    deliveryTimeoutMs: TICK_CUT_DELIVERY_TIMEOUT_MS,
  },
  {
    name: "db-restart",
    description: `500 jobs due within 2 s, the database down ${DATABASE_DOWN_MS / 1000} s from 0.5 s into the burst`,
    jobs: 500,
    spreadMs: 2_000,
    fault: { start: restartDatabase },
  },
];

export type FaultScenario = "far-db" | "cell-fails" | "tick-cut" | "db-restart";
export const FAULT_SCENARIO_NAMES: readonly FaultScenario[] = ["far-db", "cell-fails", "tick-cut", "db-restart"];

async function failFirstCell(ctx: BenchContext): ReturnType<Fault["start"]> {
  await armFault(ctx.api.url, { cellFails: true });
  return {
    async finish() {
      const { failedShareJobs } = await readFaultHits(ctx.api.url);
      return {
        what:
          failedShareJobs.length > 0
            ? `a share of ${failedShareJobs.length} jobs failed in its cell`
            : "no share was handed to a cell (the tick did not fan out): nothing failed",
        hitJobs: failedShareJobs,
      };
    },
  };
}

/**
 * Cuts the tick at a random moment from the first due time to the last, and fires the ticks of
 * the following minutes as the cron would, until the deliveries are in.
 */
async function cutTick(
  ctx: BenchContext,
  { tickAt, firstDueAt, lastDueAt }: { tickAt: number; firstDueAt: number; lastDueAt: number },
) {
  const cutAfterMs = Math.round(firstDueAt - tickAt + Math.random() * (lastDueAt - firstDueAt));
  await armFault(ctx.api.url, { tickCutAfterMs: cutAfterMs });
  const nextTicks: Array<Promise<TickOutcome>> = [];
  let stopped = false;
  void (async () => {
    for (let minute = 1; ; minute++) {
      await sleep(tickAt + minute * MINUTE_MS - Date.now());
      if (stopped) return;
      console.log(`[bench tick-cut] firing the tick of minute ${minute} after the cut one`);
      nextTicks.push(fireTick(ctx.worker.scheduledUrl, tickAt + minute * MINUTE_MS, TICK_ANSWER_TIMEOUT_MS));
    }
  })();
  return {
    async finish() {
      // The one waiting for its minute fires nothing when it wakes.
      stopped = true;
      const { tickCutAt } = await readFaultHits(ctx.api.url);
      const answers = await Promise.all(nextTicks);
      const later = answers.length > 0 ? `; ${answers.length} later tick(s) fired` : "";
      return tickCutAt === undefined
        ? { what: `the tick ended before its cut at +${(cutAfterMs / 1000).toFixed(1)} s${later}` }
        : {
            what:
              `the tick was cut ${(cutAfterMs / 1000).toFixed(1)} s after it started, ` +
              `${((tickCutAt - firstDueAt) / 1000).toFixed(1)} s from the first due time${later}`,
            at: tickCutAt,
          };
    },
  };
}

/** Stops the bench's database cluster during the burst and starts it again DATABASE_DOWN_MS later. */
async function restartDatabase(ctx: BenchContext, { firstDueAt }: { firstDueAt: number }) {
  const cluster = ctx.restartableCluster;
  if (!cluster) throw new Error("db-restart needs --restart-cluster (a PostgreSQL cluster no one else uses)");
  const restarted = (async () => {
    await sleep(firstDueAt + DATABASE_STOP_AFTER_FIRST_DUE_MS - Date.now());
    const stoppedAt = Date.now();
    await pgCtlCluster(cluster, "stop");
    const downAt = Date.now();
    console.log(`[bench db-restart] ${cluster} stopped`);
    await sleep(stoppedAt + DATABASE_DOWN_MS - Date.now());
    const startingAt = Date.now();
    await pgCtlCluster(cluster, "start");
    const startedAt = Date.now();
    console.log(`[bench db-restart] ${cluster} started again`);
    return { stoppedAt, downAt, startingAt, startedAt };
  })();
  return {
    async finish() {
      const { stoppedAt, downAt, startingAt, startedAt } = await restarted;
      await ctx.database.reconnect();
      const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
      return {
        what:
          `${cluster} told to stop ${seconds(stoppedAt - firstDueAt)} after the first due time (stopped in ` +
          `${seconds(downAt - stoppedAt)}), to start ${seconds(startingAt - stoppedAt)} later (up in ` +
          `${seconds(startedAt - startingAt)}): ${seconds(startedAt - stoppedAt)} from stop to start`,
        at: stoppedAt,
      };
    },
  };
}

/** `pg_ctlcluster VERSION NAME stop|start` (as root), waiting until it is done. */
async function pgCtlCluster(cluster: string, action: "stop" | "start"): Promise<void> {
  const [version, name] = cluster.split("/");
  const args = action === "stop" ? [version, name, "stop", "--mode", "fast"] : [version, name, "start"];
  await promisify(execFile)("pg_ctlcluster", args);
}

/**
 * Checks that `cluster` ("15/bench") serves the port of `serverUrl`, so db-restart restarts the
 * database the scenario uses and nothing else.
 */
export async function checkRestartableCluster(cluster: string, serverUrl: string): Promise<void> {
  const match = /^(\d+)\/([\w-]+)$/.exec(cluster);
  if (!match) throw new Error(`--restart-cluster takes VERSION/NAME (as pg_lsclusters lists it), not "${cluster}"`);
  const { stdout } = await promisify(execFile)("pg_lsclusters", ["--no-header", match[1], match[2]]);
  const port = stdout.trim().split(/\s+/)[2];
  const wanted = new URL(serverUrl).port || "5432";
  if (port !== wanted) {
    throw new Error(`cluster ${cluster} listens on port ${port}, not on DATABASE_URL's ${wanted}`);
  }
}
