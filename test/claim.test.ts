/**
 * The delivery contract's SQL: claims, starts, fenced finishing and rescue. The concurrency
 * cases need real Postgres with several connections (PGlite serializes every connection
 * into one session), so they run when the suite has a real server; CI runs both.
 */
import { sql } from "drizzle-orm";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import {
  claimWindow,
  type FinishedAttempt,
  findJob,
  finishAttempts,
  listAttempts,
  rescueExpiredLeases,
  startClaimedJobs,
} from "../src/db/jobs";
import { MAX_LOST_ATTEMPTS } from "../src/jobs/states";
import { createProject, deleteAllJobs, insertJobRow, onRealPostgres, openTestDatabase } from "./support/fliq";

const connections = Array.from({ length: 4 }, () => openTestDatabase());
const db = connections[0].db;
const { project } = await createProject(db);
afterAll(() => Promise.all(connections.map((c) => c.close())));
beforeEach(() => deleteAllJobs(db));

const at = (date: Date, ms: number) => new Date(date.getTime() + ms);
const claimOptions = (claimant: string, now: Date, limit = 100) => ({
  claimant,
  dueBefore: at(now, 60_000),
  leaseMs: 30_000,
  now,
  limit,
});

describe.runIf(onRealPostgres)("claimWindow under concurrency", () => {
  it("gives concurrent claimers on separate connections disjoint jobs, and every due job to someone", async () => {
    await Promise.all(Array.from({ length: 200 }, () => insertJobRow(db, project.id)));
    // Open every connection first, so all claimers start together rather than one draining the queue.
    await Promise.all(connections.map(({ db: conn }) => conn.execute(sql`SELECT 1`)));
    const now = new Date();
    const claimedPerConnection = await Promise.all(
      connections.map(async ({ db: conn }) => {
        const claimant = crypto.randomUUID();
        const ids: string[] = [];
        for (let round = 0; round < 40; round++) {
          ids.push(...(await claimWindow(conn, claimOptions(claimant, now, 5))).map((job) => job.id));
        }
        return ids;
      }),
    );
    const all = claimedPerConnection.flat();
    expect(all).toHaveLength(200);
    expect(new Set(all).size).toBe(200);
    for (const ids of claimedPerConnection) expect(ids.length).toBeGreaterThan(0);
  });

  it("skips rows another open transaction has locked instead of waiting for them", async () => {
    await Promise.all(Array.from({ length: 6 }, () => insertJobRow(db, project.id)));
    const now = new Date();
    let seenByOther: string[] = [];
    await db.transaction(async (tx) => {
      const held = await claimWindow(tx as unknown as typeof db, claimOptions(crypto.randomUUID(), now, 3));
      expect(held).toHaveLength(3);
      // The first transaction is still open: its rows are locked, not yet committed as claimed.
      const other = await claimWindow(connections[1].db, claimOptions(crypto.randomUUID(), now, 10));
      seenByOther = other.map((job) => job.id);
      expect(seenByOther.filter((id) => held.some((job) => job.id === id))).toEqual([]);
    });
    expect(seenByOther).toHaveLength(3);
  });
});

describe("claimWindow", () => {
  it("takes jobs due before the window's end, not at it, soonest first", async () => {
    const now = new Date();
    const end = at(now, 10_000);
    const later = await insertJobRow(db, project.id, { runAt: at(end, -1) });
    const sooner = await insertJobRow(db, project.id, { runAt: at(now, 5) });
    await insertJobRow(db, project.id, { runAt: end });
    const claimed = await claimWindow(db, { ...claimOptions(crypto.randomUUID(), now), dueBefore: end });
    expect(claimed.map((job) => job.id)).toEqual([sooner.id, later.id]);
  });

  it("leaves a live claim alone and takes over one that lapsed, just after its end", async () => {
    const now = new Date();
    const lease = at(now, 1000);
    const row = await insertJobRow(db, project.id, { claimedBy: crypto.randomUUID(), lockedUntil: lease });
    expect(await claimWindow(db, claimOptions(crypto.randomUUID(), lease))).toEqual([]);
    const taken = await claimWindow(db, claimOptions(crypto.randomUUID(), at(lease, 1)));
    expect(taken.map((job) => job.id)).toEqual([row.id]);
  });
});

