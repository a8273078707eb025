/**
 * History retention: the tick prunes finished jobs and old attempts past RETENTION_DAYS
 * (30 by default), a small batch at a time, and nothing younger.
 */
import { describe, expect, it } from "vitest";
import { findJob, listAttempts, pruneHistory } from "../src/db/jobs";
import { jobAttempts } from "../src/db/schema";
import { insertJobRow, runTickUntil, useTestProject } from "./support/fliq";

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

  it("deletes at most one batch per call", async () => {
    for (let i = 0; i < 5; i++) {
      await insertJobRow(db, project.id, { status: "canceled", finishedAt: ago(40 * DAY) });
    }
    expect(await pruneHistory(db, ago(30 * DAY), 3)).toEqual({ jobs: 3, attempts: 0 });
    expect(await pruneHistory(db, ago(30 * DAY), 3)).toEqual({ jobs: 2, attempts: 0 });
    expect(await pruneHistory(db, ago(30 * DAY), 3)).toEqual({ jobs: 0, attempts: 0 });
  });
});
