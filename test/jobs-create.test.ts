/**
 * Creating jobs beyond the front door: delay, labels, Idempotency-Key (also under 50
 * concurrent repeats) and batches that are accepted or refused whole.
 */
import { count, eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { jobs } from "../src/db/schema";
import { callApi, createProject, receivedAt, receiverUrl, useTestProject } from "./support/fliq";

const { db, project, token } = await useTestProject();

const farAway = "2027-06-12T10:30:00Z";

async function jobCount(): Promise<number> {
  const [row] = await db.select({ n: count() }).from(jobs).where(eq(jobs.projectId, project.id));
  return row.n;
}

describe("delay and labels", () => {
  it.each([
    [90, 90_000],
    ["90", undefined],
    ["45s", 45_000],
    ["30m", 1_800_000],
    ["1h30m", 5_400_000],
    ["2d", 172_800_000],
  ])("schedules delay %j from now", async (delay, expectedMs) => {
    const before = Date.now();
    const response = await callApi("POST", "/jobs", { token, json: { url: receiverUrl("ok"), delay } });
    if (expectedMs === undefined) {
      expect(response.status).toBe(422);
      return;
    }
    expect(response.status).toBe(201);
    const offset = Date.parse(response.body.scheduled_at) - before;
    expect(offset).toBeGreaterThanOrEqual(expectedMs - 1000);
    expect(offset).toBeLessThanOrEqual(expectedMs + 1000);
  });

  it("refuses delay together with scheduled_at, and a malformed delay", async () => {
    for (const json of [
      { url: receiverUrl("ok"), delay: 10, scheduled_at: farAway },
      { url: receiverUrl("ok"), delay: "soon" },
      { url: receiverUrl("ok"), delay: -5 },
      { url: receiverUrl("ok"), delay: 8_638_204_123_967.994 },
      { url: receiverUrl("ok"), delay: "367d" },
    ]) {
      const response = await callApi("POST", "/jobs", { token, json });
      expect(response.status).toBe(422);
      expect(response.body.error.details[0].path).toBe("delay");
    }
    expect(await jobCount()).toBe(0);
  });

  it("stores labels and refuses non-string ones", async () => {
    const labels = { team: "growth", flow: "welcome" };
    const created = await callApi("POST", "/jobs", {
      token,
      json: { url: receiverUrl("ok"), scheduled_at: farAway, labels },
    });
    expect(created.body.labels).toEqual(labels);
    const bad = await callApi("POST", "/jobs", {
      token,
      json: { url: receiverUrl("ok"), scheduled_at: farAway, labels: { n: 1 } },
    });
    expect(bad.status).toBe(422);
  });
});

describe("names and methods that would not survive parsing", () => {
  it("refuses __proto__ as a header or label name instead of dropping it", async () => {
    for (const field of ["headers", "labels"]) {
      const response = await callApi("POST", "/jobs", {
        token,
        headers: { "content-type": "application/json" },
        // Written out by hand: an object literal with __proto__ would not serialize the key.
        rawBody: `{"url":${JSON.stringify(receiverUrl("ok"))},"scheduled_at":"${farAway}","${field}":{"__proto__":"x"}}`,
      });
      expect(response.status).toBe(422);
      expect(response.body.error.details[0].path).toBe(`${field}.__proto__`);
    }
    expect(await jobCount()).toBe(0);
  });

  it("accepts a method in any ASCII case, and refuses one that only uppercases to a method", async () => {
    const lower = await callApi("POST", "/jobs", {
      token,
      json: { url: receiverUrl("ok"), scheduled_at: farAway, http_method: "put" },
    });
    expect(lower.status).toBe(201);
    expect(lower.body.http_method).toBe("PUT");
    const ligature = await callApi("POST", "/jobs", {
      token,
      json: { url: receiverUrl("ok"), scheduled_at: farAway, http_method: "po\ufb06" },
    });
    expect(ligature.status).toBe(422);
    expect(ligature.body.error.details[0].path).toBe("http_method");
    expect(await jobCount()).toBe(1);
  });

  it("serves /jobs/ as /jobs", async () => {
    const listed = await callApi("GET", "/jobs/", { token });
    expect(listed.status).toBe(200);
    expect(Array.isArray(listed.body.jobs)).toBe(true);
  });
});

describe("Idempotency-Key", () => {
  const request = { url: "https://example.com/hook", scheduled_at: farAway, body: "once" };

  it("returns the original job (200) for a repeat instead of creating another", async () => {
    const headers = { "idempotency-key": "signup-42" };
    const first = await callApi("POST", "/jobs", { token, json: request, headers });
    expect(first.status).toBe(201);
    const again = await callApi("POST", "/jobs", { token, json: request, headers });
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);
    expect(await jobCount()).toBe(1);
  });

  it("creates exactly one job under 50 concurrent repeats", async () => {
    const headers = { "idempotency-key": `burst-${crypto.randomUUID()}` };
    const responses = await Promise.all(
      Array.from({ length: 50 }, () => callApi("POST", "/jobs", { token, json: request, headers })),
    );
    expect(new Set(responses.map((r) => r.body.id)).size).toBe(1);
    expect(responses.filter((r) => r.status === 201)).toHaveLength(1);
    expect(responses.filter((r) => r.status === 200)).toHaveLength(49);
    expect(await jobCount()).toBe(1);
  });

  it("fires a due job once, however often its creation is repeated", async () => {
    const url = receiverUrl("ok");
    const headers = { "idempotency-key": "fire-once" };
    await Promise.all(Array.from({ length: 5 }, () => callApi("POST", "/jobs", { token, json: { url }, headers })));
    expect(await receivedAt(url)).toHaveLength(1);
  });

  it("refuses the same key for a different request, and scopes keys per project", async () => {
    const headers = { "idempotency-key": "shared" };
    await callApi("POST", "/jobs", { token, json: request, headers });
    const different = await callApi("POST", "/jobs", { token, json: { ...request, body: "other" }, headers });
    expect(different.status).toBe(409);
    expect(different.body.error.code).toBe("idempotency_key_reused");
    const other = await createProject(db);
    const elsewhere = await callApi("POST", "/jobs", { token: other.token, json: request, headers });
    expect(elsewhere.status).toBe(201);
  });

  it("refuses a malformed key", async () => {
    const response = await callApi("POST", "/jobs", {
      token,
      json: request,
      headers: { "idempotency-key": "x".repeat(256) },
    });
    expect(response.status).toBe(422);
    expect(await jobCount()).toBe(0);
  });
});

