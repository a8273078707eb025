/**
 * The SDK client against the real API (through a service-binding style fetch) and, for its
 * retry and timeout behaviour, against the real HTTP test receiver.
 */

import { describe, expect, it } from "vitest";
import { createFliqClient, type FliqClient, FliqError } from "../src/client/index";
import { RETRY_DEFAULTS, retryAfterMs, retryDelayMs } from "../src/client/retry-policy";
import { insertJobRow, receivedAt, receiverUrl, testEnv, tickNow, useTestProject } from "./support/fliq";
import { fliqServiceFetch } from "./support/in-process-fliq";

const { db, project, token } = await useTestProject();

function client(options: Partial<Parameters<typeof createFliqClient>[0]> = {}): FliqClient {
  return createFliqClient({ baseUrl: "https://fliq.internal", token, fetch: fliqServiceFetch, ...options });
}

/** The FliqError a call rejects with. */
async function failureOf(call: Promise<unknown>): Promise<FliqError> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(FliqError);
  return error as FliqError;
}

const inOneHour = () => new Date(Date.now() + 3_600_000);

describe("creating and reading jobs", () => {
  it("creates a job from a Date and a json body, and reads it back with its version", async () => {
    const fliq = client();
    const scheduledAt = inOneHour();
    const created = await fliq.createJob({
      url: "https://my-worker.example.workers.dev/api/send-welcome",
      scheduled_at: scheduledAt,
      json: { email: "user@example.com" },
      labels: { flow: "welcome" },
    });
    expect(created).toMatchObject({
      status: "scheduled",
      http_method: "POST",
      scheduled_at: scheduledAt.toISOString(),
      body: '{"email":"user@example.com"}',
      headers: { "Content-Type": "application/json" },
      labels: { flow: "welcome" },
    });
    expect(created.etag).toMatch(/^".+"$/);
    const read = await fliq.getJob(created.id);
    expect(read).toMatchObject({ id: created.id, attempts: [], etag: created.etag });
  });

  it("keeps a Content-Type the caller set, and refuses body and json together", async () => {
    const fliq = client();
    const job = await fliq.createJob({
      url: receiverUrl("ok"),
      delay: "1h",
      headers: { "content-type": "application/vnd.welcome+json" },
      json: [1, 2],
    });
    expect(job.headers).toEqual({ "content-type": "application/vnd.welcome+json" });
    await expect(fliq.createJob({ url: receiverUrl("ok"), body: "x", json: {} })).rejects.toThrow(TypeError);
  });

  it("answers the same job for a repeated Idempotency-Key", async () => {
    const fliq = client();
    const request = { url: receiverUrl("ok"), delay: 3600 };
    const first = await fliq.createJob(request, { idempotencyKey: "signup-42" });
    const again = await fliq.createJob(request, { idempotencyKey: "signup-42" });
    expect(again.id).toBe(first.id);
    const reused = await failureOf(fliq.createJob({ ...request, delay: 60 }, { idempotencyKey: "signup-42" }));
    expect(reused).toMatchObject({ status: 409, code: "idempotency_key_reused" });
  });

  it("creates a batch", async () => {
    const jobs = await client().createJobs([
      { url: receiverUrl("ok"), delay: "1h" },
      { url: receiverUrl("ok"), delay: "2h", json: { n: 2 } },
    ]);
    expect(jobs.map((job) => job.status)).toEqual(["scheduled", "scheduled"]);
    expect(jobs[1].body).toBe('{"n":2}');
  });

  it("walks every page of a listing with the cursor", async () => {
    const fliq = client();
    for (let i = 0; i < 5; i++) await insertJobRow(db, project.id, { labels: { batch: "walk" }, runAt: inOneHour() });
    await insertJobRow(db, project.id, { labels: { batch: "other" }, runAt: inOneHour() });
    const pages = [];
    for await (const page of fliq.listJobPages({ labels: { batch: "walk" }, limit: 2 })) pages.push(page);
    expect(pages.map((page) => page.jobs.length)).toEqual([2, 2, 1]);
    expect(pages.at(-1)?.next_cursor).toBeNull();
    const ids = [];
    for await (const job of fliq.listJobs({ labels: { batch: "walk" }, status: ["scheduled"], limit: 2 })) {
      ids.push(job.id);
    }
    expect(new Set(ids).size).toBe(5);
    expect(ids).toEqual(pages.flatMap((page) => page.jobs.map((job) => job.id)));
  });
});

