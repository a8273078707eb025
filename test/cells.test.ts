/**
 * Delivery cells (Durable Objects) carry a tick's shares past the 16 self-invoked shards one
 * request's 32 invocations allow: a burst needing more than 16 × 5 callbacks in flight is
 * planned onto more cells and every job arrives once; a cell that fails costs only its own jobs
 * seconds (released at once, taken over); and a cell keeps the cap of 5 callbacks in flight.
 * Real cells (miniflare runs the Durable Objects), real Postgres, the real receiver.
 */
import { describe, expect, it } from "vitest";
import { claimWindow, findJob, startClaimedJobs } from "../src/db/jobs";
import { outboundOf } from "../src/dispatch/deliver";
import { cellRunnerOf, type DeliveryCell } from "../src/dispatch/delivery-cell";
import type { DeliveryReport } from "../src/dispatch/delivery-run";
import { fanOutOf } from "../src/dispatch/shard-plan";
import { runTick, type Shard } from "../src/dispatch/tick";
import { WINDOW_OVERLAP_MS } from "../src/jobs/timing";
import { readSettings } from "../src/settings";
import {
  dueAfterStartLead,
  insertJobRow,
  later,
  onRealPostgres,
  receivedAt,
  receiverPeakInFlight,
  receiverUrl,
  runTickUntil,
  testEnv,
  useTestProject,
} from "./support/fliq";

const { db, project } = await useTestProject();
const cells = testEnv.DELIVERY_CELLS as DurableObjectNamespace<DeliveryCell>;
/** A cell of its own for one test, so no other test's share can make it busy. */
const freshCell = () => cells.get(cells.idFromName(`test-${crypto.randomUUID()}`));

/** A tick of the window ending at `windowEnd`, fanning out onto cells (wrapped by `runShare`). */
function tickOntoCells(
  windowEnd: Date,
  runShare: (
    shard: Shard,
    index: number,
    cell: (shard: Shard, index: number) => Promise<DeliveryReport>,
  ) => Promise<DeliveryReport>,
) {
  const scheduledTime = new Date(windowEnd.getTime() - 60_000 - WINDOW_OVERLAP_MS);
  const fanOut = fanOutOf({ maxShards: 16, maxCells: 128, cellsBound: true });
  const cell = cellRunnerOf(cells, scheduledTime);
  return runTick({
    db,
    scheduledTime,
    now: new Date(),
    limits: { subrequestBudget: 1000, callbacksPerSecond: 1000, maxShards: fanOut.maxInvocations, retentionDays: 30 },
    outbound: outboundOf(readSettings(testEnv)),
    carrier: fanOut.carrier,
    runShard: (shard, index) => runShare(shard, index, cell),
  });
}

/** Claims `jobs` under a claimant of its own, as a tick would before handing them to a cell. */
async function claimedShare(jobs: Array<{ id: string }>, windowEnd: Date): Promise<Shard> {
  const claimant = crypto.randomUUID();
  const claimed = await claimWindow(db, {
    claimant,
    dueBefore: windowEnd,
    leaseMs: 30_000,
    now: new Date(),
    limit: 1000,
  });
  expect(claimed.map((job) => job.id).sort()).toEqual(jobs.map((job) => job.id).sort());
  return {
    claimant,
    runner: crypto.randomUUID(),
    windowEnd: windowEnd.toISOString(),
    jobs: claimed.map((job) => ({ id: job.id, runAt: job.runAt.toISOString(), destination: job.destination })),
  };
}

