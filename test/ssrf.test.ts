/**
 * Outbound safety through the real API and the real tick: callback URLs are checked at create,
 * batch and PATCH, and again at every attempt; redirects are never followed. These tests run
 * with ALLOW_LOOPBACK_TARGETS off, as production does, unless they say otherwise.
 */
import { env } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { findJob, listAttempts } from "../src/db/jobs";
import { jobs } from "../src/db/schema";
import {
  callApi,
  insertJobRow,
  later,
  receivedAt,
  receiverUrl,
  runTickUntil,
  type TestBindings,
  tickNow,
  useTestProject,
} from "./support/fliq";
import { LOOPBACK, PUBLIC, REFUSED_EVEN_IN_DEVELOPMENT } from "./support/target-spellings";

const { db, project, token } = await useTestProject();

/** Where Fliq's API listens on a real loopback socket in these tests (vitest.config.ts). */
const fliqOnLoopback = (env as unknown as { WELCOME_EXAMPLE: { fliqUrl: string } }).WELCOME_EXAMPLE.fliqUrl;

/** Production's setting: no loopback targets. */
const production: Partial<TestBindings> = { ALLOW_LOOPBACK_TARGETS: undefined };

const storedJobs = () => db.select().from(jobs).where(eq(jobs.projectId, project.id));

/** Every refused spelling the URL parser accepts (the rest are refused as not URLs at all). */
const REFUSED = [...LOOPBACK, ...REFUSED_EVEN_IN_DEVELOPMENT];

describe("callback URLs at create", () => {
  it.each(REFUSED)("refuses %s as url and as failure_url with 422, and stores nothing", async (target) => {
    const asUrl = await callApi("POST", "/jobs", { token, json: { url: target, delay: "1h" }, env: production });
    expect(asUrl.status).toBe(422);
    expect(asUrl.body.error.code).toBe("validation_failed");
    expect(asUrl.body.error.details.map((d: { path: string }) => d.path)).toContain("url");
    const asFailureUrl = await callApi("POST", "/jobs", {
      token,
      json: { url: "https://example.com/hook", failure_url: target, delay: "1h" },
      env: production,
    });
    expect(asFailureUrl.status).toBe(422);
    expect(asFailureUrl.body.error.details.map((d: { path: string }) => d.path)).toContain("failure_url");
    expect(await storedJobs()).toHaveLength(0);
  });

  it.each(PUBLIC)("accepts the public control %s", async (target) => {
    const response = await callApi("POST", "/jobs", {
      token,
      json: { url: target, failure_url: target, delay: "1h" },
      env: production,
    });
    expect(response.status).toBe(201);
    expect(response.body.url).toBe(target);
  });

  it("says why a target was refused", async () => {
    const response = await callApi("POST", "/jobs", {
      token,
      json: { url: "http://0xa9fea9fe/latest/meta-data/" },
      env: production,
    });
    expect(response.body.error.details).toEqual([
      { path: "url", message: "must not target a link-local (cloud metadata) address (169.254.169.254)" },
    ]);
  });

  it("refuses Fliq's own host (the one the API was called on)", async () => {
    const response = await callApi("POST", "/jobs", { token, json: { url: "https://FLIQ.test./jobs" } });
    expect(response.status).toBe(422);
    expect(response.body.error.details).toEqual([{ path: "url", message: "must not target Fliq itself" }]);
  });

  it("refuses Fliq's own loopback origin with loopback targets allowed, and allows the receivers beside it", async () => {
    // Fliq's API on its real loopback socket (vitest.config.ts), as `npm start` serves it.
    const own = new URL(fliqOnLoopback);
    const create = (url: string) =>
      fetch(`${fliqOnLoopback}/jobs`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ url, delay: "1h" }),
      });
    for (const url of [`${fliqOnLoopback}/jobs`, `http://localhost:${own.port}/jobs`, `http://[::1]:${own.port}/x`]) {
      const response = await create(url);
      expect(response.status, url).toBe(422);
      const body = (await response.json()) as { error: { details: unknown } };
      expect(body.error.details).toEqual([{ path: "url", message: "must not target Fliq itself" }]);
    }
    expect((await create(receiverUrl("ok"))).status).toBe(201);
  });

  it("allows loopback targets only when ALLOW_LOOPBACK_TARGETS is set, and never other private ones", async () => {
    const url = receiverUrl("ok");
    expect((await callApi("POST", "/jobs", { token, json: { url, delay: "1h" }, env: production })).status).toBe(422);
    expect((await callApi("POST", "/jobs", { token, json: { url, delay: "1h" } })).status).toBe(201);
    const privateTarget = await callApi("POST", "/jobs", { token, json: { url: "http://10.0.0.1/", delay: "1h" } });
    expect(privateTarget.status).toBe(422);
  });

  it("refuses a whole batch when one job's target is refused, naming it", async () => {
    const response = await callApi("POST", "/jobs/batch", {
      token,
      json: {
        jobs: [
          { url: "https://example.com/a", delay: "1h" },
          { url: "http://[::ffff:169.254.169.254]/", delay: "1h" },
          { url: "https://example.com/b", delay: "1h" },
        ],
      },
      env: production,
    });
    expect(response.status).toBe(422);
    expect(response.body.error.details.map((d: { path: string }) => d.path)).toEqual(["jobs.1.url"]);
    expect(await storedJobs()).toHaveLength(0);
  });

  it("refuses a PATCH to a refused target, leaving the job as it was", async () => {
    const job = await insertJobRow(db, project.id, { url: "https://example.com/hook", runAt: later(3_600_000) });
    for (const change of [{ url: "http://192.168.0.1/" }, { failure_url: "http://2130706433/" }]) {
      const response = await callApi("PATCH", `/jobs/${job.id}`, { token, json: change, env: production });
      expect(response.status).toBe(422);
    }
    expect(await findJob(db, project.id, job.id)).toEqual(job);
  });
});

