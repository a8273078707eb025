/**
 * Bulk cancel and bulk replay, by ids or by filter, always within the caller's project.
 */
import { describe, expect, it } from "vitest";
import { findJob } from "../src/db/jobs";
import { callApi, createProject, insertJobRow, runTickUntil, useTestProject } from "./support/fliq";

const { db, project, token } = await useTestProject();

const future = new Date("2027-01-01T00:00:00Z");

describe("POST /jobs/cancel", () => {
  it("cancels the listed jobs that can be, and only those in the caller's project", async () => {
    const a = await insertJobRow(db, project.id, { runAt: future });
    const b = await insertJobRow(db, project.id, { runAt: future });
    const done = await insertJobRow(db, project.id, { status: "succeeded", attempt: 1 });
    const other = await createProject(db);
    const foreign = await insertJobRow(db, other.project.id, { runAt: future });
    const response = await callApi("POST", "/jobs/cancel", {
      token,
      json: { ids: [a.id, b.id, done.id, foreign.id] },
    });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ count: 2, has_more: false });
    expect(new Set(response.body.ids)).toEqual(new Set([a.id, b.id]));
    expect((await findJob(db, project.id, done.id))?.status).toBe("succeeded");
    expect((await findJob(db, other.project.id, foreign.id))?.status).toBe("scheduled");
  });

  it("cancels by filter", async () => {
    const growth = await insertJobRow(db, project.id, { runAt: future, labels: { team: "growth" } });
    const ops = await insertJobRow(db, project.id, { runAt: future, labels: { team: "ops" } });
    const response = await callApi("POST", "/jobs/cancel", { token, json: { filter: { labels: { team: "growth" } } } });
    expect(response.body.ids).toEqual([growth.id]);
    expect((await findJob(db, project.id, ops.id))?.status).toBe("scheduled");
  });

  it.each([
    ["neither ids nor filter", {}],
    ["both ids and filter", { ids: [crypto.randomUUID()], filter: { status: ["failed"] } }],
    ["an empty filter", { filter: {} }],
    ["a malformed id", { ids: ["nope"] }],
  ])("refuses %s with 422 and changes nothing", async (_name, json) => {
    const job = await insertJobRow(db, project.id, { runAt: future });
    const response = await callApi("POST", "/jobs/cancel", { token, json });
    expect(response.status).toBe(422);
    expect((await findJob(db, project.id, job.id))?.status).toBe("scheduled");
  });
});

describe("POST /jobs/replay", () => {
  it("replays the failed jobs matching a filter, and the tick delivers them", async () => {
    const failed = await insertJobRow(db, project.id, { status: "failed", attempt: 2 });
    const succeeded = await insertJobRow(db, project.id, { status: "succeeded", attempt: 1 });
    const response = await callApi("POST", "/jobs/replay", { token, json: { filter: { status: ["failed"] } } });
    expect(response.body).toMatchObject({ count: 1, ids: [failed.id] });
    const replayed = await findJob(db, project.id, failed.id);
    expect(replayed).toMatchObject({ status: "scheduled", attempt: 2, finishedAt: null });
    expect(replayed?.webhookId).not.toBe(failed.webhookId);
    expect((await findJob(db, project.id, succeeded.id))?.status).toBe("succeeded");
    await runTickUntil(new Date(Date.now() + 200));
    expect(await findJob(db, project.id, failed.id)).toMatchObject({ status: "succeeded", attempt: 3 });
  });
});
