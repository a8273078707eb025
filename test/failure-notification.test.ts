/**
 * failure_url: when a job ends `failed`, Fliq calls it, signed, with a summary of the failure.
 */
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { MAX_LOST_ATTEMPTS } from "../src/jobs/states";
import { callApi, insertJobRow, receivedAt, receiverUrl, tickNow, useTestProject } from "./support/fliq";

const { db, project, token, signingSecret } = await useTestProject();

describe("failure_url", () => {
  it("is called, signed, with the failure's summary once the job fails", async () => {
    const failureUrl = receiverUrl("ok");
    const created = await callApi("POST", "/jobs", {
      token,
      json: {
        url: receiverUrl("status/404"),
        failure_url: failureUrl,
        labels: { flow: "welcome" },
        scheduled_at: "2027-01-01T00:00:00Z",
      },
    });
    expect(created.body.failure_url).toBe(failureUrl);
    await callApi("POST", `/jobs/${created.body.id}/run`, { token });
    expect((await callApi("GET", `/jobs/${created.body.id}`, { token })).body.status).toBe("failed");

    await tickNow();
    const [notice] = await receivedAt(failureUrl);
    const payload = new Webhook(signingSecret).verify(notice.body, notice.headers);
    expect(payload).toMatchObject({
      type: "job.failed",
      job_id: created.body.id,
      attempts: 1,
      last_status_code: 404,
      last_error: "http_error",
      labels: { flow: "welcome" },
    });
    expect(notice.headers["content-type"]).toBe("application/json");
  });

  it("is called when the rescuer fails a job after its last allowed lost attempt", async () => {
    const failureUrl = receiverUrl("ok");
    const job = await insertJobRow(db, project.id, {
      status: "running",
      attempt: MAX_LOST_ATTEMPTS,
      lostAttempts: MAX_LOST_ATTEMPTS - 1,
      maxRetries: 0,
      lockedUntil: new Date(Date.now() - 1),
      failureUrl,
    });
    await tickNow();
    await tickNow();
    const [notice] = await receivedAt(failureUrl);
    expect(JSON.parse(notice.body)).toMatchObject({ job_id: job.id, last_error: "lease_expired" });
  });

  it("is not called for a job that succeeds, nor for a retry", async () => {
    const failureUrl = receiverUrl("ok");
    await insertJobRow(db, project.id, { failureUrl });
    await insertJobRow(db, project.id, { url: receiverUrl("status/503"), failureUrl });
    await tickNow();
    await tickNow();
    expect(await receivedAt(failureUrl)).toHaveLength(0);
  });
});
