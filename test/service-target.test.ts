/**
 * service:// targets: a job may call a Worker that has no public URL, through a service
 * binding on Fliq listed in CALLBACK_SERVICES. vitest.config.ts binds test/fixtures/
 * callback-service.js as WELCOME_WORKER and lists it as `welcome`; that Worker answers with
 * what it received, so each attempt's response excerpt shows what arrived.
 */
import { eq } from "drizzle-orm";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { findJob, listAttempts } from "../src/db/jobs";
import { jobs } from "../src/db/schema";
import { readSettings } from "../src/settings";
import {
  callApi,
  insertJobRow,
  later,
  runTickUntil,
  type TestBindings,
  testEnv,
  tickNow,
  useTestProject,
} from "./support/fliq";

const { db, project, token, signingSecret } = await useTestProject();

/** Production's setting: no loopback targets (which service targets do not need). */
const production: Partial<TestBindings> = { ALLOW_LOOPBACK_TARGETS: undefined };
/** A deployment that no longer lists any service. */
const noServices: Partial<TestBindings> = { CALLBACK_SERVICES: undefined };

const storedJobs = () => db.select().from(jobs).where(eq(jobs.projectId, project.id));

interface Echo {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** What the service Worker received on the job's latest attempt (it answers with exactly that). */
async function echoOf(jobId: string): Promise<Echo> {
  const attempts = await listAttempts(db, jobId);
  const excerpt = attempts.at(-1)?.responseExcerpt;
  if (!excerpt) throw new Error(`job ${jobId} has no response excerpt: ${JSON.stringify(attempts)}`);
  return JSON.parse(excerpt);
}

describe("delivery through a service binding", () => {
  it("delivers a job created for now through the binding: path, query, headers, body and a valid signature", async () => {
    const body = JSON.stringify({ email: "user@example.com" });
    const created = await callApi("POST", "/jobs", {
      token,
      json: {
        url: "service://welcome/api/send-welcome?source=signup",
        headers: { "Content-Type": "application/json", "X-Tenant": "acme" },
        body,
      },
      env: production,
    });
    expect(created.status).toBe(201);
    expect(created.body.url).toBe("service://welcome/api/send-welcome?source=signup");

    // Fired by the API invocation itself, after its response.
    const job = await findJob(db, project.id, created.body.id);
    expect(job).toMatchObject({ status: "succeeded", attempt: 1, lastStatusCode: 200 });
    const [attempt] = await listAttempts(db, created.body.id);
    expect(attempt).toMatchObject({ outcome: "succeeded", statusCode: 200, errorClass: null });

    const received = await echoOf(created.body.id);
    expect(received).toMatchObject({
      method: "POST",
      url: "https://welcome/api/send-welcome?source=signup",
      body,
      headers: {
        "content-type": "application/json",
        "x-tenant": "acme",
        "fliq-job-id": created.body.id,
        "fliq-attempt": "1",
      },
    });
    const signed = {
      "webhook-id": received.headers["webhook-id"],
      "webhook-timestamp": received.headers["webhook-timestamp"],
      "webhook-signature": received.headers["webhook-signature"],
    };
    expect(new Webhook(signingSecret).verify(received.body, signed)).toEqual({ email: "user@example.com" });
    expect(() => new Webhook(signingSecret).verify(`${received.body} `, signed)).toThrow();
  });

  it("delivers a scheduled job from the tick, with the method and a name in any case", async () => {
    const job = await insertJobRow(db, project.id, { url: "service://WELCOME/reminders/7", httpMethod: "PUT" });
    await runTickUntil(later(200), production);
    expect(await findJob(db, project.id, job.id)).toMatchObject({ status: "succeeded", attempt: 1 });
    expect(await echoOf(job.id)).toMatchObject({ method: "PUT", url: "https://welcome/reminders/7", body: "" });
  });

  it("classifies the service's answers like any target's: a 503 is retried, a 404 fails", async () => {
    const unavailable = await insertJobRow(db, project.id, { url: "service://welcome/status/503", maxRetries: 2 });
    const missing = await insertJobRow(db, project.id, { url: "service://welcome/status/404", maxRetries: 2 });
    await tickNow();
    expect(await listAttempts(db, unavailable.id)).toMatchObject([{ statusCode: 503, outcome: "retry" }]);
    expect(await findJob(db, project.id, unavailable.id)).toMatchObject({ status: "scheduled", attempt: 1 });
    expect(await listAttempts(db, missing.id)).toMatchObject([{ statusCode: 404, outcome: "failed" }]);
    expect(await findJob(db, project.id, missing.id)).toMatchObject({ status: "failed" });
  });

  it("times out a service that answers too late", async () => {
    const job = await insertJobRow(db, project.id, {
      url: "service://welcome/slow/5000",
      timeoutMs: 1_000,
      maxRetries: 0,
    });
    await tickNow();
    const [attempt] = await listAttempts(db, job.id);
    expect(attempt).toMatchObject({ errorClass: "timeout", outcome: "failed", statusCode: null });
    expect(attempt.durationMs).toBeGreaterThanOrEqual(1_000);
  });

  it("tells a service:// failure_url about a failed job", async () => {
    const job = await insertJobRow(db, project.id, {
      url: "service://welcome/status/410",
      failureUrl: "service://welcome/failed",
      maxRetries: 0,
    });
    await tickNow();
    expect(await findJob(db, project.id, job.id)).toMatchObject({ status: "failed" });
    await tickNow();
    const [notification] = await storedJobs().then((rows) => rows.filter((row) => row.id !== job.id));
    expect(notification).toMatchObject({ url: "service://welcome/failed", status: "succeeded" });
    const received = await echoOf(notification.id);
    expect(received.url).toBe("https://welcome/failed");
    expect(JSON.parse(received.body)).toMatchObject({ type: "job.failed", job_id: job.id, last_status_code: 410 });
  });
});

describe("service names that are not configured", () => {
  it("refuses an unknown service at create with 422, naming the configured ones, and stores nothing", async () => {
    const response = await callApi("POST", "/jobs", { token, json: { url: "service://billing/charge", delay: "1h" } });
    expect(response.status).toBe(422);
    expect(response.body.error.details).toEqual([
      {
        path: "url",
        message: 'must name a service configured in CALLBACK_SERVICES; "billing" is not one (configured: welcome)',
      },
    ]);
    const asFailureUrl = await callApi("POST", "/jobs", {
      token,
      json: { url: "service://welcome/a", failure_url: "service://billing/failed", delay: "1h" },
    });
    expect(asFailureUrl.status).toBe(422);
    expect(asFailureUrl.body.error.details.map((d: { path: string }) => d.path)).toEqual(["failure_url"]);
    expect(await storedJobs()).toHaveLength(0);
  });

  it("refuses every service URL when none is configured", async () => {
    const response = await callApi("POST", "/jobs", {
      token,
      json: { url: "service://welcome/a", delay: "1h" },
      env: noServices,
    });
    expect(response.status).toBe(422);
    expect(response.body.error.details[0].message).toContain("none is configured");
    expect(await storedJobs()).toHaveLength(0);
  });

  it("refuses an unknown service in a batch and in a PATCH, changing nothing", async () => {
    const batch = await callApi("POST", "/jobs/batch", {
      token,
      json: {
        jobs: [
          { url: "service://welcome/a", delay: "1h" },
          { url: "service://nope/b", delay: "1h" },
        ],
      },
    });
    expect(batch.status).toBe(422);
    expect(batch.body.error.details.map((d: { path: string }) => d.path)).toEqual(["jobs.1.url"]);
    expect(await storedJobs()).toHaveLength(0);

    const job = await insertJobRow(db, project.id, { url: "service://welcome/a", runAt: later(3_600_000) });
    const patch = await callApi("PATCH", `/jobs/${job.id}`, { token, json: { url: "service://nope/a" } });
    expect(patch.status).toBe(422);
    expect(await findJob(db, project.id, job.id)).toEqual(job);
  });

  it.each([
    // Fliq's own bindings, by name in any case: only CALLBACK_SERVICES names are reachable.
    "service://RATE_LIMITER/",
    "service://rate_limiter/",
    "service://welcome_worker/",
    "service://WELCOME_WORKER/",
    "service://shardrunner/deliver",
    "service://self/jobs",
    "service://fliq/jobs",
    "service://database_url/",
    "service://we%6Ccome/",
  ])("cannot reach %s, which is not a configured service name", async (url) => {
    const response = await callApi("POST", "/jobs", { token, json: { url, delay: "1h" } });
    expect(response.status).toBe(422);
    expect(response.body.error.details[0].message).toMatch(/^must name a service configured in CALLBACK_SERVICES/);
  });

  it("fails an attempt whose service is no longer configured, without retrying it", async () => {
    const job = await insertJobRow(db, project.id, { url: "service://welcome/api/send-welcome", maxRetries: 3 });
    await runTickUntil(later(200), noServices);
    const [attempt] = await listAttempts(db, job.id);
    expect(attempt).toMatchObject({
      outcome: "failed",
      errorClass: "target_refused",
      statusCode: null,
      responseExcerpt: null,
      durationMs: 0,
    });
    expect(attempt.errorMessage).toContain('"welcome" is not one (none is configured)');
    expect(await findJob(db, project.id, job.id)).toMatchObject({ status: "failed", attempt: 1 });
  });
});

describe("CALLBACK_SERVICES", () => {
  const settingsWith = (value: string) => () => readSettings({ ...testEnv, CALLBACK_SERVICES: value });

  it("maps each name to its service binding", () => {
    const services = readSettings({
      ...testEnv,
      CALLBACK_SERVICES: " welcome = WELCOME_WORKER , other=WELCOME_WORKER,",
    }).callbackServices;
    expect([...services.keys()]).toEqual(["welcome", "other"]);
    expect(typeof services.get("welcome")?.fetch).toBe("function");
    expect(readSettings({ ...testEnv, CALLBACK_SERVICES: "" }).callbackServices.size).toBe(0);
  });

  it("refuses to name one of Fliq's own bindings", () => {
    expect(settingsWith("limiter=RATE_LIMITER")).toThrow("RATE_LIMITER is one of Fliq's own bindings");
    expect(settingsWith("db=DATABASE_URL")).toThrow("DATABASE_URL is one of Fliq's own bindings");
    expect(settingsWith("admin=ADMIN_TOKEN")).toThrow("ADMIN_TOKEN is one of Fliq's own bindings");
  });

  it("refuses a binding that is missing or is not a service binding", () => {
    expect(settingsWith("billing=BILLING")).toThrow('add [[services]] binding = "BILLING" to wrangler.toml');
    expect(settingsWith("receiver=RECEIVER_URL")).toThrow("RECEIVER_URL, which is not a service binding");
  });

  it("refuses malformed entries and repeated names", () => {
    for (const value of ["welcome", "welcome=", "=WELCOME_WORKER", "Welcome=WELCOME_WORKER", "a.b=WELCOME_WORKER"]) {
      expect(settingsWith(value)).toThrow("is not name=BINDING");
    }
    expect(settingsWith("welcome=WELCOME_WORKER,welcome=WELCOME_WORKER")).toThrow('"welcome" is listed twice');
  });
});
