/**
 * Abuse limits: requests per token (the Workers Rate Limiting binding; here a small one of 3
 * requests a minute from vitest.config.ts) and the cap on a project's waiting jobs.
 */
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { jobs } from "../src/db/schema";
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
