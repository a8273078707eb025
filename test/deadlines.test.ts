/**
 * Deadlines: `expires_at` (no attempt starts after it; the job ends `expired`) and
 * `max_retry_duration` (no retry starts later than this after the first attempt; the job fails),
 * through the API, the engine against real receivers, replay, the client and the dashboard.
 */
import { eq } from "drizzle-orm";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { createFliqClient } from "../src/client/index";
import { findJob, listAttempts } from "../src/db/jobs";
import { projectJobCounts } from "../src/db/schema";
import { callDashboard, openSession, textOf } from "./support/dashboard";
import { callApi, insertJobRow, later, receivedAt, receiverUrl, tickNow, useTestProject } from "./support/fliq";
import { fliqServiceFetch } from "./support/in-process-fliq";

const { db, project, token, signingSecret } = await useTestProject();

/** The project's count of unfinished jobs, as the cap reads it. */
async function unfinishedCount(): Promise<number> {
  const [row] = await db.select().from(projectJobCounts).where(eq(projectJobCounts.projectId, project.id));
  return row.unfinished;
}

describe("expires_at and max_retry_duration through the API", () => {
  it("are stored and shown, max_retry_duration in seconds", async () => {
    const expiresAt = later(2 * 3_600_000).toISOString();
    const created = await callApi("POST", "/jobs", {
      token,
      json: { url: receiverUrl("ok"), delay: "1h", expires_at: expiresAt, max_retry_duration: "1h30m" },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ expires_at: expiresAt, max_retry_duration: 5_400 });
    const plain = await callApi("POST", "/jobs", { token, json: { url: receiverUrl("ok"), delay: "1h" } });
    expect(plain.body).toMatchObject({ expires_at: null, max_retry_duration: null });
  });

  it.each([
    ["a deadline already passed", { expires_at: later(-1_000).toISOString() }, "expires_at"],
    ["a deadline before scheduled_at", { expires_at: later(30 * 60_000).toISOString() }, "expires_at"],
    ["a deadline that is not a date", { expires_at: "tomorrow" }, "expires_at"],
    ["a retry limit of no time", { max_retry_duration: 0 }, "max_retry_duration"],
    ["a retry limit that is not a duration", { max_retry_duration: "an hour" }, "max_retry_duration"],
    ["a retry limit over 366 days", { max_retry_duration: "367d" }, "max_retry_duration"],
  ])("refuses %s with 422 naming the field, and stores nothing", async (_what, fields, path) => {
    const answer = await callApi("POST", "/jobs", {
      token,
      json: { url: receiverUrl("ok"), delay: "1h", ...fields },
    });
    expect(answer.status).toBe(422);
    expect(answer.body.error.code).toBe("validation_failed");
    expect(answer.body.error.details.map((d: { path: string }) => d.path)).toEqual([path]);
    expect((await callApi("GET", "/jobs", { token })).body.jobs).toEqual([]);
  });

  it("may be changed or removed by PATCH while the job waits, but not to a passed deadline", async () => {
    const created = await callApi("POST", "/jobs", { token, json: { url: receiverUrl("ok"), delay: "1h" } });
    const path = `/jobs/${created.body.id}`;
    const expiresAt = later(3 * 3_600_000).toISOString();
    const changed = await callApi("PATCH", path, { token, json: { expires_at: expiresAt, max_retry_duration: 600 } });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ expires_at: expiresAt, max_retry_duration: 600 });

    const refused = await callApi("PATCH", path, { token, json: { expires_at: later(-60_000).toISOString() } });
    expect(refused.status).toBe(422);
    expect(refused.body.error.details[0].path).toBe("expires_at");
    // Moving the job past its deadline is refused as well.
    const tooLate = await callApi("PATCH", path, { token, json: { scheduled_at: later(4 * 3_600_000).toISOString() } });
    expect(tooLate.status).toBe(422);
    expect((await callApi("GET", path, { token })).body).toMatchObject({ expires_at: expiresAt });

    const removed = await callApi("PATCH", path, { token, json: { expires_at: null, max_retry_duration: null } });
    expect(removed.body).toMatchObject({ expires_at: null, max_retry_duration: null });
  });

  it("lists expired jobs by status", async () => {
    const expired = await insertJobRow(db, project.id, { status: "expired" });
    await insertJobRow(db, project.id, { status: "failed" });
    const list = await callApi("GET", "/jobs?status=expired", { token });
    expect(list.body.jobs.map((job: { id: string }) => job.id)).toEqual([expired.id]);
  });
});

