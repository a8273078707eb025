/**
 * What the tick does with each kind of answer: the front-door request end to end, retries
 * with backoff and Retry-After, permanent failures, timeouts and network errors.
 */
import { describe, expect, it } from "vitest";
import { findJob, listAttempts } from "../src/db/jobs";
import { TIMING } from "../src/jobs/timing";
import {
  callApi,
  dueAfterStartLead,
  insertJobRow,
  moveRunAt,
  ON_TIME_MS,
  receivedAt,
  receiverUrl,
  runTickUntil,
  tickNow,
  useTestProject,
} from "./support/fliq";

const { db, project, token } = await useTestProject();

const offset = (date: Date, ms: number) => new Date(date.getTime() + ms);

async function jobState(id: string) {
  const job = await findJob(db, project.id, id);
  if (!job) throw new Error(`job ${id} is gone`);
  return { job, attempts: await listAttempts(db, id) };
}

describe("the tick", () => {
  it("delivers the front-door request at its second: exact method, headers and body, attempt recorded", async () => {
    const url = receiverUrl("ok");
    const created = await callApi("POST", "/jobs", {
      token,
      json: {
        url,
        http_method: "POST",
        scheduled_at: offset(new Date(), 3_600_000).toISOString(),
        headers: { "Content-Type": "application/json", "X-Trace": "abc" },
        body: '{"email":"user@example.com"}',
        max_retries: 3,
      },
    });
    expect(created.status).toBe(201);
    // An hour away: the tick delivers it. Bring its time to 1.5 s past the start lead instead of waiting.
    const runAt = dueAfterStartLead(1500);
    await moveRunAt(db, created.body.id, runAt);

    await runTickUntil(offset(runAt, 1));
    const received = await receivedAt(url);
    expect(received).toHaveLength(1);
    expect(received[0].method).toBe("POST");
    expect(received[0].headers["content-type"]).toBe("application/json");
    expect(received[0].headers["x-trace"]).toBe("abc");
    expect(received[0].body).toBe('{"email":"user@example.com"}');
    // On its second: never early, and late by less than a tenth of a second.
    expect(received[0].receivedAt).toBeGreaterThanOrEqual(runAt.getTime());
    expect(received[0].receivedAt - runAt.getTime()).toBeLessThan(ON_TIME_MS);

    const fetched = await callApi("GET", `/jobs/${created.body.id}`, { token });
    expect(fetched.body).toMatchObject({ status: "succeeded", attempt: 1, last_status_code: 200, last_error: null });
    expect(fetched.body.finished_at).not.toBeNull();
    expect(fetched.body.attempts).toHaveLength(1);
    expect(fetched.body.attempts[0]).toMatchObject({
      attempt: 1,
      outcome: "succeeded",
      planned_at: runAt.toISOString(),
      status_code: 200,
      error_class: null,
    });
    expect(fetched.body.attempts[0].response_excerpt).toContain(new URL(url).pathname);
    expect(fetched.body.attempts[0].lateness_ms).toBeLessThan(ON_TIME_MS);
  });

  it("does not claim a job due at its window's end, and fires one due just inside it", async () => {
    const runAt = new Date(Date.now() + 500);
    const outside = await insertJobRow(db, project.id, { runAt });
    await runTickUntil(runAt);
    expect(await receivedAt(outside.url)).toHaveLength(0);
    expect((await jobState(outside.id)).job).toMatchObject({ status: "scheduled", claimedBy: null, attempt: 0 });

    const insideAt = new Date(Date.now() + 300);
    const inside = await insertJobRow(db, project.id, { runAt: insideAt });
    await runTickUntil(offset(insideAt, 1));
    expect(await receivedAt(inside.url)).toHaveLength(1);
  });

  it("retries a 500 within the same window, after its backoff, then succeeds", async () => {
    // Even the shortest jittered wait (half the delay) leaves time to write the result and start
    // the retry ahead of its time, whatever the write interval and start lead are tuned to.
    const backoffMs = 2 * (TIMING.flushIntervalMs + TIMING.startLeadMs + TIMING.startBatchMs + 1_000);
    const job = await insertJobRow(db, project.id, {
      url: receiverUrl("flaky/1"),
      backoffInitialMs: backoffMs,
      backoffMaxMs: backoffMs,
    });
    await runTickUntil(offset(new Date(), backoffMs + 2_500));
    const { job: final, attempts } = await jobState(job.id);
    expect(final).toMatchObject({ status: "succeeded", attempt: 2, lastStatusCode: 200 });
    expect(attempts.map((a) => [a.attempt, a.outcome, a.statusCode])).toEqual([
      [1, "retry", 500],
      [2, "succeeded", 200],
    ]);
    // Equal jitter: the retry waited between half and all of the initial delay.
    const waited = attempts[1].plannedAt.getTime() - (attempts[0].firedAt.getTime() + attempts[0].durationMs);
    expect(waited).toBeGreaterThanOrEqual(backoffMs / 2);
    expect(waited).toBeLessThanOrEqual(backoffMs);
    expect(attempts[1].latenessMs).toBeLessThan(ON_TIME_MS);
    const received = await receivedAt(job.url);
    expect(received.map((r) => r.headers["fliq-attempt"])).toEqual(["1", "2"]);
    // One run, one webhook-id: the receiver's dedupe key is stable across retries.
    expect(received[0].headers["webhook-id"]).toBe(received[1].headers["webhook-id"]);
  });

  it("releases a retry due after its window, and a later tick delivers it", async () => {
    const job = await insertJobRow(db, project.id, { url: receiverUrl("flaky/1"), maxRetries: 3 });
    await tickNow();
    const afterFirst = await jobState(job.id);
    expect(afterFirst.job).toMatchObject({ status: "scheduled", attempt: 1, claimedBy: null, lastError: "http_error" });
    const delay = afterFirst.job.runAt.getTime() - afterFirst.attempts[0].firedAt.getTime();
    expect(delay).toBeGreaterThanOrEqual(5_000 - afterFirst.attempts[0].durationMs);
    expect(delay).toBeLessThanOrEqual(10_000);

    await moveRunAt(db, job.id, new Date());
    await tickNow();
    expect((await jobState(job.id)).job).toMatchObject({ status: "succeeded", attempt: 2 });
  });

  it("fails the job once max_retries retries are spent", async () => {
    const job = await insertJobRow(db, project.id, { url: receiverUrl("status/503"), maxRetries: 2 });
    for (let tick = 0; tick < 3; tick++) {
      await moveRunAt(db, job.id, new Date());
      await tickNow();
    }
    const { job: final, attempts } = await jobState(job.id);
    expect(final.status).toBe("failed");
    expect(final.finishedAt).not.toBeNull();
    expect(attempts.map((a) => a.outcome)).toEqual(["retry", "retry", "failed"]);
    await moveRunAt(db, job.id, new Date());
    await tickNow();
    expect(await receivedAt(job.url)).toHaveLength(3);
  });

  it.each([
    ["404", "status/404", 404, "http_error"],
    ["400", "status/400", 400, "http_error"],
    ["a redirect (not followed)", "status/302", 302, "redirect"],
  ])("fails at once, without retry, on %s", async (_name, kind, code, errorClass) => {
    const job = await insertJobRow(db, project.id, { url: receiverUrl(kind), maxRetries: 5 });
    await tickNow();
    const { job: final, attempts } = await jobState(job.id);
    expect(final).toMatchObject({ status: "failed", attempt: 1, lastStatusCode: code, lastError: errorClass });
    expect(attempts).toHaveLength(1);
    expect(attempts[0]).toMatchObject({ outcome: "failed", statusCode: code, errorClass });
  });

  it.each([
    ["408", "status/408"],
    ["429", "status/429"],
    ["500", "status/500"],
    ["503", "status/503"],
  ])("retries %s", async (_name, kind) => {
    const job = await insertJobRow(db, project.id, { url: receiverUrl(kind) });
    await tickNow();
    expect((await jobState(job.id)).job).toMatchObject({ status: "scheduled", attempt: 1 });
  });

  it("waits as long as Retry-After asks, in seconds or as an HTTP date", async () => {
    const seconds = await insertJobRow(db, project.id, { url: receiverUrl("retry-after/120") });
    const date = new Date(Date.now() + 300_000);
    const httpDate = await insertJobRow(db, project.id, {
      url: receiverUrl(`retry-after/${encodeURIComponent(date.toUTCString())}`),
    });
    await tickNow();
    const afterSeconds = await jobState(seconds.id);
    const firedAt = afterSeconds.attempts[0].firedAt.getTime();
    expect(afterSeconds.job.runAt.getTime() - firedAt).toBeGreaterThanOrEqual(120_000);
    expect(afterSeconds.job.runAt.getTime() - firedAt).toBeLessThan(121_000);
    const afterDate = await jobState(httpDate.id);
    // HTTP dates have whole seconds.
    expect(Math.abs(afterDate.job.runAt.getTime() - date.getTime())).toBeLessThan(2_000);
  });

  it("records a timeout and retries when the target is slower than timeout_ms", async () => {
    const job = await insertJobRow(db, project.id, { url: receiverUrl("slow/3000"), timeoutMs: 1000 });
    await tickNow();
    const { job: final, attempts } = await jobState(job.id);
    expect(final).toMatchObject({ status: "scheduled", lastError: "timeout", lastStatusCode: null });
    expect(attempts[0]).toMatchObject({ outcome: "retry", errorClass: "timeout", statusCode: null });
    expect(attempts[0].durationMs).toBeGreaterThanOrEqual(900);
    expect(attempts[0].durationMs).toBeLessThan(2900);
  });

  it("keeps the first 1,024 characters of a response, whether its length is announced or not", async () => {
    const cases = { "large/10": 10, "large/100000": 1024, "chunked/3000": 1024, "chunked/100": 100 };
    const jobs = await Promise.all(
      Object.keys(cases).map((path) => insertJobRow(db, project.id, { url: receiverUrl(path) })),
    );
    await tickNow();
    for (const [index, expected] of Object.values(cases).entries()) {
      const { attempts } = await jobState(jobs[index].id);
      expect(attempts[0]).toMatchObject({ outcome: "succeeded", statusCode: 200 });
      expect(attempts[0].responseExcerpt).toBe("x".repeat(expected));
    }
  });

  it("records an answer holding NUL characters, which Postgres text cannot store, with each NUL as U+FFFD", async () => {
    const job = await insertJobRow(db, project.id, { url: receiverUrl("nul") });
    const healthy = await insertJobRow(db, project.id, { url: receiverUrl("ok") });
    await tickNow();
    const { job: row, attempts } = await jobState(job.id);
    expect(row.status).toBe("succeeded");
    expect(attempts[0]).toMatchObject({ outcome: "succeeded", statusCode: 200, responseExcerpt: "a\uFFFDb\uFFFD" });
    // Written in the same batch, the other job's result is not lost with it.
    expect((await jobState(healthy.id)).job.status).toBe("succeeded");
  });

  it("records a refused connection and retries when nothing listens", async () => {
    const job = await insertJobRow(db, project.id, { url: "http://127.0.0.1:1/unreachable" });
    await tickNow();
    const { job: final, attempts } = await jobState(job.id);
    expect(final).toMatchObject({ status: "scheduled", lastError: "connection_refused" });
    expect(attempts[0]).toMatchObject({ outcome: "retry", errorClass: "connection_refused" });
  });

  it("never touches jobs running under a live lease, claimed by a live run, or finished", async () => {
    const now = new Date();
    const running = await insertJobRow(db, project.id, {
      status: "running",
      attempt: 1,
      lockedUntil: offset(now, 60_000),
    });
    const claimed = await insertJobRow(db, project.id, {
      claimedBy: crypto.randomUUID(),
      lockedUntil: offset(now, 60_000),
    });
    const done = await insertJobRow(db, project.id, { status: "succeeded", attempt: 1, finishedAt: now });
    const canceled = await insertJobRow(db, project.id, { status: "canceled" });
    await tickNow();
    for (const row of [running, claimed, done, canceled]) {
      expect(await receivedAt(row.url)).toHaveLength(0);
      expect((await jobState(row.id)).job).toMatchObject({ status: row.status, attempt: row.attempt });
    }
  });
});

