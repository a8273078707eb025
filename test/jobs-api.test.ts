import { count, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jobs } from "../src/db/schema";
import { callApi, createProject, insertJobRow, openTestDatabase, receivedAt, receiverUrl } from "./support/fliq";

const database = openTestDatabase();
const db = database.db;
let projectId: string;
let token: string;

beforeAll(async () => {
  ({
    project: { id: projectId },
    token,
  } = await createProject(db));
});
afterAll(() => database.close());

/** The request from the product pitch, exactly as written. */
const frontDoorRequest = {
  url: "https://my-worker.example.workers.dev/api/send-welcome",
  http_method: "POST",
  scheduled_at: "2026-06-12T10:30:00Z",
  headers: { "Content-Type": "application/json" },
  body: '{"email":"user@example.com"}',
  max_retries: 3,
};

async function jobCount(): Promise<number> {
  const [row] = await db.select({ n: count() }).from(jobs).where(eq(jobs.projectId, projectId));
  return row.n;
}

function expectErrorShape(body: unknown, code: string) {
  expect(body).toEqual({ error: { code, message: expect.any(String), details: expect.any(Array) } });
}

describe("POST /jobs", () => {
  it("accepts the front-door request exactly as written and answers the job", async () => {
    // The pitch's date has passed, and a job whose time has passed fires at once, so the
    // exact request is sent a year later here: this test checks what is accepted and stored.
    const request = { ...frontDoorRequest, scheduled_at: "2027-06-12T10:30:00Z" };
    const response = await callApi("POST", "/jobs", { token, json: request });
    expect(response.status).toBe(201);
    expect(response.body).toMatchObject({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      status: "scheduled",
      url: frontDoorRequest.url,
      http_method: "POST",
      scheduled_at: "2027-06-12T10:30:00.000Z",
      run_at: "2027-06-12T10:30:00.000Z",
      headers: { "Content-Type": "application/json" },
      body: frontDoorRequest.body,
      max_retries: 3,
      timeout_ms: 15_000,
      retry_backoff: { initial_delay_ms: 10_000, max_delay_ms: 3_600_000 },
      webhook_id: expect.stringMatching(/^msg_[0-9a-f]{32}$/),
      attempt: 0,
      finished_at: null,
    });
    expect(Date.parse(response.body.created_at)).not.toBeNaN();

    const fetched = await callApi("GET", `/jobs/${response.body.id}`, { token });
    expect(fetched.status).toBe(200);
    expect(fetched.body).toEqual({ ...response.body, attempts: [] });
  });

  it("fires the front-door request at once when its time has already passed", async () => {
    // Exactly as written, with the URL moved to a local receiver: 2026-06-12 is in the past.
    const url = receiverUrl("ok");
    const response = await callApi("POST", "/jobs", { token, json: { ...frontDoorRequest, url } });
    expect(response.status).toBe(201);
    const [received] = await receivedAt(url);
    expect(received).toMatchObject({ method: "POST", body: '{"email":"user@example.com"}' });
    expect(received.headers["content-type"]).toBe("application/json");
    const fetched = await callApi("GET", `/jobs/${response.body.id}`, { token });
    expect(fetched.body).toMatchObject({ status: "succeeded", attempts: [{ outcome: "succeeded", status_code: 200 }] });
  });

  it("defaults the method, headers, body, retries and time (now) when they are left out", async () => {
    const before = Date.now();
    const response = await callApi("POST", "/jobs", { token, json: { url: receiverUrl("ok") } });
    expect(response.status).toBe(201);
    expect(response.body).toMatchObject({ http_method: "POST", headers: {}, body: null, max_retries: 3 });
    expect((await receivedAt(response.body.url)).map((r) => r.method)).toEqual(["POST"]);
    expect(Date.parse(response.body.scheduled_at)).toBeGreaterThanOrEqual(before - 1000);
    expect(Date.parse(response.body.scheduled_at)).toBeLessThanOrEqual(Date.now() + 1000);
  });

  it("accepts a lower-case method and stores it upper-case", async () => {
    const response = await callApi("POST", "/jobs", {
      token,
      json: { url: "https://example.com/hook", http_method: "put", scheduled_at: "2027-01-01T00:00:00Z" },
    });
    expect(response.status).toBe(201);
    expect(response.body.http_method).toBe("PUT");
  });

  const invalidBodies: Array<[string, unknown, string]> = [
    ["no url", { http_method: "POST" }, "url"],
    ["a relative url", { url: "/api/send-welcome" }, "url"],
    ["a non-http url", { url: "ftp://example.com/file" }, "url"],
    ["an unknown method", { url: "https://example.com", http_method: "FETCH" }, "http_method"],
    ["a date without time zone", { url: "https://example.com", scheduled_at: "2026-06-12T10:30:00" }, "scheduled_at"],
    ["a date that is not a date", { url: "https://example.com", scheduled_at: "tomorrow" }, "scheduled_at"],
    [
      "a time more than 366 days ahead",
      { url: "https://example.com", scheduled_at: "2099-01-01T00:00:00Z" },
      "scheduled_at",
    ],
    ["max_retries above 20", { url: "https://example.com", max_retries: 21 }, "max_retries"],
    ["negative max_retries", { url: "https://example.com", max_retries: -1 }, "max_retries"],
    ["fractional max_retries", { url: "https://example.com", max_retries: 1.5 }, "max_retries"],
    ["a timeout below 1 s", { url: "https://example.com", timeout_ms: 999 }, "timeout_ms"],
    ["a header value with CR/LF", { url: "https://example.com", headers: { "X-A": "a\r\nX-B: b" } }, "headers.X-A"],
    ["a header name with a space", { url: "https://example.com", headers: { "X A": "a" } }, "headers.X A"],
    ["a body on GET", { url: "https://example.com", http_method: "GET", body: "x" }, "body"],
    ["a non-string body", { url: "https://example.com", body: { email: "a" } }, "body"],
    ["a NUL in the body", { url: "https://example.com", body: "a\u0000b" }, "body"],
    ["a NUL in a label", { url: "https://example.com", labels: { k: "a\u0000" } }, "labels.k"],
    ["a server field (status)", { url: "https://example.com", status: "succeeded" }, "status"],
    ["a server field (id)", { url: "https://example.com", id: crypto.randomUUID() }, "id"],
  ];

  it.each(invalidBodies)("rejects %s with 422 and writes nothing", async (_name, json, path) => {
    const before = await jobCount();
    const response = await callApi("POST", "/jobs", { token, json });
    expect(response.status).toBe(422);
    expectErrorShape(response.body, "validation_failed");
    expect(response.body.error.details.map((d: { path: string }) => d.path)).toContain(path);
    expect(await jobCount()).toBe(before);
  });

  it("accepts a body of exactly 1 MiB and rejects one byte more", async () => {
    const limit = 1024 * 1024;
    const atLimit = await callApi("POST", "/jobs", {
      token,
      json: { url: "https://example.com", scheduled_at: "2027-01-01T00:00:00Z", body: "a".repeat(limit) },
    });
    expect(atLimit.status).toBe(201);
    const before = await jobCount();
    const over = await callApi("POST", "/jobs", {
      token,
      json: { url: "https://example.com", scheduled_at: "2027-01-01T00:00:00Z", body: "a".repeat(limit + 1) },
    });
    expect(over.status).toBe(422);
    expect(await jobCount()).toBe(before);
  });

  it("rejects malformed JSON with 400 and writes nothing", async () => {
    const before = await jobCount();
    const response = await callApi("POST", "/jobs", {
      token,
      rawBody: '{"url": "https://example.com",',
      headers: { "content-type": "application/json" },
    });
    expect(response.status).toBe(400);
    expectErrorShape(response.body, "invalid_json");
    expect(await jobCount()).toBe(before);
  });
});