describe("changing jobs", () => {
  it("applies a change at the version it read, and refuses a stale version with 412", async () => {
    const fliq = client();
    const job = await fliq.createJob({ url: receiverUrl("ok"), delay: "1h", headers: { "X-Flow": "welcome" } });
    const changed = await fliq.updateJob(job.id, { json: { v: 2 } }, { ifMatch: job.etag });
    expect(changed.body).toBe('{"v":2}');
    // A PATCH's headers replace the job's, so `json` on a change leaves them alone.
    expect(changed.headers).toEqual(job.headers);
    expect(changed.etag).not.toBe(job.etag);
    const stale = await failureOf(fliq.updateJob(job.id, { max_retries: 1 }, { ifMatch: job.etag }));
    expect(stale).toMatchObject({ status: 412, code: "precondition_failed" });
  });

  it("runs a job now, lists its attempt, and replays it", async () => {
    const fliq = client();
    const url = receiverUrl("ok");
    const job = await fliq.createJob({ url, delay: "1h" });
    await fliq.runJob(job.id);
    const attempts = [];
    for await (const attempt of fliq.listAttempts(job.id, { limit: 1 })) attempts.push(attempt);
    expect(attempts).toMatchObject([{ attempt: 1, outcome: "succeeded", status_code: 200 }]);
    const replayed = await fliq.replayJob(job.id);
    expect(replayed.webhook_id).not.toBe(job.webhook_id);
    expect((await fliq.getJob(job.id)).status).toBe("succeeded");
    expect(await receivedAt(url)).toHaveLength(2);
  });

  it("cancels a job (again harmlessly), and refuses to cancel a finished one", async () => {
    const fliq = client();
    const job = await fliq.createJob({ url: receiverUrl("ok"), delay: "1h" });
    expect((await fliq.cancelJob(job.id)).status).toBe("canceled");
    expect((await fliq.cancelJob(job.id)).status).toBe("canceled");
    const done = await insertJobRow(db, project.id, { status: "succeeded", finishedAt: new Date() });
    const finished = await failureOf(fliq.cancelJob(done.id));
    expect(finished).toMatchObject({ status: 409, code: "job_finished" });
  });

  it("cancels by filter and replays by ids in bulk", async () => {
    const fliq = client();
    const [a, b] = await fliq.createJobs([
      { url: receiverUrl("ok"), delay: "1h", labels: { tenant: "t1" } },
      { url: receiverUrl("ok"), delay: "1h", labels: { tenant: "t1" } },
    ]);
    const canceled = await fliq.cancelJobs({ filter: { labels: { tenant: "t1" }, scheduled_after: new Date(0) } });
    expect(canceled).toEqual({ count: 2, ids: expect.arrayContaining([a.id, b.id]), running_ids: [], has_more: false });
    const replayed = await fliq.replayJobs({ ids: [a.id] });
    expect(replayed).toMatchObject({ count: 1, ids: [a.id] });
    await tickNow();
    expect((await fliq.getJob(a.id)).status).toBe("succeeded");
    expect((await fliq.getJob(b.id)).status).toBe("canceled");
  });
});

