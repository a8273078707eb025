/**
 * History retention: the tick prunes finished jobs and attempts past RETENTION_DAYS (30 by
 * default), batch after batch within a time budget, and nothing younger.
 */
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { findJob, listAttempts, pruneHistory } from "../src/db/jobs";
import { jobAttempts, jobs } from "../src/db/schema";
import { insertJobRow, onRealPostgres, openTestDatabase, runTickUntil, useTestProject } from "./support/fliq";

const { db, project } = await useTestProject();

const DAY = 24 * 60 * 60_000;
const ago = (ms: number) => new Date(Date.now() - ms);

async function addAttempt(jobId: string, attempt: number, firedAt: Date) {
  await db.insert(jobAttempts).values({
    jobId,
    attempt,
    plannedAt: firedAt,
    firedAt,
    latenessMs: 0,
    durationMs: 1,
    statusCode: 500,
    outcome: "retry",
  });
}

describe("retention", () => {
  it("prunes finished jobs and old attempts past 30 days on each tick, and keeps the rest", async () => {
    const old = await insertJobRow(db, project.id, {
      status: "succeeded",
      attempt: 1,
      finishedAt: ago(30 * DAY + 60_000),
    });
    await addAttempt(old.id, 1, ago(31 * DAY));
    const recent = await insertJobRow(db, project.id, {
      status: "failed",
      attempt: 1,
      finishedAt: ago(30 * DAY - 60_000),
    });
    const waiting = await insertJobRow(db, project.id, { attempt: 2, runAt: new Date("2027-01-01T00:00:00Z") });
    await addAttempt(waiting.id, 1, ago(31 * DAY));
    await addAttempt(waiting.id, 2, ago(DAY));

    await runTickUntil(new Date(Date.now() + 200));
    expect(await findJob(db, project.id, old.id)).toBeUndefined();
    expect(await listAttempts(db, old.id)).toEqual([]);
    expect(await findJob(db, project.id, recent.id)).toBeDefined();
    expect(await findJob(db, project.id, waiting.id)).toBeDefined();
    expect((await listAttempts(db, waiting.id)).map((a) => a.attempt)).toEqual([2]);
  });

  it("deletes batch after batch until nothing old is left, each statement at most one batch of each", async () => {
    for (let i = 0; i < 5; i++) {
      const job = await insertJobRow(db, project.id, { status: "canceled", finishedAt: ago(40 * DAY) });
      await addAttempt(job.id, 1, ago(40 * DAY));
    }
    const keep = await insertJobRow(db, project.id, { status: "canceled", finishedAt: ago(29 * DAY) });
    const report = await pruneHistory(db, ago(30 * DAY), { batchSize: 2, budgetMs: 60_000 });
    // 2 + 2 + 1 jobs; the third statement deleted less than a batch of either, so it was the last.
    expect(report).toMatchObject({ jobs: 5, statements: 3 });
    expect(await db.select().from(jobAttempts)).toEqual([]);
    expect(await findJob(db, project.id, keep.id)).toBeDefined();
  });

  it("starts no statement past its time budget, and the next call carries on", async () => {
    for (let i = 0; i < 5; i++) {
      await insertJobRow(db, project.id, { status: "canceled", finishedAt: ago(40 * DAY) });
    }
    // A clock that moves 10 ms per reading: the first statement is over budget when it ends.
    let ms = 0;
    const clock = () => (ms += 10);
    expect(await pruneHistory(db, ago(30 * DAY), { batchSize: 2, budgetMs: 15, clock })).toMatchObject({
      jobs: 2,
      statements: 1,
    });
    expect(await pruneHistory(db, ago(30 * DAY), { batchSize: 2, budgetMs: 60_000 })).toMatchObject({
      jobs: 3,
      statements: 2,
    });
  });

  it("deletes an old attempt of a job that finished within the retention, and keeps the job", async () => {
    const longLived = await insertJobRow(db, project.id, { status: "failed", attempt: 2, finishedAt: ago(DAY) });
    await addAttempt(longLived.id, 1, ago(31 * DAY));
    await addAttempt(longLived.id, 2, ago(DAY));
    expect(await pruneHistory(db, ago(30 * DAY), { batchSize: 10, budgetMs: 60_000 })).toMatchObject({
      jobs: 0,
      attempts: 1,
    });
    expect((await listAttempts(db, longLived.id)).map((a) => a.attempt)).toEqual([2]);
  });

  it.runIf(onRealPostgres)(
    "skips a finished job another transaction holds, and never deletes one replayed meanwhile",
    async () => {
      const held = await insertJobRow(db, project.id, { status: "succeeded", finishedAt: ago(40 * DAY) });
      const other = openTestDatabase();
      try {
        await db.transaction(async (tx) => {
          // As a replay does: the row is locked and back to scheduled, not yet committed.
          await tx.update(jobs).set({ status: "scheduled", finishedAt: null }).where(eq(jobs.id, held.id));
          const report = await pruneHistory(other.db, ago(30 * DAY), { batchSize: 10, budgetMs: 60_000 });
          expect(report.jobs).toBe(0);
        });
      } finally {
        await other.close();
      }
      expect(await pruneHistory(db, ago(30 * DAY), { batchSize: 10, budgetMs: 60_000 })).toMatchObject({ jobs: 0 });
      expect((await findJob(db, project.id, held.id))?.status).toBe("scheduled");
    },
  );
});
