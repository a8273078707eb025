/**
 * failure_url: when a job ends `failed`, Fliq calls it, signed, with a summary of the failure.
 */
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { findJob } from "../src/db/jobs";
import { MAX_LOST_ATTEMPTS } from "../src/jobs/states";
import { callApi, insertJobRow, receivedAt, receiverUrl, tickNow, useTestProject } from "./support/fliq";

const { db, project, token, signingSecret } = await useTestProject();

/** The one failure notification's first attempt, as the API shows it. */
async function notificationAttempt() {
  const list = await callApi("GET", "/jobs?label=fliq:failure-notification", { token });
  expect(list.body.jobs).toHaveLength(1);
  const notification = await callApi("GET", `/jobs/${list.body.jobs[0].id}`, { token });
  expect(notification.body.attempts).toHaveLength(1);
  return notification.body.attempts[0];
}

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
    // The API invocation fires the job, records the failure, and fires the notification itself.
    await callApi("POST", `/jobs/${created.body.id}/run`, { token });
    expect((await callApi("GET", `/jobs/${created.body.id}`, { token })).body.status).toBe("failed");
    expect((await notificationAttempt()).lateness_ms).toBeLessThan(1_000);

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

  it("goes out from the tick that recorded the failure, within a second of it, not at a later poll", async () => {
    const failureUrl = receiverUrl("ok");
    const job = await insertJobRow(db, project.id, { url: receiverUrl("status/500"), maxRetries: 0, failureUrl });
    // A window closing at once: the tick never polls again, so only the finishing run can fire the notification.
    await tickNow();
    expect((await findJob(db, project.id, job.id))?.status).toBe("failed");
    const attempt = await notificationAttempt();
    expect(attempt.outcome).toBe("succeeded");
    // Planned at the failure; fired after at most one write of results and one start.
    expect(attempt.lateness_ms).toBeLessThan(1_000);
    const [notice] = await receivedAt(failureUrl);
    expect(JSON.parse(notice.body)).toMatchObject({ job_id: job.id, last_status_code: 500 });
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