describe("jobs due within seconds", () => {
  it("are fired by the API invocation itself, on their second, without a tick", async () => {
    const url = receiverUrl("ok");
    // A margin past the start lead for the request itself, which claims the job and starts it from here.
    const scheduledAt = dueAfterStartLead(1000);
    const created = await callApi("POST", "/jobs", {
      token,
      json: { url, scheduled_at: scheduledAt.toISOString(), body: "soon" },
    });
    expect(created.status).toBe(201);
    const received = await receivedAt(url);
    expect(received).toHaveLength(1);
    expect(received[0].receivedAt).toBeGreaterThanOrEqual(scheduledAt.getTime());
    expect(received[0].receivedAt - scheduledAt.getTime()).toBeLessThan(ON_TIME_MS);
    expect((await jobState(created.body.id)).job).toMatchObject({ status: "succeeded", claimedBy: null });
  });

  it("fire at once when no time is given", async () => {
    const url = receiverUrl("ok");
    const created = await callApi("POST", "/jobs", { token, json: { url } });
    expect(await receivedAt(url)).toHaveLength(1);
    expect((await jobState(created.body.id)).job.status).toBe("succeeded");
  });

  it("are left to the tick when their timeout would outlast the after-response window", async () => {
    const url = receiverUrl("ok");
    const created = await callApi("POST", "/jobs", { token, json: { url, timeout_ms: 60_000 } });
    expect(await receivedAt(url)).toHaveLength(0);
    expect((await jobState(created.body.id)).job).toMatchObject({ status: "scheduled", claimedBy: null });
    await tickNow();
    expect(await receivedAt(url)).toHaveLength(1);
  });
});