describe("startClaimedJobs", () => {
  it("starts only jobs still scheduled, claimed by this claimant, and due", async () => {
    const now = new Date();
    const claimant = crypto.randomUUID();
    const mine = await insertJobRow(db, project.id, { claimedBy: claimant, lockedUntil: at(now, 30_000) });
    const othersClaim = await insertJobRow(db, project.id, { claimedBy: crypto.randomUUID() });
    const canceled = await insertJobRow(db, project.id, { claimedBy: claimant, status: "canceled" });
    const movedLater = await insertJobRow(db, project.id, { claimedBy: claimant, runAt: at(now, 60_000) });
    const { started } = await startClaimedJobs(db, {
      claimant,
      ids: [mine.id, othersClaim.id, canceled.id, movedLater.id],
      dueBy: at(now, 100),
      leaseMarginMs: 30_000,
      now,
    });
    expect(started.map((job) => job.id)).toEqual([mine.id]);
    expect(started[0]).toMatchObject({ attempt: 1, url: mine.url, runAtMs: mine.runAt.getTime() });
    const stored = await findJob(db, project.id, mine.id);
    expect(stored).toMatchObject({ status: "running", attempt: 1 });
    expect(stored?.lockedUntil?.getTime()).toBe(now.getTime() + mine.timeoutMs + 30_000);
    expect(started[0].signingSecrets).toHaveLength(1);
    expect(started[0].signingSecrets[0]).toMatch(/^whsec_/);
  });
});

