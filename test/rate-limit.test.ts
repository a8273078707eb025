/**
 * Abuse limits: requests per token and failed authentications per client address (the Workers
 * Rate Limiting binding; here a small one of 3 a minute from vitest.config.ts) and the cap on
 * a project's waiting jobs.
 */
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { clientAddressKey } from "../src/actions/caller";
import { jobs } from "../src/db/schema";
import { callDashboard, textOf } from "./support/dashboard";
import {
  callApi,
  createProject,
  insertJobRow,
  later,
  type TestBindings,
  testEnv,
  useTestProject,
} from "./support/fliq";

const { db, project, token } = await useTestProject();

describe("the per-token rate limit", () => {
  const small: Partial<TestBindings> = { RATE_LIMITER: testEnv.SMALL_RATE_LIMITER };

  it("answers 429 rate_limited with Retry-After once a token spends its limit, and spares other tokens", async () => {
    const { token: busy } = await createProject(db);
    const { token: quiet } = await createProject(db);
    for (let i = 0; i < 3; i++) {
      expect((await callApi("GET", "/jobs", { token: busy, env: small })).status).toBe(200);
    }
    const limited = await callApi("POST", "/jobs", {
      token: busy,
      json: { url: "https://example.com/hook", delay: "1h" },
      env: small,
    });
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe("rate_limited");
    expect(limited.headers.get("retry-after")).toBe("60");
    expect((await callApi("GET", "/jobs", { token: quiet, env: small })).status).toBe(200);
  });

  it("does not count requests whose token fails (they answer 401, not 429)", async () => {
    const { token: fresh } = await createProject(db);
    for (let i = 0; i < 5; i++) {
      expect((await callApi("GET", "/jobs", { token: `${fresh.slice(0, -1)}x`, env: small })).status).toBe(401);
    }
    expect((await callApi("GET", "/jobs", { token: fresh, env: small })).status).toBe(200);
  });
});

describe("the cap on scheduled jobs per project", () => {
  const capped: Partial<TestBindings> = { MAX_SCHEDULED_JOBS_PER_PROJECT: "3" };
  const job = { url: "https://example.com/hook", delay: "1h" };
  const waiting = async () => (await db.select().from(jobs).where(eq(jobs.projectId, project.id))).length;

  it("creates up to the cap, then answers 429 scheduled_jobs_limit and stores nothing", async () => {
    await insertJobRow(db, project.id, { runAt: later(3_600_000) });
    // Finished jobs do not count.
    await insertJobRow(db, project.id, { status: "succeeded", finishedAt: new Date() });
    expect((await callApi("POST", "/jobs", { token, json: job, env: capped })).status).toBe(201);
    const tooMany = await callApi("POST", "/jobs/batch", { token, json: { jobs: [job, job] }, env: capped });
    expect(tooMany.status).toBe(429);
    expect(tooMany.body.error.code).toBe("scheduled_jobs_limit");
    expect(tooMany.body.error.message).toContain("at most 3");
    expect(await waiting()).toBe(3);
    expect((await callApi("POST", "/jobs/batch", { token, json: { jobs: [job] }, env: capped })).status).toBe(201);
    const full = await callApi("POST", "/jobs", { token, json: job, env: capped });
    expect(full.status).toBe(429);
    expect(await waiting()).toBe(4);
  });
});

