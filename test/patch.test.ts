/**
 * PATCH /jobs/:id: change a job that has not started, with optimistic concurrency.
 */
import { describe, expect, it } from "vitest";
import { findJob } from "../src/db/jobs";
import {
  callApi,
  createProject,
  dueAfterStartLead,
  insertJobRow,
  later,
  receivedAt,
  receiverUrl,
  runTickUntil,
  useTestProject,
  waitForJobRow,
} from "./support/fliq";

const { db, project, token } = await useTestProject();

describe("PATCH /jobs/:id", () => {
  it("changes the request and schedule of a scheduled job, and its ETag", async () => {
    const job = await insertJobRow(db, project.id, { runAt: later(3_600_000), scheduledAt: later(3_600_000) });
    const before = await callApi("GET", `/jobs/${job.id}`, { token });
    const url = receiverUrl("ok");
    const scheduledAt = later(7_200_000).toISOString();
    const response = await callApi("PATCH", `/jobs/${job.id}`, {
      token,
      json: {
        url,
        http_method: "put",
        headers: { "Content-Language": "de" },
        body: "new",
        scheduled_at: scheduledAt,
        max_retries: 7,
        retry_backoff: { max_delay_ms: 60_000 },
      },
    });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({
      url,
      http_method: "PUT",
      headers: { "Content-Language": "de" },
      body: "new",
      scheduled_at: scheduledAt,
      run_at: scheduledAt,
      max_retries: 7,
      retry_backoff: { initial_delay_ms: job.backoffInitialMs, max_delay_ms: 60_000 },
      status: "scheduled",
    });
    expect(response.headers.get("etag")).not.toBe(before.headers.get("etag"));
    expect((await callApi("GET", `/jobs/${job.id}`, { token })).body).toMatchObject({ url, body: "new" });
  });

  it("applies a change only to the version named by If-Match, 412 otherwise", async () => {
    const job = await insertJobRow(db, project.id, { runAt: later(3_600_000) });
    const { headers } = await callApi("GET", `/jobs/${job.id}`, { token });
    const etag = headers.get("etag") as string;
    const first = await callApi("PATCH", `/jobs/${job.id}`, {
      token,
      json: { body: "a" },
      headers: { "if-match": etag },
    });
    expect(first.status).toBe(200);
    const stale = await callApi("PATCH", `/jobs/${job.id}`, {
      token,
      json: { body: "b" },
      headers: { "if-match": etag },
    });
    expect(stale.status).toBe(412);
    expect(stale.body.error.code).toBe("precondition_failed");
    expect((await findJob(db, project.id, job.id))?.body).toBe("a");
    const fresh = await callApi("PATCH", `/jobs/${job.id}`, {
      token,
      json: { body: "c" },
      headers: { "if-match": first.headers.get("etag") as string },
    });
    expect(fresh.status).toBe(200);
  });

  it.each([
    ["running", "job_running"],
    ["succeeded", "job_finished"],
    ["failed", "job_finished"],
    ["canceled", "job_finished"],
  ] as const)("answers 409 for a %s job and changes nothing", async (status, code) => {
    const job = await insertJobRow(db, project.id, { status, attempt: status === "canceled" ? 0 : 1 });
    const response = await callApi("PATCH", `/jobs/${job.id}`, { token, json: { body: "x" } });
    expect(response.status).toBe(409);
    expect(response.body.error.code).toBe(code);
    expect((await findJob(db, project.id, job.id))?.body).toBeNull();
  });

  it.each([
    ["an unknown field", { status: "succeeded" }, "status"],
    ["a bad url", { url: "nope" }, "url"],
    ["a body on a GET job", { http_method: "GET" }, "body"],
    ["a time over a year ahead", { scheduled_at: "2099-01-01T00:00:00Z" }, "scheduled_at"],
    ["a max delay below the initial one", { retry_backoff: { max_delay_ms: 1000 } }, "retry_backoff.max_delay_ms"],
  ])("rejects %s with 422 and changes nothing", async (_name, json, path) => {
    const job = await insertJobRow(db, project.id, { body: "kept", runAt: later(3_600_000) });
    const response = await callApi("PATCH", `/jobs/${job.id}`, { token, json });
    expect(response.status).toBe(422);
    expect(response.body.error.details.map((d: { path: string }) => d.path)).toContain(path);
    expect(await findJob(db, project.id, job.id)).toMatchObject({ body: "kept", httpMethod: "POST", url: job.url });
  });

  it("moves a job a tick has claimed: it fires at its new time, once, not at the old one", async () => {
    // The change must land before the engine starts the job: a margin past its start lead, so
    // neither a slow machine nor a longer lead turns the 200 into a 409 job_running.
    const oldTime = dueAfterStartLead(2_000);
    const job = await insertJobRow(db, project.id, { runAt: oldTime, scheduledAt: oldTime });
    const newTime = new Date(oldTime.getTime() + 700);
    const tick = runTickUntil(new Date(newTime.getTime() + 300));
    await waitForJobRow(db, job.id, (row) => row.claimedBy !== null);
    const response = await callApi("PATCH", `/jobs/${job.id}`, {
      token,
      json: { scheduled_at: newTime.toISOString() },
    });
    expect(response.status).toBe(200);
    await tick;
    const received = await receivedAt(job.url);
    expect(received).toHaveLength(1);
    expect(received[0].receivedAt).toBeGreaterThanOrEqual(newTime.getTime());
    expect(received[0].headers["fliq-scheduled-at"]).toBe(newTime.toISOString());
  });

  it("keeps a waiting retry's time when only the request changes", async () => {
    const retryAt = later(3_600_000);
    const job = await insertJobRow(db, project.id, { attempt: 1, scheduledAt: later(-60_000), runAt: retryAt });
    const response = await callApi("PATCH", `/jobs/${job.id}`, { token, json: { body: "fixed" } });
    expect(response.body).toMatchObject({ body: "fixed", run_at: retryAt.toISOString(), attempt: 1 });
    expect(await receivedAt(job.url)).toHaveLength(0);
    expect((await findJob(db, project.id, job.id))?.claimedBy).toBeNull();
  });

  it("answers 404 for another project's job and changes nothing", async () => {
    const other = await createProject(db);
    const foreign = await insertJobRow(db, other.project.id, { runAt: later(3_600_000) });
    expect((await callApi("PATCH", `/jobs/${foreign.id}`, { token, json: { body: "x" } })).status).toBe(404);
    expect((await findJob(db, other.project.id, foreign.id))?.body).toBeNull();
  });
});
