/**
 * Tenancy: a project's token never reaches another project's jobs. On every endpoint another
 * project's job id answers 404 (never 403, never data), bulk actions and lists skip it, and
 * nothing about it changes.
 */
import { eq } from "drizzle-orm";
import { beforeEach, describe, expect, it } from "vitest";
import { apiTokens, jobAttempts, jobs } from "../src/db/schema";
import { callApi, createProject, insertJobRow, later, receiverUrl, useTestProject } from "./support/fliq";

const { db, token } = await useTestProject(["read", "write", "admin"]);
const other = await createProject(db);

let scheduled: Awaited<ReturnType<typeof insertJobRow>>;
let failed: Awaited<ReturnType<typeof insertJobRow>>;

/** Everything stored about the other project's jobs, to compare before and after. */
async function otherProjectState() {
  const rows = await db.select().from(jobs).where(eq(jobs.projectId, other.project.id)).orderBy(jobs.id);
  const attempts = await db.select().from(jobAttempts).orderBy(jobAttempts.id);
  return { rows, attempts };
}

beforeEach(async () => {
  scheduled = await insertJobRow(db, other.project.id, {
    url: receiverUrl("ok"),
    runAt: later(3_600_000),
    scheduledAt: later(3_600_000),
    labels: { team: "billing" },
    idempotencyKey: "shared-key",
    idempotencyFingerprint: "x",
  });
  failed = await insertJobRow(db, other.project.id, {
    status: "failed",
    attempt: 1,
    finishedAt: new Date(),
    labels: { team: "billing" },
  });
  await db.insert(jobAttempts).values({
    jobId: failed.id,
    attempt: 1,
    plannedAt: new Date(),
    firedAt: new Date(),
    latenessMs: 0,
    durationMs: 5,
    statusCode: 500,
    outcome: "failed",
  });
});

const ENDPOINTS: Array<[string, string, (id: string) => string, unknown?]> = [
  ["read", "GET", (id) => `/jobs/${id}`],
  ["attempts", "GET", (id) => `/jobs/${id}/attempts`],
  ["patch", "PATCH", (id) => `/jobs/${id}`, { body: "taken over", url: "https://example.com/mine" }],
  ["cancel (DELETE)", "DELETE", (id) => `/jobs/${id}`],
  ["cancel (POST)", "POST", (id) => `/jobs/${id}/cancel`],
  ["run now", "POST", (id) => `/jobs/${id}/run`],
  ["replay", "POST", (id) => `/jobs/${id}/replay`],
];

describe("another project's job", () => {
  it.each(ENDPOINTS)("answers 404 on %s and changes nothing", async (_name, method, path, json) => {
    const before = await otherProjectState();
    for (const job of [scheduled, failed]) {
      const response = await callApi(method, path(job.id), { token, json });
      expect(response.status).toBe(404);
      expect(response.body.error).toMatchObject({ code: "not_found", message: "Job was not found." });
      expect(JSON.stringify(response.body)).not.toContain(job.url);
    }
    expect(await otherProjectState()).toEqual(before);
  });

  it("answers the same 404 as a job that does not exist", async () => {
    const missing = await callApi("GET", `/jobs/${crypto.randomUUID()}`, { token });
    const foreign = await callApi("GET", `/jobs/${scheduled.id}`, { token });
    expect(foreign).toMatchObject({ status: missing.status, body: missing.body });
  });

  it("is skipped by bulk cancel and bulk replay, by ids and by filter", async () => {
    const before = await otherProjectState();
    const requests = [
      { ids: [scheduled.id, failed.id] },
      { filter: { labels: { team: "billing" } } },
      { filter: { status: ["scheduled", "failed"] } },
      { filter: { url_prefix: receiverUrl("ok").split("/ok/")[0] } },
    ];
    for (const action of ["cancel", "replay"]) {
      for (const json of requests) {
        const response = await callApi("POST", `/jobs/${action}`, { token, json });
        expect(response.status).toBe(200);
        const nothing = { count: 0, ids: [], has_more: false };
        expect(response.body).toEqual(action === "cancel" ? { ...nothing, running_ids: [] } : nothing);
      }
    }
    expect(await otherProjectState()).toEqual(before);
  });

  it("never appears in lists, whatever the filter", async () => {
    for (const query of ["", "?status=scheduled", "?status=failed", "?label=team:billing", "?order=soonest"]) {
      const response = await callApi("GET", `/jobs${query}`, { token });
      expect(response.status).toBe(200);
      expect(response.body.jobs).toEqual([]);
    }
  });

  it("is not returned by a create or batch under the same Idempotency-Key; a new job is made", async () => {
    const before = await otherProjectState();
    const created = await callApi("POST", "/jobs", {
      token,
      json: { url: "https://example.com/mine", delay: "1h" },
      headers: { "idempotency-key": "shared-key" },
    });
    expect(created.status).toBe(201);
    expect(created.body.id).not.toBe(scheduled.id);
    const batch = await callApi("POST", "/jobs/batch", {
      token,
      json: { jobs: [{ url: "https://example.com/mine", delay: "1h" }] },
    });
    expect(batch.status).toBe(201);
    expect(batch.body.jobs.map((job: { id: string }) => job.id)).not.toContain(scheduled.id);
    expect(await otherProjectState()).toEqual(before);
  });

  it("belongs to a project whose tokens this admin token cannot list or revoke", async () => {
    const list = await callApi("GET", "/tokens", { token });
    expect(JSON.stringify(list.body)).not.toContain(other.token.slice(0, 16));
    const [otherToken] = await db.select().from(apiTokens).where(eq(apiTokens.projectId, other.project.id));
    expect((await callApi("DELETE", `/tokens/${otherToken.id}`, { token })).status).toBe(404);
    expect((await callApi("GET", "/jobs", { token: other.token })).status).toBe(200);
  });
});