describe("schedules", () => {
  it("creates a schedule from Dates and a json body, reads its next fire times, and lists it", async () => {
    const fliq = client();
    const startsAt = new Date(Date.UTC(2030, 0, 1));
    const created = await fliq.createSchedule({
      cron: "0 9 * * 1",
      timezone: "Europe/Berlin",
      url: receiverUrl("ok"),
      json: { digest: "weekly" },
      starts_at: startsAt,
      labels: { sdk: "schedule-list" },
    });
    expect(created).toMatchObject({
      status: "active",
      starts_at: startsAt.toISOString(),
      body: '{"digest":"weekly"}',
      headers: { "Content-Type": "application/json" },
    });
    expect(created.etag).toMatch(/^".+"$/);
    const read = await fliq.getSchedule(created.id);
    // Monday 6 January 2030, 09:00 in Berlin (CET, UTC+1).
    expect(read.next_fire_times[0]).toBe("2030-01-07T08:00:00.000Z");
    expect(read.next_fire_times).toHaveLength(5);
    expect(read.recent_runs).toEqual([]);
    const second = await fliq.createSchedule({
      cron: "@daily",
      url: receiverUrl("ok"),
      labels: { sdk: "schedule-list" },
    });
    const listed = [];
    for await (const schedule of fliq.listSchedules({ labels: { sdk: "schedule-list" }, limit: 1 })) {
      listed.push(schedule.id);
    }
    expect(listed).toEqual([second.id, created.id]);
  });

  it("pauses and resumes at the version it read, changes the cron, and refuses a stale version", async () => {
    const fliq = client();
    const schedule = await fliq.createSchedule({ cron: "*/5 * * * *", url: receiverUrl("ok") });
    const paused = await fliq.pauseSchedule(schedule.id, { ifMatch: schedule.etag });
    expect(paused.status).toBe("paused");
    expect((await fliq.listSchedulesPage({ status: "paused", limit: 200 })).schedules.map((s) => s.id)).toContain(
      schedule.id,
    );
    const stale = await failureOf(fliq.resumeSchedule(schedule.id, { ifMatch: schedule.etag }));
    expect(stale).toMatchObject({ status: 412, code: "precondition_failed" });
    expect((await fliq.resumeSchedule(schedule.id, { ifMatch: paused.etag })).status).toBe("active");
    const changed = await fliq.updateSchedule(schedule.id, { cron: "0 * * * *", ends_at: null });
    expect(changed.cron).toBe("0 * * * *");
    const invalid = await failureOf(fliq.updateSchedule(schedule.id, { cron: "every day" }));
    expect(invalid).toMatchObject({ status: 422, code: "validation_failed" });
  });

  it("triggers a run that shows among the recent runs, and deletes the schedule", async () => {
    const fliq = client();
    const url = receiverUrl("ok");
    const schedule = await fliq.createSchedule({ cron: "0 0 1 1 *", url });
    const run = await fliq.triggerSchedule(schedule.id);
    expect(run.schedule_id).toBe(schedule.id);
    expect(await receivedAt(url)).toHaveLength(1);
    const read = await fliq.getSchedule(schedule.id);
    expect(read.recent_runs).toMatchObject([{ job_id: run.id, status: "succeeded", occurrence_at: null }]);
    expect((await fliq.deleteSchedule(schedule.id)).id).toBe(schedule.id);
    const gone = await failureOf(fliq.getSchedule(schedule.id));
    expect(gone).toMatchObject({ status: 404, code: "not_found" });
  });
});

describe("errors", () => {
  it("carries the API's status, code and details", async () => {
    const error = await failureOf(client().createJob({ url: "ftp://nope", max_retries: 99 }));
    expect(error).toMatchObject({ status: 422, code: "validation_failed", name: "FliqError" });
    expect(error.details.map((detail) => detail.path).sort()).toEqual(["max_retries", "url"]);
  });

  it("says in its message what to fix, so logging the error alone shows the reason", async () => {
    const error = await failureOf(client().createJob({ scheduled_at: "2027-01-01T00:00:00Z" } as never));
    expect(error.message).toBe("The request is not valid: url is required.");
    expect(String(error)).toContain("url is required");
  });

  it("answers 401 and 404 as typed errors", async () => {
    const unauthorized = await failureOf(client({ token: "fliq_sk_wrong" }).getJob(crypto.randomUUID()));
    expect(unauthorized).toMatchObject({ status: 401, code: "unauthorized" });
    const missing = await failureOf(client().getJob(crypto.randomUUID()));
    expect(missing).toMatchObject({ status: 404, code: "not_found" });
  });

  it("reports an unreachable Fliq as a network error with status 0", async () => {
    const fliq = createFliqClient({ baseUrl: "http://127.0.0.1:1", token, retry: false });
    const error = await failureOf(fliq.getJob(crypto.randomUUID()));
    expect(error).toMatchObject({ status: 0, code: "network_error", isNetworkError: true });
  });

  it("gives up on a slow answer after timeoutMs", async () => {
    const fliq = createFliqClient({ baseUrl: receiverUrl("slow/3000"), token, retry: false, timeoutMs: 200 });
    const error = await failureOf(fliq.getJob(crypto.randomUUID()));
    expect(error).toMatchObject({ status: 0, code: "timeout" });
  });
});

