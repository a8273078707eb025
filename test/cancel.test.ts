/**
 * Cancel: once the call returns, a scheduled job never fires, even one a running tick has
 * already claimed; a running job keeps its attempt in flight but is never retried.
 */
import { describe, expect, it } from "vitest";
import { findJob, listAttempts } from "../src/db/jobs";
import {
  callApi,
  createProject,
  insertJobRow,
  later,
  pause,
  receivedAt,
  receiverUrl,
  runTickUntil,
  useTestProject,
} from "./support/fliq";

const { db, project, token } = await useTestProject();

describe("DELETE /jobs/:id and POST /jobs/:id/cancel", () => {
  it.each(["DELETE", "POST"])("cancel a scheduled job (%s), which then never fires", async (method) => {
    const job = await insertJobRow(db, project.id, { runAt: later(300) });
    const path = method === "DELETE" ? `/jobs/${job.id}` : `/jobs/${job.id}/cancel`;
    const response = await callApi(method, path, { token });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ id: job.id, status: "canceled" });
    expect(response.body.finished_at).not.toBeNull();
    await runTickUntil(later(500));
    expect(await receivedAt(job.url)).toHaveLength(0);
  });

  it("stops a job that a running tick has already claimed for its window", async () => {
    const job = await insertJobRow(db, project.id, { runAt: later(800) });
    const tick = runTickUntil(later(1200));
    // Wait (bounded) until the tick holds the claim, so the cancel meets a claimed job.
    for (let i = 0; i < 100 && !(await findJob(db, project.id, job.id))?.claimedBy; i++) await pause(5);
    expect((await findJob(db, project.id, job.id))?.claimedBy).not.toBeNull();
    expect((await callApi("DELETE", `/jobs/${job.id}`, { token })).body.status).toBe("canceled");
    await tick;
    expect(await receivedAt(job.url)).toHaveLength(0);
    expect((await findJob(db, project.id, job.id))?.status).toBe("canceled");
  });

  it("lets a running attempt finish and be recorded, but never retries it", async () => {
    const job = await insertJobRow(db, project.id, { url: receiverUrl("slow/400") });
    const tick = runTickUntil(later(200));
    for (let i = 0; i < 100 && (await receivedAt(job.url)).length === 0; i++) await pause(10);
    const canceled = await callApi("DELETE", `/jobs/${job.id}`, { token });
    expect(canceled.body).toMatchObject({ status: "canceled", attempt: 1 });
    await tick;
    expect(await findJob(db, project.id, job.id)).toMatchObject({ status: "canceled", lastStatusCode: 200 });
    expect((await listAttempts(db, job.id)).map((a) => a.outcome)).toEqual(["succeeded"]);
  });

  it("is idempotent for a canceled job, 409 for a finished one, 404 for another project's", async () => {
    const canceled = await insertJobRow(db, project.id, { status: "canceled" });
    expect((await callApi("DELETE", `/jobs/${canceled.id}`, { token })).status).toBe(200);

    for (const status of ["succeeded", "failed"] as const) {
      const finished = await insertJobRow(db, project.id, { status, attempt: 1 });
      const response = await callApi("DELETE", `/jobs/${finished.id}`, { token });
      expect(response.status).toBe(409);
      expect(response.body.error.code).toBe("job_finished");
      expect((await findJob(db, project.id, finished.id))?.status).toBe(status);
    }

    const other = await createProject(db);
    const foreign = await insertJobRow(db, other.project.id, { runAt: later(60_000) });
    for (const id of [foreign.id, crypto.randomUUID(), "nope"]) {
      expect((await callApi("DELETE", `/jobs/${id}`, { token })).status).toBe(404);
    }
    expect((await findJob(db, other.project.id, foreign.id))?.status).toBe("scheduled");
  });
});