describe("POST /jobs/batch", () => {
  it("creates up to 1,000 jobs in one call", async () => {
    const batch = Array.from({ length: 1000 }, (_, i) => ({ url: `https://example.com/${i}`, scheduled_at: farAway }));
    const response = await callApi("POST", "/jobs/batch", { token, json: { jobs: batch } });
    expect(response.status).toBe(201);
    expect(response.body.jobs).toHaveLength(1000);
    expect(response.body.jobs[999].url).toBe("https://example.com/999");
    expect(await jobCount()).toBe(1000);
  });

  it("refuses the whole batch when one job is invalid, naming it, and writes nothing", async () => {
    const batch = [
      { url: "https://example.com/a", scheduled_at: farAway },
      { url: "https://example.com/b", http_method: "GET", body: "x", scheduled_at: farAway },
      { url: "nope" },
    ];
    const response = await callApi("POST", "/jobs/batch", { token, json: { jobs: batch } });
    expect(response.status).toBe(422);
    expect(response.body.error.details.map((d: { path: string }) => d.path)).toContain("jobs.2.url");
    expect(await jobCount()).toBe(0);
    const rules = await callApi("POST", "/jobs/batch", { token, json: { jobs: batch.slice(0, 2) } });
    expect(rules.body.error.details.map((d: { path: string }) => d.path)).toEqual(["jobs.1.body"]);
    expect(await jobCount()).toBe(0);
  });

  it("refuses an empty batch and one over 1,000", async () => {
    const over = Array.from({ length: 1001 }, () => ({ url: "https://example.com", scheduled_at: farAway }));
    for (const batch of [[], over]) {
      expect((await callApi("POST", "/jobs/batch", { token, json: { jobs: batch } })).status).toBe(422);
    }
    expect(await jobCount()).toBe(0);
  });

  it("fires the batch's due jobs from the request itself", async () => {
    const urls = [receiverUrl("ok"), receiverUrl("ok")];
    await callApi("POST", "/jobs/batch", { token, json: { jobs: urls.map((url) => ({ url })) } });
    for (const url of urls) expect(await receivedAt(url)).toHaveLength(1);
  });
});