describe("retries over real HTTP", () => {
  const quick = { initialDelayMs: 1, maxDelayMs: 20 };

  it("retries a read after 5xx answers until it succeeds", async () => {
    const base = receiverUrl("flaky/2");
    const fliq = createFliqClient({ baseUrl: base, token, retry: { retries: 2, ...quick } });
    const answer = (await fliq.getJob("job")) as unknown as { seen: number };
    expect(answer.seen).toBe(3);
    expect(await receivedAt(`${base}/jobs/job`)).toHaveLength(3);
  });

  it("stops after `retries` and reports the last answer", async () => {
    const base = receiverUrl("flaky/5");
    const fliq = createFliqClient({ baseUrl: base, token, retry: { retries: 1, ...quick } });
    const error = await failureOf(fliq.getJob("job"));
    expect(error).toMatchObject({ status: 500, code: "http_error" });
    expect(await receivedAt(`${base}/jobs/job`)).toHaveLength(2);
  });

  it("retries a create only when it carries an Idempotency-Key", async () => {
    const keyed = receiverUrl("flaky/1");
    await createFliqClient({ baseUrl: keyed, token, retry: quick }).createJob(
      { url: "https://x.example" },
      { idempotencyKey: "k1" },
    );
    const requests = await receivedAt(`${keyed}/jobs`);
    expect(requests).toHaveLength(2);
    expect(requests.map((r) => r.headers["idempotency-key"])).toEqual(["k1", "k1"]);

    const unkeyed = receiverUrl("flaky/1");
    const error = await failureOf(
      createFliqClient({ baseUrl: unkeyed, token, retry: quick }).createJob({ url: "https://x.example" }),
    );
    expect(error.status).toBe(500);
    expect(await receivedAt(`${unkeyed}/jobs`)).toHaveLength(1);
  });

  it("never retries a change", async () => {
    const base = receiverUrl("flaky/1");
    await failureOf(createFliqClient({ baseUrl: base, token, retry: quick }).cancelJob("job"));
    expect(await receivedAt(`${base}/jobs/job/cancel`)).toHaveLength(1);
  });

  it("retries a 503 and keeps its Retry-After on the error", async () => {
    const base = receiverUrl("retry-after/1");
    const error = await failureOf(createFliqClient({ baseUrl: base, token, retry: quick }).getJob("job"));
    expect(error).toMatchObject({ status: 503, retryAfter: "1" });
    expect(await receivedAt(`${base}/jobs/job`)).toHaveLength(1 + RETRY_DEFAULTS.retries);
  });

  it("sends the token and JSON headers", async () => {
    const base = receiverUrl("ok");
    await createFliqClient({ baseUrl: `${base}/`, token }).createJob({ url: "https://x.example", delay: 5 });
    const [request] = await receivedAt(`${base}/jobs`);
    expect(request.headers).toMatchObject({ authorization: `Bearer ${token}`, "content-type": "application/json" });
    expect(JSON.parse(request.body)).toEqual({ url: "https://x.example", delay: 5 });
  });
});

describe("retry delays", () => {
  const options = { retries: 3, initialDelayMs: 100, maxDelayMs: 5_000 };
  const now = new Date("2026-01-01T00:00:00Z");

  it("backs off exponentially with full jitter", () => {
    expect(retryDelayMs(1, null, options, now, () => 1)).toBe(100);
    expect(retryDelayMs(3, null, options, now, () => 1)).toBe(400);
    expect(retryDelayMs(3, null, options, now, () => 0.5)).toBe(200);
    expect(retryDelayMs(20, null, options, now, () => 1)).toBe(5_000);
  });

  it("waits at least what Retry-After asks, up to the cap", () => {
    expect(retryDelayMs(1, "2", options, now, () => 0)).toBe(2_000);
    expect(retryDelayMs(1, "60", options, now, () => 0)).toBe(5_000);
    expect(retryDelayMs(1, "Thu, 01 Jan 2026 00:00:03 GMT", options, now, () => 0)).toBe(3_000);
  });

  it("reads Retry-After as seconds or an HTTP date, and ignores anything else", () => {
    expect(retryAfterMs("0", now)).toBe(0);
    expect(retryAfterMs(" 7 ", now)).toBe(7_000);
    expect(retryAfterMs("Wed, 31 Dec 2025 23:59:00 GMT", now)).toBe(0);
    expect(retryAfterMs("soon", now)).toBeUndefined();
    expect(retryAfterMs(null, now)).toBeUndefined();
  });
});

it("uses the test receiver this run started", () => {
  expect(testEnv.RECEIVER_URL).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
});