describe("fenced finishing and rescue", () => {
  const result = (jobId: string, attempt: number, now: Date): FinishedAttempt => ({
    jobId,
    attempt,
    flowKey: null,
    reclaim: null,
    status: "succeeded",
    nextRunAt: null,
    finishedAt: now,
    plannedAt: now,
    firedAt: now,
    latenessMs: 0,
    durationMs: 5,
    statusCode: 200,
    responseExcerpt: "ok",
    errorClass: null,
    errorMessage: null,
    outcome: "succeeded",
    now,
  });

  it("ignores a completion from a lost lease once the job was rescued and started again", async () => {
    const t0 = new Date();
    const row = await insertJobRow(db, project.id, { status: "running", attempt: 1, lockedUntil: at(t0, 1000) });

    // The running lease lapses just after its end, not at it.
    expect(await rescueExpiredLeases(db, at(t0, 1000))).toBe(0);
    expect(await rescueExpiredLeases(db, at(t0, 1001))).toBe(1);
    expect(await findJob(db, project.id, row.id)).toMatchObject({ status: "scheduled", lastError: "lease_expired" });

    const claimant = crypto.randomUUID();
    const now = at(t0, 1001);
    await claimWindow(db, claimOptions(claimant, now));
    const {
      started: [second],
    } = await startClaimedJobs(db, { claimant, ids: [row.id], dueBy: now, leaseMarginMs: 1000, now });
    expect(second).toMatchObject({ id: row.id, attempt: 2 });

    // The lost attempt was recorded by the rescue; its late result changes nothing.
    const outcomes = async () => (await listAttempts(db, row.id)).map((a) => [a.attempt, a.outcome]);
    expect((await finishAttempts(db, [result(row.id, 1, now)])).recorded).toEqual([]);
    expect(await findJob(db, project.id, row.id)).toMatchObject({ status: "running", attempt: 2 });
    expect(await outcomes()).toEqual([[1, "unknown"]]);

    expect((await finishAttempts(db, [result(row.id, 2, now)])).recorded).toEqual([row.id]);
    expect(await findJob(db, project.id, row.id)).toMatchObject({ status: "succeeded", attempt: 2 });
    expect(await outcomes()).toEqual([
      [1, "unknown"],
      [2, "succeeded"],
    ]);
  });

  it("writes a batch in one statement, skipping only the stale rows", async () => {
    const now = new Date();
    const current = await insertJobRow(db, project.id, { status: "running", attempt: 1 });
    // Rescued after attempt 1 and waiting for attempt 2: a result for attempt 1 is stale.
    const movedOn = await insertJobRow(db, project.id, { status: "scheduled", attempt: 1, lastError: "lease_expired" });
    const finished = await insertJobRow(db, project.id, { status: "succeeded", attempt: 1 });
    const written = await finishAttempts(db, [
      result(current.id, 1, now),
      result(movedOn.id, 1, now),
      result(finished.id, 1, now),
    ]);
    expect(written).toEqual({ recorded: [current.id], notifications: [] });
    expect(await findJob(db, project.id, movedOn.id)).toMatchObject({
      status: "scheduled",
      lastError: "lease_expired",
    });
    expect(await listAttempts(db, finished.id)).toEqual([]);
  });

  it("records the attempt of a job canceled mid-flight, and leaves it canceled", async () => {
    const now = new Date();
    const canceled = await insertJobRow(db, project.id, { status: "canceled", attempt: 1, finishedAt: now });
    const retry = {
      ...result(canceled.id, 1, now),
      status: "scheduled" as const,
      nextRunAt: new Date(now.getTime() + 5000),
    };
    expect((await finishAttempts(db, [retry])).recorded).toEqual([canceled.id]);
    expect(await findJob(db, project.id, canceled.id)).toMatchObject({ status: "canceled", claimedBy: null });
    expect((await listAttempts(db, canceled.id)).map((a) => a.attempt)).toEqual([1]);
  });

  it("tries a lost attempt again whatever max_retries says, and records it as unknown", async () => {
    const now = new Date();
    const runAt = at(now, -40_000);
    const row = await insertJobRow(db, project.id, {
      status: "running",
      attempt: 1,
      maxRetries: 0,
      runAt,
      createdAt: at(runAt, -60_000),
      updatedAt: at(runAt, -250),
      lockedUntil: at(now, -1),
    });
    expect(await rescueExpiredLeases(db, now)).toBe(1);
    expect(await rescueExpiredLeases(db, now)).toBe(0);
    expect(await findJob(db, project.id, row.id)).toMatchObject({
      status: "scheduled",
      attempt: 1,
      lostAttempts: 1,
      runAt: now,
      lastError: "lease_expired",
    });
    const [lost, ...more] = await listAttempts(db, row.id);
    expect(more).toEqual([]);
    expect(lost).toMatchObject({ attempt: 1, outcome: "unknown", errorClass: "lease_expired", plannedAt: runAt });
    expect(lost.firedAt).toEqual(runAt);
    expect(lost.durationMs).toBe(40_000);
  });

  it("fails a job only after MAX_LOST_ATTEMPTS lost attempts in all", async () => {
    const now = new Date();
    const almost = await insertJobRow(db, project.id, {
      status: "running",
      attempt: MAX_LOST_ATTEMPTS - 1,
      lostAttempts: MAX_LOST_ATTEMPTS - 2,
      lockedUntil: at(now, -1),
    });
    const last = await insertJobRow(db, project.id, {
      status: "running",
      attempt: MAX_LOST_ATTEMPTS,
      lostAttempts: MAX_LOST_ATTEMPTS - 1,
      lockedUntil: at(now, -1),
    });
    expect(await rescueExpiredLeases(db, now)).toBe(2);
    expect(await findJob(db, project.id, almost.id)).toMatchObject({ status: "scheduled" });
    expect(await findJob(db, project.id, last.id)).toMatchObject({
      status: "failed",
      lostAttempts: MAX_LOST_ATTEMPTS,
      lastError: "lease_expired",
    });
    expect((await listAttempts(db, last.id)).map((a) => a.outcome)).toEqual(["unknown"]);
  });
});
