/**
 * success_url: when an attempt succeeds, Fliq calls it, signed, with the attempt's outcome:
 * status, response headers and the response body up to JOB_LIMITS.successBodyMaxBytes.
 */
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { findJob } from "../src/db/jobs";
import { JOB_LIMITS } from "../src/jobs/limits";
import { REDACTED } from "../src/jobs/redaction";
import { callDashboard, openSession, textOf } from "./support/dashboard";
import { callApi, insertJobRow, receivedAt, receiverUrl, tickNow, useTestProject } from "./support/fliq";

const { db, project, token, signingSecret } = await useTestProject();

interface SuccessNotice {
  type: string;
  job_id: string;
  url: string;
  attempt: number;
  status_code: number;
  headers: Record<string, string>;
  body: string;
  body_truncated: boolean;
  succeeded_at: string;
  labels: Record<string, string>;
}

/** The one notification a success_url received, its signature verified. */
async function noticeAt(successUrl: string): Promise<SuccessNotice> {
  const received = await receivedAt(successUrl);
  expect(received).toHaveLength(1);
  const [notice] = received;
  expect(notice.headers["content-type"]).toBe("application/json");
  return new Webhook(signingSecret).verify(notice.body, notice.headers) as SuccessNotice;
}

describe("success_url through the API", () => {
  it("is stored, shown, and changed by PATCH", async () => {
    const successUrl = receiverUrl("ok");
    const created = await callApi("POST", "/jobs", {
      token,
      json: { url: receiverUrl("ok"), delay: "1h", success_url: successUrl },
    });
    expect(created.status).toBe(201);
    expect(created.body.success_url).toBe(successUrl);
    const removed = await callApi("PATCH", `/jobs/${created.body.id}`, { token, json: { success_url: null } });
    expect(removed.body.success_url).toBeNull();
  });

  it.each([
    ["a private address", "http://10.0.0.7/done"],
    ["not a URL", "done"],
    ["another scheme", "ftp://example.com/done"],
  ])("refuses %s as success_url with 422 naming it, and stores nothing", async (_what, successUrl) => {
    const answer = await callApi("POST", "/jobs", {
      token,
      json: { url: "https://example.com/hook", delay: "1h", success_url: successUrl },
    });
    expect(answer.status).toBe(422);
    expect(answer.body.error.details.map((d: { path: string }) => d.path)).toEqual(["success_url"]);
    expect((await callApi("GET", "/jobs", { token })).body.jobs).toEqual([]);
  });
});

describe("success notifications", () => {
  it("tell the success_url the attempt's status, headers and body, signed, from the tick that recorded it", async () => {
    const url = receiverUrl("status/201");
    const successUrl = receiverUrl("ok");
    const job = await insertJobRow(db, project.id, { url, successUrl, labels: { flow: "invoice" } });
    await tickNow();
    const stored = await findJob(db, project.id, job.id);
    expect(stored?.status).toBe("succeeded");

    const notice = await noticeAt(successUrl);
    expect(notice).toMatchObject({
      type: "job.succeeded",
      job_id: job.id,
      url,
      attempt: 1,
      status_code: 201,
      body_truncated: false,
      labels: { flow: "invoice" },
    });
    expect(notice.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(notice.body)).toMatchObject({ path: new URL(url).pathname, seen: 1 });
    expect(new Date(notice.succeeded_at)).toEqual(stored?.finishedAt);

    // It is a job of its own, labelled, and fired at once by the run that recorded the success.
    const list = await callApi("GET", "/jobs?label=fliq:success-notification", { token });
    expect(list.body.jobs).toHaveLength(1);
    const attempts = (await callApi("GET", `/jobs/${list.body.jobs[0].id}`, { token })).body.attempts;
    expect(attempts).toHaveLength(1);
    expect(attempts[0].lateness_ms).toBeLessThan(1_000);
  });

  it(`carry the body up to ${JOB_LIMITS.successBodyMaxBytes} bytes, and say when it was cut`, async () => {
    const whole = receiverUrl("ok");
    const exact = await insertJobRow(db, project.id, {
      url: receiverUrl(`large/${JOB_LIMITS.successBodyMaxBytes}`),
      successUrl: whole,
    });
    const cut = receiverUrl("ok");
    await insertJobRow(db, project.id, {
      url: receiverUrl(`chunked/${JOB_LIMITS.successBodyMaxBytes * 4}`),
      successUrl: cut,
    });
    await tickNow();
    const wholeNotice = await noticeAt(whole);
    expect(wholeNotice).toMatchObject({ job_id: exact.id, body_truncated: false });
    expect(wholeNotice.body).toBe("x".repeat(JOB_LIMITS.successBodyMaxBytes));
    const cutNotice = await noticeAt(cut);
    expect(cutNotice.body_truncated).toBe(true);
    expect(cutNotice.body).toBe("x".repeat(JOB_LIMITS.successBodyMaxBytes));
  });

  it("scrub the job's secret header values a target echoes back", async () => {
    const successUrl = receiverUrl("ok");
    const secret = "sk_live_4f9a8b7c6d5e4f3a2b1c";
    await insertJobRow(db, project.id, {
      url: receiverUrl("echo/200"),
      headers: { Authorization: `Bearer ${secret}` },
      successUrl,
    });
    await tickNow();
    const notice = await noticeAt(successUrl);
    expect(notice.body).not.toContain(secret);
    expect(JSON.parse(notice.body).authorization).toBe(REDACTED);
  });

  it("go out from the API invocation that fires the job", async () => {
    const successUrl = receiverUrl("ok");
    const created = await callApi("POST", "/jobs", {
      token,
      json: { url: receiverUrl("ok"), success_url: successUrl },
    });
    expect(created.status).toBe(201);
    expect((await callApi("GET", `/jobs/${created.body.id}`, { token })).body.status).toBe("succeeded");
    expect(await noticeAt(successUrl)).toMatchObject({ job_id: created.body.id, status_code: 200 });
  });

  it("are not sent for an attempt that fails or is retried", async () => {
    const successUrl = receiverUrl("ok");
    await insertJobRow(db, project.id, { url: receiverUrl("status/404"), successUrl });
    await insertJobRow(db, project.id, { url: receiverUrl("status/503"), successUrl });
    await tickNow();
    expect(await receivedAt(successUrl)).toHaveLength(0);
  });

  it("show on the job page", async () => {
    const { cookie } = await openSession(token);
    const successUrl = receiverUrl("ok");
    const job = await insertJobRow(db, project.id, { status: "succeeded", successUrl });
    const page = await callDashboard("GET", `/dashboard/jobs/${job.id}`, { cookie });
    expect(textOf(page.html)).toContain(`On success ${successUrl}`);
  });
});
