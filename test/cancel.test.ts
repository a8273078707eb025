/**
 * Cancel: a `200 canceled` is a guarantee that no attempt of the job starts afterwards, even
 * one a running tick has already claimed; a job whose attempt has started (`running`) is left
 * as it is and the answer says so (`409 job_running`).
 */
import { describe, expect, it } from "vitest";
import { claimWindow, findJob, listAttempts, startClaimedJobs } from "../src/db/jobs";
import {
  callApi,
  createProject,
  dueAfterStartLead,
  insertJobRow,
  later,
  onRealPostgres,
  receivedAt,
  receiverUrl,
  runTickUntil,
  useTestProject,
  waitForJobRow,
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
    // Due a margin past the engine's start lead, so the cancel meets the job still `scheduled`,
    // held by the tick's claim, however slow the machine.
    const runAt = dueAfterStartLead(2_000);
    const job = await insertJobRow(db, project.id, { runAt });
    const tick = runTickUntil(new Date(runAt.getTime() + 300));
    await waitForJobRow(db, job.id, (row) => row.claimedBy !== null);
    expect((await callApi("DELETE", `/jobs/${job.id}`, { token })).body.status).toBe("canceled");
    await tick;
    expect(await receivedAt(job.url)).toHaveLength(0);
    expect(await findJob(db, project.id, job.id)).toMatchObject({ status: "canceled", attempt: 0 });
  });

  it("answers 409 job_running for a job whose attempt has started, changes nothing, and the attempt completes", async () => {
    // The receiver holds the callback long enough for the cancel to land mid-attempt on any machine.
    const job = await insertJobRow(db, project.id, { url: receiverUrl("slow/4000"), timeoutMs: 10_000 });
    const tick = runTickUntil(later(200));
    await waitForJobRow(db, job.id, (row) => row.status === "running");
    const refused = await callApi("DELETE", `/jobs/${job.id}`, { token });
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe("job_running");
    expect(refused.body.error.message).toMatch(/has started/);
    await tick;
    expect(await findJob(db, project.id, job.id)).toMatchObject({ status: "succeeded", lastStatusCode: 200 });
    expect((await listAttempts(db, job.id)).map((a) => a.outcome)).toEqual(["succeeded"]);
    expect(await receivedAt(job.url)).toHaveLength(1);
  });

  it.each(["DELETE", "POST"])("refuses (%s) a running row as it is stored, leaving it running", async (method) => {
    const job = await insertJobRow(db, project.id, {
      status: "running",
      attempt: 1,
      claimedBy: crypto.randomUUID(),
      lockedUntil: later(60_000),
    });
    const path = method === "DELETE" ? `/jobs/${job.id}` : `/jobs/${job.id}/cancel`;
    const response = await callApi(method, path, { token });
    expect(response.status).toBe(409);
    expect(response.body.error).toMatchObject({ code: "job_running" });
    expect(await findJob(db, project.id, job.id)).toMatchObject({
      status: "running",
      claimedBy: job.claimedBy,
      finishedAt: null,
    });
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

describe("cancel against the start statement", () => {
  it("a claimed job canceled cannot be started by its claimant afterwards", async () => {
    const now = new Date();
    const job = await insertJobRow(db, project.id, { runAt: now });
    const claimant = crypto.randomUUID();
    const claimed = await claimWindow(db, { claimant, dueBefore: later(1_000), leaseMs: 30_000, now, limit: 10 });
    expect(claimed.map((c) => c.id)).toEqual([job.id]);
    expect((await callApi("POST", `/jobs/${job.id}/cancel`, { token })).status).toBe(200);
    const { started } = await startClaimedJobs(db, {
      claimant,
      ids: [job.id],
      dueBy: later(1_000),
      leaseMarginMs: 30_000,
      now: new Date(),
    });
    expect(started).toEqual([]);
    expect(await findJob(db, project.id, job.id)).toMatchObject({ status: "canceled", attempt: 0, claimedBy: null });
  });

  it.runIf(onRealPostgres)(
    "racing starts: every 200 answer is a job never started, every 409 one started",
    async () => {
      const now = new Date();
      const claimant = crypto.randomUUID();
      const rows = await Promise.all(
        Array.from({ length: 40 }, () => insertJobRow(db, project.id, { runAt: now, claimedBy: claimant })),
      );
      const ids = rows.map((row) => row.id);
      // Starts in small groups, as the engine does, interleaved with one cancel per job.
      const starts = [0, 10, 20, 30].map((from) =>
        startClaimedJobs(db, {
          claimant,
          ids: ids.slice(from, from + 10),
          dueBy: later(1_000),
          leaseMarginMs: 30_000,
          now,
        }),
      );
      const cancels = ids.map((id) => callApi("DELETE", `/jobs/${id}`, { token }));
      const started = new Set((await Promise.all(starts)).flatMap((batch) => batch.started.map((job) => job.id)));
      const answers = await Promise.all(cancels);
      answers.forEach((answer, i) => {
        if (started.has(ids[i])) {
          expect(answer.status).toBe(409);
          expect(answer.body.error.code).toBe("job_running");
        } else {
          expect(answer.status).toBe(200);
          expect(answer.body.status).toBe("canceled");
        }
      });
      for (const id of ids) {
        expect((await findJob(db, project.id, id))?.status).toBe(started.has(id) ? "running" : "canceled");
      }
    },
  );
});

describe("POST /jobs/cancel", () => {
  it("cancels the jobs that have not started and names those running, leaving them as they are", async () => {
    const waiting = await insertJobRow(db, project.id, { runAt: later(60_000), labels: { batch: "b1" } });
    const running = await insertJobRow(db, project.id, {
      status: "running",
      attempt: 1,
      lockedUntil: later(60_000),
      labels: { batch: "b1" },
    });
    const byIds = await callApi("POST", "/jobs/cancel", { token, json: { ids: [waiting.id, running.id] } });
    expect(byIds.status).toBe(200);
    expect(byIds.body).toEqual({ count: 1, ids: [waiting.id], running_ids: [running.id], has_more: false });
    expect((await findJob(db, project.id, running.id))?.status).toBe("running");

    const again = await insertJobRow(db, project.id, { runAt: later(60_000), labels: { batch: "b1" } });
    const byFilter = await callApi("POST", "/jobs/cancel", { token, json: { filter: { labels: { batch: "b1" } } } });
    expect(byFilter.body).toEqual({ count: 1, ids: [again.id], running_ids: [running.id], has_more: false });
  });
});