describe("authentication", () => {
  const failures: Array<[string, Record<string, string>]> = [
    ["no Authorization header", {}],
    ["another scheme", { authorization: "Basic dXNlcjpwYXNz" }],
    ["a malformed token", { authorization: "Bearer fliq_sk_short" }],
    ["an unknown token", { authorization: `Bearer fliq_sk_${"A".repeat(43)}` }],
  ];

  it.each(failures)(
    "answers 401 for %s, with one body for every failure, and writes nothing",
    async (_name, headers) => {
      const before = await jobCount();
      const response = await callApi("POST", "/jobs", { headers, json: frontDoorRequest });
      expect(response.status).toBe(401);
      expect(response.body).toEqual({
        error: { code: "unauthorized", message: expect.stringContaining("Bearer"), details: [] },
      });
      expect(await jobCount()).toBe(before);
      expect((await callApi("GET", `/jobs/${crypto.randomUUID()}`, { headers })).status).toBe(401);
    },
  );
});

describe("GET /jobs/:id", () => {
  it("answers 404 for an unknown id and for a malformed one", async () => {
    for (const id of [crypto.randomUUID(), "not-a-uuid", "1'; DROP TABLE jobs;--"]) {
      const response = await callApi("GET", `/jobs/${encodeURIComponent(id)}`, { token });
      expect(response.status).toBe(404);
      expectErrorShape(response.body, "not_found");
    }
  });

  it("answers 404 for another project's job", async () => {
    const other = await createProject(db);
    const foreign = await insertJobRow(db, other.project.id);
    const response = await callApi("GET", `/jobs/${foreign.id}`, { token });
    expect(response.status).toBe(404);
    expect((await callApi("GET", `/jobs/${foreign.id}`, { token: other.token })).status).toBe(200);
  });
});

describe("unknown routes", () => {
  it("answer 404 in the error shape", async () => {
    const response = await callApi("GET", "/nope", { token });
    expect(response.status).toBe(404);
    expectErrorShape(response.body, "not_found");
  });
});

describe("token scopes", () => {
  it("lets a read-only token look but not change anything (403), and a write token do both", async () => {
    const readOnly = await createProject(db, ["read"]);
    const job = await insertJobRow(db, readOnly.project.id, { runAt: new Date("2027-01-01T00:00:00Z") });
    expect((await callApi("GET", `/jobs/${job.id}`, { token: readOnly.token })).status).toBe(200);
    expect((await callApi("GET", "/jobs", { token: readOnly.token })).status).toBe(200);
    for (const [method, path] of [
      ["POST", "/jobs"],
      ["PATCH", `/jobs/${job.id}`],
      ["DELETE", `/jobs/${job.id}`],
      ["POST", `/jobs/${job.id}/run`],
    ]) {
      const response = await callApi(method, path, { token: readOnly.token, json: { url: "https://example.com" } });
      expect(response.status).toBe(403);
      expect(response.body.error.code).toBe("insufficient_scope");
    }
    expect(await db.select().from(jobs).where(eq(jobs.projectId, readOnly.project.id))).toMatchObject([
      { id: job.id, status: "scheduled", url: job.url },
    ]);

    const writeOnly = await createProject(db, ["write"]);
    expect((await callApi("GET", "/jobs", { token: writeOnly.token })).status).toBe(200);
  });
});
