/**
 * The delivery contract's SQL under concurrency, against real Postgres with several
 * connections. PGlite serializes every connection into one session, so these run only
 * when the suite has a real server (CI runs both).
 */
import { sql } from "drizzle-orm";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { claimDueJobs, findJob, finishAttempts, listAttempts, rescueExpiredLeases } from "../src/db/jobs";
import { createProject, deleteAllJobs, insertJobRow, onRealPostgres, openTestDatabase } from "./support/fliq";

const connections = Array.from({ length: 4 }, () => openTestDatabase());
const db = connections[0].db;
const { project } = await createProject(db);
afterAll(() => Promise.all(connections.map((c) => c.close())));
beforeEach(() => deleteAllJobs(db));

const lease = (now: Date) => ({ dueBy: now, lockedUntil: new Date(now.getTime() + 60_000), now });

describe.runIf(onRealPostgres)("claimDueJobs under concurrency", () => {
  it("gives concurrent claimers on separate connections disjoint jobs, and every due job to someone", async () => {
    await Promise.all(Array.from({ length: 200 }, () => insertJobRow(db, project.id)));
    // Open every connection first, so all claimers start together rather than one draining the queue.
    await Promise.all(connections.map(({ db: conn }) => conn.execute(sql`SELECT 1`)));
    const now = new Date();
    const claimedPerConnection = await Promise.all(
      connections.map(async ({ db: conn }) => {
        const ids: string[] = [];
        for (let round = 0; round < 40; round++) {
          const claimed = await claimDueJobs(conn, { ...lease(now), limit: 5 });
          ids.push(...claimed.map((job) => job.id));
        }
        return ids;
      }),
    );
    const all = claimedPerConnection.flat();
    expect(all).toHaveLength(200);
    expect(new Set(all).size).toBe(200);
    // Each connection got some: the claims really ran side by side.
    for (const ids of claimedPerConnection) expect(ids.length).toBeGreaterThan(0);
  });

  it("skips rows another open transaction has locked instead of waiting for them", async () => {
    const rows = await Promise.all(Array.from({ length: 6 }, () => insertJobRow(db, project.id)));
    const now = new Date();
    const other = connections[1].db;
    let seenByOther: string[] = [];
    await db.transaction(async (tx) => {
      const held = await claimDueJobs(tx as unknown as typeof db, { ...lease(now), limit: 3 });
      expect(held).toHaveLength(3);
      // The first transaction is still open: its rows are locked, not yet committed as running.
      seenByOther = (await claimDueJobs(other, { ...lease(now), limit: 10 })).map((job) => job.id);
      expect(seenByOther.filter((id) => held.some((job) => job.id === id))).toEqual([]);
    });
    expect(seenByOther).toHaveLength(3);
    expect(rows.map((r) => r.id).sort()).toEqual(expect.arrayContaining(seenByOther));
  });
});

describe("fenced finishing and rescue", () => {
  it("ignores a completion from a lost lease once the job was rescued and claimed again", async () => {
    const t0 = new Date();
    const row = await insertJobRow(db, project.id, { runAt: t0 });
    const [first] = await claimDueJobs(db, {
      dueBy: t0,
      lockedUntil: new Date(t0.getTime() + 1000),
      now: t0,
      limit: 1,
    });
    expect(first.attempt).toBe(1);

    // The lease runs out just after its end, not at it.
    const atExpiry = new Date(t0.getTime() + 1000);
    expect(await rescueExpiredLeases(db, atExpiry)).toBe(0);
    const justAfter = new Date(t0.getTime() + 1001);
    expect(await rescueExpiredLeases(db, justAfter)).toBe(1);
    const [second] = await claimDueJobs(db, { ...lease(justAfter), limit: 1 });
    expect(second).toMatchObject({ id: row.id, attempt: 2 });

    const stale = {
      jobId: row.id,
      attempt: 1,
      status: "succeeded" as const,
      nextRunAt: null,
      finishedAt: justAfter,
      plannedAt: t0,
      firedAt: t0,
      latenessMs: 0,
      durationMs: 5,
      statusCode: 200,
      responseExcerpt: "late",
      errorClass: null,
      errorMessage: null,
      outcome: "succeeded" as const,
      now: justAfter,
    };
    expect(await finishAttempts(db, [stale])).toEqual([]);
    expect(await findJob(db, project.id, row.id)).toMatchObject({ status: "running", attempt: 2 });
    expect(await listAttempts(db, row.id)).toEqual([]);

    expect(await finishAttempts(db, [{ ...stale, attempt: 2 }])).toEqual([row.id]);
    expect(await findJob(db, project.id, row.id)).toMatchObject({ status: "succeeded", attempt: 2 });
    expect((await listAttempts(db, row.id)).map((a) => a.attempt)).toEqual([2]);
  });

  it("fails a job whose lost attempt was its last", async () => {
    const now = new Date();
    const row = await insertJobRow(db, project.id, {
      status: "running",
      attempt: 3,
      maxRetries: 2,
      lockedUntil: new Date(now.getTime() - 1),
    });
    expect(await rescueExpiredLeases(db, now)).toBe(1);
    expect(await findJob(db, project.id, row.id)).toMatchObject({ status: "failed", lastError: "lease_expired" });
  });
});
