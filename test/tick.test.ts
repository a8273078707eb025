import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { findJob, listAttempts } from "../src/db/jobs";
import { BACKOFF } from "../src/jobs/delivery-policy";
import {
  callApi,
  createProject,
  deleteAllJobs,
  insertJobRow,
  openTestDatabase,
  receivedAt,
  receiverUrl,
  runTickAt,
} from "./support/fliq";

const database = openTestDatabase();
const db = database.db;
const { project, token } = await createProject(db);
afterAll(() => database.close());
beforeEach(() => deleteAllJobs(db));

const seconds = (n: number) => n * 1000;
const later = (date: Date, ms: number) => new Date(date.getTime() + ms);

async function jobState(id: string) {
  const job = await findJob(db, project.id, id);
  if (!job) throw new Error(`job ${id} is gone`);
  return { job, attempts: await listAttempts(db, id) };
}

describe("the tick", () => {
  it("delivers the front-door request at its time: exact method, headers and body, attempt recorded", async () => {
    const url = receiverUrl("ok");
    const scheduledAt = later(new Date(), seconds(10));
    const created = await callApi("POST", "/jobs", {
      token,
      json: {
        url,
        http_method: "POST",
        scheduled_at: scheduledAt.toISOString(),
        headers: { "Content-Type": "application/json", "X-Trace": "abc" },
        body: '{"email":"user@example.com"}',
        max_retries: 3,
      },
    });
    expect(created.status).toBe(201);

    await runTickAt(later(scheduledAt, -1));
    expect(await receivedAt(url)).toHaveLength(0);
    expect((await jobState(created.body.id)).job.status).toBe("scheduled");

    await runTickAt(scheduledAt);
    const received = await receivedAt(url);
    expect(received).toHaveLength(1);
    expect(received[0].method).toBe("POST");
    expect(received[0].headers["content-type"]).toBe("application/json");
    expect(received[0].headers["x-trace"]).toBe("abc");
    expect(received[0].body).toBe('{"email":"user@example.com"}');

    const fetched = await callApi("GET", `/jobs/${created.body.id}`, { token });
    expect(fetched.body).toMatchObject({ status: "succeeded", attempt: 1, last_status_code: 200, last_error: null });
    expect(fetched.body.finished_at).not.toBeNull();
    expect(fetched.body.attempts).toHaveLength(1);
    expect(fetched.body.attempts[0]).toMatchObject({
      attempt: 1,
      outcome: "succeeded",
      planned_at: scheduledAt.toISOString(),
      status_code: 200,
      error_class: null,
    });
    expect(fetched.body.attempts[0].response_excerpt).toContain(new URL(url).pathname);
    expect(fetched.body.attempts[0].duration_ms).toBeGreaterThanOrEqual(0);
    expect(fetched.body.attempts[0].lateness_ms).toBeGreaterThanOrEqual(0);
  });

  it("retries a 500 with backoff, then succeeds", async () => {
    const job = await insertJobRow(db, project.id, { url: receiverUrl("flaky/1"), maxRetries: 3 });
    const firstTick = new Date();
    await runTickAt(firstTick);
    const afterFirst = await jobState(job.id);
    expect(afterFirst.job).toMatchObject({
      status: "scheduled",
      attempt: 1,
      lastStatusCode: 500,
      lastError: "http_error",
    });
    expect(afterFirst.attempts.map((a) => a.outcome)).toEqual(["retry"]);
    // Equal jitter: the first retry waits between half and all of the base delay.
    const delay = afterFirst.job.runAt.getTime() - afterFirst.attempts[0].firedAt.getTime();
    expect(delay).toBeGreaterThanOrEqual(BACKOFF.baseMs / 2 - afterFirst.attempts[0].durationMs);
    expect(delay).toBeLessThanOrEqual(BACKOFF.baseMs + afterFirst.attempts[0].durationMs);

    // Not before its retry time...
    await runTickAt(later(afterFirst.job.runAt, -1));
    expect((await jobState(job.id)).job.attempt).toBe(1);
    // ...and at it.
    await runTickAt(afterFirst.job.runAt);
    const afterSecond = await jobState(job.id);
    expect(afterSecond.job).toMatchObject({ status: "succeeded", attempt: 2, lastStatusCode: 200 });
    expect(afterSecond.attempts.map((a) => [a.attempt, a.outcome, a.statusCode])).toEqual([
      [1, "retry", 500],
      [2, "succeeded", 200],
    ]);
    expect(await receivedAt(job.url)).toHaveLength(2);
  });

  it("fails the job once max_retries retries are spent", async () => {
    const job = await insertJobRow(db, project.id, { url: receiverUrl("status/503"), maxRetries: 2 });
    let now = new Date();
    for (let tick = 0; tick < 3; tick++) {
      await runTickAt(now);
      now = (await jobState(job.id)).job.runAt;
    }
    const { job: final, attempts } = await jobState(job.id);
    expect(final.status).toBe("failed");
    expect(final.finishedAt).not.toBeNull();
    expect(attempts.map((a) => a.outcome)).toEqual(["retry", "retry", "failed"]);
    // A further tick does nothing to a failed job.
    await runTickAt(later(now, seconds(3600)));
    expect(await receivedAt(job.url)).toHaveLength(3);
  });

  it.each([
    ["404", "status/404", 404, "http_error"],
    ["400", "status/400", 400, "http_error"],
    ["a redirect (not followed)", "status/302", 302, "redirect"],
  ])("fails at once, without retry, on %s", async (_name, kind, code, errorClass) => {
    const job = await insertJobRow(db, project.id, { url: receiverUrl(kind), maxRetries: 5 });
    await runTickAt(new Date());
    const { job: final, attempts } = await jobState(job.id);
    expect(final).toMatchObject({ status: "failed", attempt: 1, lastStatusCode: code, lastError: errorClass });
    expect(attempts).toHaveLength(1);
    expect(attempts[0]).toMatchObject({ outcome: "failed", statusCode: code, errorClass });
  });

  it.each([
    ["408", "status/408"],
    ["429", "status/429"],
    ["503", "status/503"],
  ])("retries %s", async (_name, kind) => {
    const job = await insertJobRow(db, project.id, { url: receiverUrl(kind) });
    await runTickAt(new Date());
    expect((await jobState(job.id)).job).toMatchObject({ status: "scheduled", attempt: 1 });
  });

  it("records a timeout and retries when the target is slower than timeout_ms", async () => {
    const job = await insertJobRow(db, project.id, { url: receiverUrl("slow/3000"), timeoutMs: 1000 });
    await runTickAt(new Date());
    const { job: final, attempts } = await jobState(job.id);
    expect(final).toMatchObject({ status: "scheduled", lastError: "timeout", lastStatusCode: null });
    expect(attempts[0]).toMatchObject({ outcome: "retry", errorClass: "timeout", statusCode: null });
    expect(attempts[0].durationMs).toBeGreaterThanOrEqual(900);
    expect(attempts[0].durationMs).toBeLessThan(2900);
  });

  it("records a network error and retries when nothing listens", async () => {
    const job = await insertJobRow(db, project.id, { url: "http://127.0.0.1:1/unreachable" });
    await runTickAt(new Date());
    const { job: final, attempts } = await jobState(job.id);
    expect(final).toMatchObject({ status: "scheduled", lastError: "network_error" });
    expect(attempts[0]).toMatchObject({ outcome: "retry", errorClass: "network_error" });
  });

  it("never touches jobs that are not due, running under a live lease, or finished", async () => {
    const now = new Date();
    const future = await insertJobRow(db, project.id, { runAt: later(now, seconds(30)) });
    const leased = await insertJobRow(db, project.id, {
      status: "running",
      attempt: 1,
      lockedUntil: later(now, seconds(60)),
    });
    const done = await insertJobRow(db, project.id, { status: "succeeded", attempt: 1, finishedAt: now });
    const canceled = await insertJobRow(db, project.id, { status: "canceled" });
    await runTickAt(now);
    for (const row of [future, leased, done, canceled]) {
      expect(await receivedAt(row.url)).toHaveLength(0);
      expect((await jobState(row.id)).job.status).toBe(row.status);
    }
  });

  it("delivers many due jobs under the connection cap, each exactly once", async () => {
    const rows = await Promise.all(
      Array.from({ length: 60 }, () => insertJobRow(db, project.id, { url: receiverUrl("slow/20") })),
    );
    await runTickAt(new Date());
    for (const row of rows) {
      expect(await receivedAt(row.url)).toHaveLength(1);
      expect((await jobState(row.id)).job.status).toBe("succeeded");
    }
  });
});