describe("a job whose turn comes after its expires_at", () => {
  it("ends expired when its turn comes, with no attempt, and its failure_url is told, signed", async () => {
    const url = receiverUrl("ok");
    const failureUrl = receiverUrl("ok");
    const before = await unfinishedCount();
    // Due a minute ago (a tick was missed, say), with a deadline half a minute ago.
    const job = await insertJobRow(db, project.id, {
      url,
      runAt: later(-60_000),
      scheduledAt: later(-60_000),
      expiresAt: later(-30_000),
      failureUrl,
      labels: { flow: "reminder" },
    });
    expect(await unfinishedCount()).toBe(before + 1);
    await tickNow();

    const stored = await findJob(db, project.id, job.id);
    expect(stored).toMatchObject({ status: "expired", attempt: 0, claimedBy: null, lockedUntil: null });
    expect(stored?.finishedAt).toBeInstanceOf(Date);
    expect(await listAttempts(db, job.id)).toEqual([]);
    expect(await receivedAt(url)).toHaveLength(0);
    expect(await unfinishedCount()).toBe(before);

    const [notice] = await receivedAt(failureUrl);
    const payload = new Webhook(signingSecret).verify(notice.body, notice.headers) as Record<string, string>;
    expect(payload).toMatchObject({ type: "job.expired", job_id: job.id, attempts: 0, labels: { flow: "reminder" } });
    expect(new Date(payload.expires_at)).toEqual(stored?.expiresAt);
    expect(new Date(payload.failed_at)).toEqual(stored?.finishedAt);
  });

  it("starts as usual while its deadline is ahead", async () => {
    const url = receiverUrl("ok");
    const job = await insertJobRow(db, project.id, { url, expiresAt: later(60_000) });
    await tickNow();
    expect((await findJob(db, project.id, job.id))?.status).toBe("succeeded");
    expect(await receivedAt(url)).toHaveLength(1);
  });

  it("expires at once when an attempt fails with a retry due after the deadline", async () => {
    const url = receiverUrl("status/503");
    const failureUrl = receiverUrl("ok");
    // The first retry waits 5 to 10 s (the default backoff); the deadline is sooner.
    const job = await insertJobRow(db, project.id, { url, expiresAt: later(3_000), failureUrl });
    await tickNow();
    const stored = await findJob(db, project.id, job.id);
    expect(stored).toMatchObject({ status: "expired", attempt: 1, lastStatusCode: 503 });
    expect((await listAttempts(db, job.id)).map((a) => a.outcome)).toEqual(["failed"]);
    expect(await receivedAt(url)).toHaveLength(1);
    const [notice] = await receivedAt(failureUrl);
    expect(JSON.parse(notice.body)).toMatchObject({ type: "job.expired", job_id: job.id, last_status_code: 503 });
  });

  it("can be replayed: the passed deadline is dropped and the new run is delivered", async () => {
    const url = receiverUrl("ok");
    const job = await insertJobRow(db, project.id, {
      url,
      status: "expired",
      expiresAt: later(-1_000),
      firstAttemptAt: later(-60_000),
    });
    const replayed = await callApi("POST", `/jobs/${job.id}/replay`, { token });
    expect(replayed.status).toBe(200);
    expect(replayed.body).toMatchObject({ status: "scheduled", expires_at: null });
    await tickNow();
    expect(await findJob(db, project.id, job.id)).toMatchObject({ status: "succeeded", attempt: 1 });
    expect(await receivedAt(url)).toHaveLength(1);
  });
});

describe("max_retry_duration", () => {
  it("fails the job when its next retry would start later than the limit after the first attempt", async () => {
    const url = receiverUrl("status/500");
    const failureUrl = receiverUrl("ok");
    // Retries would come 5 to 10 s apart; the limit allows none of them.
    const job = await insertJobRow(db, project.id, { url, maxRetries: 5, maxRetryDurationMs: 2_000, failureUrl });
    await tickNow();
    const stored = await findJob(db, project.id, job.id);
    expect(stored).toMatchObject({ status: "failed", attempt: 1 });
    expect(stored?.firstAttemptAt).toBeInstanceOf(Date);
    const [notice] = await receivedAt(failureUrl);
    expect(JSON.parse(notice.body)).toMatchObject({ type: "job.failed", job_id: job.id });
  });

  it("counts from the run's first attempt, not from the attempt that failed", async () => {
    const url = receiverUrl("status/500");
    // A retry of a run whose first attempt was 50 s ago, allowed a minute: the next retry (5 to 10 s) is past it.
    const job = await insertJobRow(db, project.id, {
      url,
      attempt: 1,
      maxRetryDurationMs: 60_000,
      firstAttemptAt: later(-50_000),
    });
    await tickNow();
    expect(await findJob(db, project.id, job.id)).toMatchObject({ status: "failed", attempt: 2 });
  });

  it("lets retries go on within the limit", async () => {
    const url = receiverUrl("status/500");
    const job = await insertJobRow(db, project.id, { url, maxRetryDurationMs: 3_600_000 });
    await tickNow();
    const stored = await findJob(db, project.id, job.id);
    expect(stored).toMatchObject({ status: "scheduled", attempt: 1 });
  });
});

describe("deadlines in the client and the dashboard", () => {
  it("the client sends them, a Date included, and reads them back", async () => {
    const fliq = createFliqClient({ baseUrl: "https://fliq.internal", token, fetch: fliqServiceFetch });
    const expiresAt = later(2 * 3_600_000);
    const job = await fliq.createJob({
      url: receiverUrl("ok"),
      delay: "1h",
      expires_at: expiresAt,
      max_retry_duration: "15m",
    });
    expect(job).toMatchObject({ expires_at: expiresAt.toISOString(), max_retry_duration: 900 });
    const changed = await fliq.updateJob(job.id, { expires_at: null });
    expect(changed.expires_at).toBeNull();
  });

  it("shows the deadline and the expired status on the job page, and filters the list by expired", async () => {
    const { cookie } = await openSession(token);
    const expiresAt = later(-30_000);
    const job = await insertJobRow(db, project.id, { status: "expired", expiresAt, maxRetryDurationMs: 600_000 });
    const other = await insertJobRow(db, project.id, { status: "failed" });
    const page = await callDashboard("GET", `/dashboard/jobs/${job.id}`, { cookie });
    expect(page.status).toBe(200);
    const text = textOf(page.html);
    expect(text).toContain("expired");
    expect(text).toContain("Expires at");
    expect(text).toContain("after the first attempt");
    const list = await callDashboard("GET", "/dashboard/jobs?status=expired", { cookie });
    expect(list.html).toContain(job.id);
    expect(list.html).not.toContain(other.id);
  });
});
