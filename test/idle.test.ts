/**
 * An idle Fliq leaves its database alone: a tick whose window has nothing due (the engine's
 * clock, the TickWatchdog Durable Object, says so) opens no database connection, so a
 * serverless Postgres can suspend; whatever the API writes is announced to the clock after it
 * commits, and brings the tick in on time. Connections are counted by the bridge, which every
 * database connection of the Worker goes through, on both database paths.
 */
import { runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { ANNOUNCE_HORIZON_MS } from "../src/actions/jobs";
import { findJob, listAttempts } from "../src/db/jobs";
import { jobs } from "../src/db/schema";
import { type TickWatchdog, WATCHDOG_NAME } from "../src/dispatch/tick-watchdog";
import { FULL_LOOK_INTERVAL_MS } from "../src/jobs/timing";
import {
  callApi,
  databaseConnections,
  insertJobRow,
  later,
  ON_TIME_MS,
  pause,
  receivedAt,
  receiverUrl,
  runTickUntil,
  useTestProject,
  viaHyperdrive,
} from "./support/fliq";

const { db, project, token } = await useTestProject();
const namespace = (env as unknown as { TICK_WATCHDOG: DurableObjectNamespace<TickWatchdog> }).TICK_WATCHDOG;
const clock = () => namespace.get(namespace.idFromName(WATCHDOG_NAME));

/** The clock as a tick left it after looking at an empty database. */
async function nothingScheduled() {
  const look = crypto.randomUUID();
  await clock().beginLook(look);
  await clock().settle(look, Number.POSITIVE_INFINITY);
}

/** What the clock answers a report now. */
async function clockAnswer() {
  const claimant = crypto.randomUUID();
  const answer = await clock().beat(claimant, Date.now());
  await clock().done(claimant);
  return answer;
}

/** A tick that trusts the clock as it is (the usual test tick tells it something is due). */
const idleTick = (windowEnd: Date) => runTickUntil(windowEnd, undefined, { clock: "as is" });

describe("an idle Fliq", () => {
  it("runs a tick with nothing due without opening a database connection", async () => {
    await nothingScheduled();
    const before = await databaseConnections();
    await idleTick(later(1_500));
    expect((await databaseConnections()) - before).toBe(0);
  });

  it("fires on its second a job created while the tick idles, which the API does not fire itself", async () => {
    await nothingScheduled();
    const tick = idleTick(later(6_000));
    await pause(500);
    const before = await databaseConnections();
    const url = receiverUrl("ok");
    const runAt = later(3_000);
    // A 30 s timeout is too long for the API's after-response window: the tick must fire it.
    const created = await callApi("POST", "/jobs", {
      token,
      json: { url, scheduled_at: runAt.toISOString(), timeout_ms: 30_000 },
    });
    expect(created.status).toBe(201);
    await tick;
    const [received, ...again] = await receivedAt(url);
    expect(again).toHaveLength(0);
    expect(received.receivedAt).toBeGreaterThanOrEqual(runAt.getTime());
    expect(received.receivedAt - runAt.getTime()).toBeLessThan(ON_TIME_MS);
    // The tick once the clock told it; and the API's request when it reaches the database over a
    // connection (Hyperdrive): through Neon, its one statement is an HTTP request, no connection.
    expect((await databaseConnections()) - before).toBe(viaHyperdrive ? 2 : 1);
  }, 15_000);

  it("looks at the database for a job created before its window that falls due in it", async () => {
    await nothingScheduled();
    const url = receiverUrl("ok");
    const runAt = later(2_500);
    const created = await callApi("POST", "/jobs", {
      token,
      json: { url, scheduled_at: runAt.toISOString(), timeout_ms: 30_000 },
    });
    expect(created.status).toBe(201);
    await idleTick(later(4_000));
    const [received] = await receivedAt(url);
    expect(received.receivedAt - runAt.getTime()).toBeLessThan(ON_TIME_MS);
    // Having looked, the tick told the clock nothing else is due.
    expect((await clockAnswer()).earliestDueMs).toBeGreaterThan(Date.now());
  }, 15_000);

  it("has a tick that looked and claimed nothing tell the clock at once, so the next minute's tick stays idle", async () => {
    await nothingScheduled();
    const windowEnd = later(4_000);
    // The periodic look (or a stale announcement): the clock says something may be due now.
    const tick = runTickUntil(windowEnd);
    await pause(1_500);
    // Still inside the looking tick's window, which outlasts its minute.
    expect((await clockAnswer()).earliestDueMs).toBeGreaterThan(windowEnd.getTime());
    await tick;
  }, 15_000);

  it("is told of a retry a delivery planned past its window, so the tick that is due for it looks", async () => {
    // A job a tick handed to a shard, whose target answers 503 with Retry-After: 40.
    const claimant = crypto.randomUUID();
    const job = await insertJobRow(db, project.id, {
      url: receiverUrl("retry-after/40"),
      claimedBy: claimant,
      lockedUntil: later(30_000),
    });
    await nothingScheduled();
    await exports.ShardRunner.deliver({
      claimant,
      runner: crypto.randomUUID(),
      windowEnd: later(5_000).toISOString(),
      jobs: [{ id: job.id, runAt: job.runAt.toISOString() }],
    });
    const [attempt] = await listAttempts(db, job.id);
    expect(attempt.statusCode).toBe(503);
    const retryAt = (await findJob(db, project.id, job.id))?.runAt.getTime();
    expect(retryAt).toBeGreaterThan(Date.now() + 30_000);
    expect((await clockAnswer()).earliestDueMs).toBe(retryAt);
  });
});

describe("the engine's clock", () => {
  it("is never raised past a time announced while a tick was looking", async () => {
    const look = crypto.randomUUID();
    await clock().beginLook(look);
    const announced = later(5_000).getTime();
    // A job whose write committed after the look read the database, announced before it settled.
    await clock().due(announced);
    await clock().settle(look, later(3_600_000).getTime());
    expect((await clockAnswer()).earliestDueMs).toBe(announced);
  });

  it("has a tick look at the database at least every 15 minutes, idle or not", async () => {
    await nothingScheduled();
    expect((await clockAnswer()).earliestDueMs).toBeLessThanOrEqual(Date.now() + FULL_LOOK_INTERVAL_MS);
    expect((await clockAnswer()).earliestDueMs).toBeGreaterThan(Date.now() + FULL_LOOK_INTERVAL_MS - 60_000);
  });

  it("wakes the windows' owners only for what falls due before their next poll", async () => {
    const { wakeUps } = await clockAnswer();
    await clock().due(later(60_000).getTime());
    expect((await clockAnswer()).wakeUps).toBe(wakeUps);
    await clock().due(later(1_000).getTime());
    expect((await clockAnswer()).wakeUps).not.toBe(wakeUps);
  });
});

describe("what the API tells the engine's clock", () => {
  const storedEarliestDue = () =>
    runInDurableObject(clock(), (_instance, state) => state.storage.get<number>("earliestDueMs"));

  it("leaves out a job due after the next periodic look, which finds it; a job due sooner it tells, and that fires on time", async () => {
    await nothingScheduled();
    const farRunAt = new Date(Date.now() + ANNOUNCE_HORIZON_MS + 60_000);
    const far = await callApi("POST", "/jobs", {
      token,
      json: { url: receiverUrl("ok"), scheduled_at: farRunAt.toISOString() },
    });
    expect(far.status).toBe(201);
    expect(await storedEarliestDue()).toBe(Number.POSITIVE_INFINITY);
    // The look that finds it comes before it falls due.
    expect((await clockAnswer()).earliestDueMs).toBeLessThan(farRunAt.getTime() - 60_000);

    const tick = idleTick(later(6_000));
    await pause(500);
    const url = receiverUrl("ok");
    const runAt = later(3_000);
    // A 30 s timeout is too long for the API's after-response window: the tick must fire it.
    const soon = await callApi("POST", "/jobs", {
      token,
      json: { url, scheduled_at: runAt.toISOString(), timeout_ms: 30_000 },
    });
    expect(soon.status).toBe(201);
    expect(await storedEarliestDue()).toBe(runAt.getTime());
    await tick;
    const [received, ...again] = await receivedAt(url);
    expect(again).toHaveLength(0);
    expect(received.receivedAt).toBeGreaterThanOrEqual(runAt.getTime());
    expect(received.receivedAt - runAt.getTime()).toBeLessThan(ON_TIME_MS);
    await db.delete(jobs).where(eq(jobs.id, far.body.id));
  }, 15_000);
});