describe("callback URLs at every attempt", () => {
  it("fails an attempt to a target refused now, without any network call", async () => {
    // Stored while loopback was allowed; delivered by a tick that no longer allows it.
    const job = await insertJobRow(db, project.id, { url: receiverUrl("ok"), maxRetries: 3 });
    await runTickUntil(later(200), production);
    const [attempt] = await listAttempts(db, job.id);
    expect(attempt).toMatchObject({
      outcome: "failed",
      errorClass: "target_refused",
      statusCode: null,
      durationMs: 0,
    });
    expect(attempt.errorMessage).toContain("loopback");
    // Refused again at every retry, so it is not retried: it fails at once.
    expect(await findJob(db, project.id, job.id)).toMatchObject({ status: "failed", attempt: 1 });
    expect(await receivedAt(job.url)).toHaveLength(0);
  });

  it("fails an attempt to a private address even where loopback is allowed", async () => {
    const job = await insertJobRow(db, project.id, { url: "http://169.254.169.254/latest/meta-data/" });
    await tickNow();
    const [attempt] = await listAttempts(db, job.id);
    expect(attempt).toMatchObject({ errorClass: "target_refused", durationMs: 0 });
    expect(await findJob(db, project.id, job.id)).toMatchObject({ status: "failed" });
  });

  it("does not follow a redirect: the 3xx fails the attempt and its Location is never called", async () => {
    const id = crypto.randomUUID();
    const created = await callApi("POST", "/jobs", {
      token,
      json: { url: `${receiverUrl("redirect/307").replace(/[^/]+$/, id)}`, max_retries: 2 },
    });
    expect(created.status).toBe(201);
    await tickNow();
    const [attempt] = await listAttempts(db, created.body.id);
    expect(attempt).toMatchObject({ statusCode: 307, errorClass: "redirect", outcome: "failed" });
    expect(await receivedAt(created.body.url)).toHaveLength(1);
    const followed = `${new URL(created.body.url).origin}/ok/${id}-followed`;
    expect(await receivedAt(followed)).toHaveLength(0);
  });
});