describe("the limit on failed authentications per client address", () => {
  // The small limiter: a client address may fail 3 times a minute.
  const small: Partial<TestBindings> = { AUTH_FAILURE_LIMITER: testEnv.SMALL_RATE_LIMITER };
  let addresses = 0;
  /** A client address no other test has used, so each test starts with a clean count. */
  const freshAddress = () => `198.51.100.${++addresses}`;
  const from = (address: string) => ({ "cf-connecting-ip": address });
  const wrongToken = `fliq_sk_${"A".repeat(43)}`;

  it("answers 429 too_many_auth_failures with Retry-After once an address has failed too often", async () => {
    const address = freshAddress();
    for (let i = 0; i < 3; i++) {
      const refused = await callApi("GET", "/jobs", { token: wrongToken, headers: from(address), env: small });
      expect(refused.status).toBe(401);
    }
    // Missing and malformed tokens are failures like unknown ones.
    const limited = await callApi("GET", "/jobs", { headers: from(address), env: small });
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe("60");
    expect(limited.body).toEqual({
      error: {
        code: "too_many_auth_failures",
        message: "Too many failed authentications from your address; try again in 60 seconds.",
        details: [],
      },
    });
    // Other addresses are not limited by it.
    expect(
      (await callApi("GET", "/jobs", { token: wrongToken, headers: from(freshAddress()), env: small })).status,
    ).toBe(401);
  });

  it("never slows a valid token, even from an address over its limit, and never counts its requests", async () => {
    const address = freshAddress();
    for (let i = 0; i < 4; i++)
      await callApi("GET", "/jobs", { token: "nonsense", headers: from(address), env: small });
    expect((await callApi("GET", "/jobs", { token: "nonsense", headers: from(address), env: small })).status).toBe(429);
    expect((await callApi("GET", "/jobs", { token, headers: from(address), env: small })).status).toBe(200);

    const busy = freshAddress();
    for (let i = 0; i < 5; i++) {
      expect((await callApi("GET", "/jobs", { token, headers: from(busy), env: small })).status).toBe(200);
    }
    expect((await callApi("GET", "/jobs", { token: wrongToken, headers: from(busy), env: small })).status).toBe(401);
  });

  it("counts an IPv6 client by its /64, so walking through its addresses gains nothing", async () => {
    for (const address of ["2001:db8:7:1::1", "2001:db8:7:1::2", "2001:DB8:7:1:0:0:0:3"]) {
      await callApi("GET", "/jobs", { token: wrongToken, headers: from(address), env: small });
    }
    const sameNetwork = await callApi("GET", "/jobs", {
      token: wrongToken,
      headers: from("2001:db8:7:1:ffff::9"),
      env: small,
    });
    expect(sameNetwork.status).toBe(429);
    const nextNetwork = await callApi("GET", "/jobs", {
      token: wrongToken,
      headers: from("2001:db8:7:2::1"),
      env: small,
    });
    expect(nextNetwork.status).toBe(401);
  });

  it("limits guesses of ADMIN_TOKEN the same way", async () => {
    const admin: Partial<TestBindings> = { ...small, ADMIN_TOKEN: "the-admin-secret-for-this-test" };
    const address = freshAddress();
    for (let i = 0; i < 3; i++) {
      expect(
        (await callApi("GET", "/admin/projects", { token: "guess", headers: from(address), env: admin })).status,
      ).toBe(401);
    }
    const limited = await callApi("GET", "/admin/projects", { token: "guess", headers: from(address), env: admin });
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe("too_many_auth_failures");
    const right = await callApi("GET", "/admin/projects", {
      token: "the-admin-secret-for-this-test",
      headers: from(address),
      env: admin,
    });
    expect(right.status).toBe(200);
  });

  it("limits failed dashboard sign-ins with a 429 page, and still signs a valid token in", async () => {
    const address = freshAddress();
    const signIn = (tokenTried: string) =>
      callDashboard("POST", "/dashboard/login", { form: { token: tokenTried }, headers: from(address), env: small });
    for (let i = 0; i < 3; i++) expect((await signIn(wrongToken)).status).toBe(401);
    const limited = await signIn(wrongToken);
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe("60");
    expect(limited.headers.get("set-cookie")).toBeNull();
    expect(textOf(limited.html)).toContain("Too many failed sign-ins from your address; try again in 60 seconds.");
    const valid = await signIn(token);
    expect(valid.status).toBe(303);
    expect(valid.headers.get("set-cookie")).toMatch(/^fliq_session=[0-9a-f]{64};/);
  });
});

describe("the client address failures are counted by", () => {
  const request = (address?: string) =>
    new Request("https://fliq.test/jobs", { headers: address ? { "cf-connecting-ip": address } : {} });

  it("is CF-Connecting-IP, an IPv6 address's /64, or one shared key without it (X-Forwarded-For is never trusted)", () => {
    expect(clientAddressKey(request("203.0.113.7"))).toBe("203.0.113.7");
    expect(clientAddressKey(request("2001:DB8:a:b:c:d:e:f"))).toBe("2001:db8:a:b::/64");
    expect(clientAddressKey(request("2001:db8::1"))).toBe("2001:db8:0:0::/64");
    expect(clientAddressKey(request())).toBe("local");
    const forwarded = new Request("https://fliq.test/jobs", { headers: { "x-forwarded-for": "203.0.113.8" } });
    expect(clientAddressKey(forwarded)).toBe("local");
  });
});