describe("delivery cells", () => {
  it("carry a burst needing more than 16 × 5 callbacks in flight on more than 16 cells, each job once", async () => {
    // 400 callbacks due over 1 s to a destination never tried (assumed 250 ms): 100 in flight on
    // time, so 20 invocations of 5, the tick and 19 cells, 20 callbacks each. They answer in 800 ms,
    // so each invocation soon holds its 5 (3 until its lane has shown it answers within 1 s).
    // Time before the first due time for 400 inserts and 19 cells' logins on a busy machine.
    const first = dueAfterStartLead(10_000);
    const jobs = await Promise.all(
      Array.from({ length: 400 }, (_, i) =>
        insertJobRow(db, project.id, { url: receiverUrl("slow/800"), runAt: new Date(first.getTime() + i * 2.5) }),
      ),
    );
    await receiverPeakInFlight(true);
    const used = new Set<number>();
    const report = await tickOntoCells(new Date(first.getTime() + 2_000), (shard, index, cell) => {
      used.add(index);
      return cell(shard, index);
    });
    expect(report).toMatchObject({ claimed: 400, shards: 20, overflow: 0, failedShards: 0 });
    expect(used.size).toBe(19);
    for (const job of jobs) {
      expect(await receivedAt(job.url)).toHaveLength(1);
      expect(await findJob(db, project.id, job.id)).toMatchObject({ status: "succeeded", attempt: 1 });
    }
    // More in flight at once than the tick and 15 self-invoked shards (16 × 5) could hold. Only on
    // real Postgres: PGlite runs one statement at a time for all 20 invocations, so their starts queue.
    if (onRealPostgres) expect(await receiverPeakInFlight()).toBeGreaterThan(80);
  }, 60_000);

  it("isolate a failing cell: its jobs are released at once and delivered on their second by the others", async () => {
    const due = dueAfterStartLead(3_000);
    // A cell already delivering another share (a job answering in 8 s) refuses a second one:
    // the tick's share sent to it fails like a cell whose invocation throws.
    const blocker = await insertJobRow(db, project.id, {
      url: receiverUrl("slow/8000"),
      runAt: later(500),
      timeoutMs: 10_000,
    });
    const windowEnd = later(6_000);
    const scheduledTime = new Date(windowEnd.getTime() - 60_000 - WINDOW_OVERLAP_MS);
    const busy = cellRunnerOf(cells, scheduledTime)(await claimedShare([blocker], later(1_000)), 2);

    const jobs = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        insertJobRow(db, project.id, { url: receiverUrl(`ok/cell-${i}`), runAt: due }),
      ),
    );
    const failures: number[] = [];
    const report = await tickOntoCells(windowEnd, (shard, index, cell) =>
      cell(shard, index).catch((error: unknown) => {
        failures.push(index);
        throw error;
      }),
    );
    // 40 jobs due at once, assumed 250 ms each: 8 invocations; the one sent to the busy cell failed.
    expect(report).toMatchObject({ claimed: 40, shards: 8, failedShards: 1 });
    expect(failures).toEqual([2]);
    for (const job of jobs) {
      const [received, ...again] = await receivedAt(job.url);
      expect(again).toHaveLength(0);
      expect(received.receivedAt).toBeGreaterThanOrEqual(due.getTime());
      expect(received.receivedAt - due.getTime()).toBeLessThan(1000);
      expect(await findJob(db, project.id, job.id)).toMatchObject({ status: "succeeded", attempt: 1 });
    }
    expect((await busy).delivered).toBe(1);
  });

  it("make again the attempts a failing cell had started, recorded as unknown, on their second", async () => {
    const due = dueAfterStartLead(3_000);
    const jobs = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        insertJobRow(db, project.id, { url: receiverUrl(`ok/lost-${i}`), runAt: due }),
      ),
    );
    let lost: string[] = [];
    const report = await tickOntoCells(later(6_000), async (shard, index, cell) => {
      if (index !== 1) return cell(shard, index);
      // This share's invocation starts its attempts, then ends before making them.
      lost = shard.jobs.map((job) => job.id);
      await startClaimedJobs(db, {
        claimant: shard.claimant,
        runner: shard.runner,
        ids: lost,
        dueBy: later(10_000),
        leaseMarginMs: 30_000,
        now: new Date(),
      });
      throw new Error("the cell's invocation ended");
    });
    expect(report).toMatchObject({ failedShards: 1 });
    expect(lost.length).toBeGreaterThan(0);
    for (const job of jobs) {
      const [received, ...again] = await receivedAt(job.url);
      expect(again).toHaveLength(0);
      expect(received.receivedAt).toBeGreaterThanOrEqual(due.getTime());
      expect(received.receivedAt - due.getTime()).toBeLessThan(1000);
      const wasLost = lost.includes(job.id);
      expect(await findJob(db, project.id, job.id)).toMatchObject({
        status: "succeeded",
        attempt: wasLost ? 2 : 1,
        lostAttempts: wasLost ? 1 : 0,
      });
    }
  });

  it("keep the cap of 5 callbacks in flight per invocation", async () => {
    const jobs = await Promise.all(
      Array.from({ length: 30 }, () =>
        insertJobRow(db, project.id, { url: receiverUrl("slow/300"), runAt: dueAfterStartLead(1_500) }),
      ),
    );
    const share = await claimedShare(jobs, later(5_000));
    await receiverPeakInFlight(true);
    const report = await freshCell().deliver(share);
    expect(report).toMatchObject({ started: 30, delivered: 30, recorded: 30, peakConcurrency: 5 });
    const peak = await receiverPeakInFlight();
    expect(peak).toBeLessThanOrEqual(5);
    expect(peak).toBeGreaterThanOrEqual(3);
    for (const job of jobs) expect(await receivedAt(job.url)).toHaveLength(1);
  });

  it("are what the cron tick fans out onto when bound, however few self-invoked shards it may use", async () => {
    // 30 callbacks due now to a destination never tried: 6 invocations. With MAX_SHARDS at 1 only
    // cells can carry them, so the receiver sees more than one invocation's 5 at once...
    const burst = () =>
      Promise.all(Array.from({ length: 30 }, () => insertJobRow(db, project.id, { url: receiverUrl("slow/1000") })));
    let jobs = await burst();
    await receiverPeakInFlight(true);
    await runTickUntil(later(200), { MAX_SHARDS: "1" });
    expect(await receiverPeakInFlight()).toBeGreaterThan(5);
    for (const job of jobs) expect(await receivedAt(job.url)).toHaveLength(1);
    // ...and with MAX_CELLS at 0 the tick fans out onto self-invoked shards only: here, none.
    jobs = await burst();
    await receiverPeakInFlight(true);
    await runTickUntil(later(200), { MAX_SHARDS: "1", MAX_CELLS: "0" });
    expect(await receiverPeakInFlight()).toBeLessThanOrEqual(5);
    for (const job of jobs) expect(await receivedAt(job.url)).toHaveLength(1);
  });
});
