/**
 * Every limit on a job, exactly at its boundary: the largest accepted value is accepted,
 * one more is refused with the one error shape, and a refused request writes nothing.
 */
import { count, eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { jobs } from "../src/db/schema";
import { JOB_LIMITS } from "../src/jobs/limits";
import { callApi, useTestProject } from "./support/fliq";

const { db, project, token } = await useTestProject();

// Far enough ahead that nothing is fired during the test.
const base = { url: "https://example.com/hook", scheduled_at: "2027-06-12T10:30:00Z" };
const headers = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`X-H${i}`, "v"]));
const labels = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, "v"]));
const urlOfLength = (n: number) => `https://example.com/${"a".repeat(n - "https://example.com/".length)}`;
const DAY = 24 * 60 * 60_000;

async function jobCount(): Promise<number> {
  const [row] = await db.select({ n: count() }).from(jobs).where(eq(jobs.projectId, project.id));
  return row.n;
}

const boundaries: Array<[string, Record<string, unknown>, Record<string, unknown>, string]> = [
  [
    "url length",
    { url: urlOfLength(JOB_LIMITS.urlMaxLength) },
    { url: urlOfLength(JOB_LIMITS.urlMaxLength + 1) },
    "url",
  ],
  ["header count", { headers: headers(50) }, { headers: headers(51) }, "headers"],
  [
    "header value size",
    { headers: { "X-A": "v".repeat(8192) } },
    { headers: { "X-A": "v".repeat(8193) } },
    "headers.X-A",
  ],
  ["max_retries", { max_retries: 20 }, { max_retries: 21 }, "max_retries"],
  ["timeout_ms (high)", { timeout_ms: 120_000 }, { timeout_ms: 120_001 }, "timeout_ms"],
  ["timeout_ms (low)", { timeout_ms: 1_000 }, { timeout_ms: 999 }, "timeout_ms"],
  ["label count", { labels: labels(20) }, { labels: labels(21) }, "labels"],
  [
    "retry_backoff delay",
    { retry_backoff: { initial_delay_ms: 1000 } },
    { retry_backoff: { initial_delay_ms: 999 } },
    "retry_backoff.initial_delay_ms",
  ],
];

describe("limits at their boundaries", () => {
  it.each(boundaries)("%s: the limit is accepted, one past it is refused", async (_name, atLimit, overLimit, path) => {
    const ok = await callApi("POST", "/jobs", { token, json: { ...base, ...atLimit } });
    expect(ok.status).toBe(201);
    const before = await jobCount();
    const refused = await callApi("POST", "/jobs", { token, json: { ...base, ...overLimit } });
    expect(refused.status).toBe(422);
    expect(refused.body.error.code).toBe("validation_failed");
    expect(refused.body.error.details.map((d: { path: string }) => d.path)).toContain(path);
    expect(await jobCount()).toBe(before);
  });

  it("scheduled_at: a minute inside 366 days is accepted, a minute past it refused", async () => {
    const inside = new Date(Date.now() + JOB_LIMITS.scheduleHorizonMs - 60_000).toISOString();
    const outside = new Date(Date.now() + JOB_LIMITS.scheduleHorizonMs + 60_000).toISOString();
    expect((await callApi("POST", "/jobs", { token, json: { ...base, scheduled_at: inside } })).status).toBe(201);
    const refused = await callApi("POST", "/jobs", { token, json: { ...base, scheduled_at: outside } });
    expect(refused.status).toBe(422);
    expect(refused.body.error.details[0].path).toBe("scheduled_at");
    expect(366 * DAY).toBe(JOB_LIMITS.scheduleHorizonMs);
    const longAgo = new Date(Date.now() - JOB_LIMITS.scheduleHorizonMs - 60_000).toISOString();
    for (const past of [longAgo, "0000-01-01T00:00:00Z"]) {
      const response = await callApi("POST", "/jobs", { token, json: { ...base, scheduled_at: past } });
      expect(response.status).toBe(422);
    }
  });

  it("refuses a request body over 8 MiB with 413 before reading it as JSON", async () => {
    const response = await callApi("POST", "/jobs", {
      token,
      rawBody: `{"url":"https://example.com","body":"${"a".repeat(8 * 1024 * 1024)}"}`,
      headers: { "content-type": "application/json" },
    });
    expect(response.status).toBe(413);
    expect(response.body.error.code).toBe("payload_too_large");
    expect(await jobCount()).toBe(0);
  });
});
