/**
 * Job headers: the deny list refused with 422, CR/LF and non-ASCII refused, and every value
 * but the allowlisted ones stored for delivery but shown as "[redacted]" in every answer and
 * never logged (the rule itself, and every route, in test/redaction.test.ts).
 */
import { DrizzleQueryError } from "drizzle-orm/errors";
import { afterEach, describe, expect, it, vi } from "vitest";
import { loggableError } from "../src/api/errors";
import { findJob } from "../src/db/jobs";
import { callApi, insertJobRow, later, receivedAt, receiverUrl, tickNow, useTestProject } from "./support/fliq";

const { db, project, token } = await useTestProject();

const DENIED = [
  "Host",
  "host",
  "Content-Length",
  "Transfer-Encoding",
  "Connection",
  "Keep-Alive",
  "Upgrade",
  "TE",
  "Trailer",
  "Proxy-Authorization",
  "Proxy-Connection",
  "Forwarded",
  "X-Forwarded-For",
  "x-forwarded-host",
  "X-Forwarded-Proto",
  "X-Real-IP",
  "CF-Connecting-IP",
  "cf-ray",
  "CF-Worker",
  "Via",
  "webhook-id",
  "Webhook-Signature",
  "fliq-job-id",
  "Fliq-Attempt",
];

describe("the header deny list", () => {
  it.each(DENIED)("refuses a %s header with 422, at create and at PATCH", async (name) => {
    const created = await callApi("POST", "/jobs", {
      token,
      json: { url: receiverUrl("ok"), delay: "1h", headers: { [name]: "x" } },
    });
    expect(created.status).toBe(422);
    expect(created.body.error.details[0].path).toBe(`headers.${name}`);
    const job = await insertJobRow(db, project.id, { runAt: later(3_600_000) });
    const patched = await callApi("PATCH", `/jobs/${job.id}`, { token, json: { headers: { [name]: "x" } } });
    expect(patched.status).toBe(422);
    expect((await findJob(db, project.id, job.id))?.headers).toEqual({});
  });

  it.each([
    ["a CR LF in a value", { "X-A": "a\r\nX-Injected: 1" }],
    ["a LF in a value", { "X-A": "a\nb" }],
    ["a NUL in a value", { "X-A": "a\u0000b" }],
    ["non-ASCII in a value", { "X-A": "café" }],
    ["non-ASCII in a name", { "X-Café": "v" }],
    ["a space in a name", { "X A": "v" }],
    ["a colon in a name", { "X-A:": "v" }],
    ["a CR LF in a name", { "X-A\r\nX-B": "v" }],
  ])("refuses %s", async (_case, headers) => {
    const response = await callApi("POST", "/jobs", { token, json: { url: receiverUrl("ok"), delay: "1h", headers } });
    expect(response.status).toBe(422);
    expect(response.body.error.code).toBe("validation_failed");
  });

  it("accepts ordinary headers, and delivers them as sent", async () => {
    const headers = { "Content-Type": "application/json", "X-Request-Source": "billing", Accept: "*/*" };
    const created = await callApi("POST", "/jobs", { token, json: { url: receiverUrl("ok"), headers } });
    expect(created.status).toBe(201);
    await tickNow();
    const [received] = await receivedAt(created.body.url);
    expect(received.headers).toMatchObject({ "content-type": "application/json", "x-request-source": "billing" });
  });

  it("delivers exactly the stored request: no Content-Type is added when none was stored", async () => {
    const body = '{"note":"héllo"}';
    const withBody = await callApi("POST", "/jobs", { token, json: { url: receiverUrl("ok"), body } });
    const emptyBody = await callApi("POST", "/jobs", { token, json: { url: receiverUrl("ok"), body: "" } });
    await tickNow();
    const [sent] = await receivedAt(withBody.body.url);
    expect(sent.headers).not.toHaveProperty("content-type");
    expect(sent.body).toBe(body);
    expect(sent.headers["content-length"]).toBe(String(new TextEncoder().encode(body).length));
    const [empty] = await receivedAt(emptyBody.body.url);
    expect(empty.headers).not.toHaveProperty("content-type");
    expect(empty.body).toBe("");
  });
});

const SECRETS = {
  Authorization: "Bearer sk_live_authorization",
  Cookie: "session=cookie-secret",
  "X-Api-Key": "api-key-secret",
  "X-Auth-Token": "auth-token-secret",
  "X-Hub-Signature-256": "sha256=signature-secret",
  "X-Client-Secret": "client-secret",
  "X-Password": "password-secret",
  "X-Access-Code": "access-code-secret",
  "X-Tenant": "tenant-secret",
};
const REDACTED_SECRETS = Object.fromEntries(Object.keys(SECRETS).map((name) => [name, "[redacted]"]));
const PLAIN = { "Content-Type": "text/plain" };
const SECRET_VALUES = Object.values(SECRETS);

/** Fails if any secret value appears anywhere in a response body. */
function expectNoSecret(body: unknown) {
  const text = JSON.stringify(body);
  for (const secret of SECRET_VALUES) expect(text).not.toContain(secret);
}

describe("secret headers", () => {
  afterEach(() => vi.restoreAllMocks());

  it("are stored and delivered as sent, but shown as [redacted] in every answer", async () => {
    const headers = { ...SECRETS, ...PLAIN };
    const created = await callApi("POST", "/jobs", { token, json: { url: receiverUrl("ok"), delay: "1h", headers } });
    expect(created.status).toBe(201);
    expect(created.body.headers).toEqual({ ...REDACTED_SECRETS, ...PLAIN });
    const id = created.body.id;
    expect((await findJob(db, project.id, id))?.headers).toEqual(headers);

    const batch = await callApi("POST", "/jobs/batch", {
      token,
      json: { jobs: [{ url: receiverUrl("ok"), delay: "1h", headers }] },
    });
    const read = await callApi("GET", `/jobs/${id}`, { token });
    const list = await callApi("GET", "/jobs", { token });
    const patched = await callApi("PATCH", `/jobs/${id}`, { token, json: { body: "changed" } });
    const canceled = await callApi("POST", `/jobs/${batch.body.jobs[0].id}/cancel`, { token });
    const replayed = await callApi("POST", `/jobs/${batch.body.jobs[0].id}/replay`, { token });
    for (const answer of [created, batch, read, list, patched, canceled, replayed]) {
      expect(answer.status).toBeLessThan(300);
      expectNoSecret(answer.body);
    }
    expect(list.body.jobs.find((job: { id: string }) => job.id === id).headers).toEqual({
      ...REDACTED_SECRETS,
      ...PLAIN,
    });
  });

  it("reach the receiver in clear, and appear in no log line", async () => {
    const logged: unknown[][] = [];
    for (const method of ["log", "info", "warn", "error", "debug"] as const) {
      vi.spyOn(console, method).mockImplementation((...args) => void logged.push(args));
    }
    const url = receiverUrl("status/500");
    const created = await callApi("POST", "/jobs", {
      token,
      json: { url, headers: { ...SECRETS }, max_retries: 0 },
    });
    await tickNow();
    const [received] = await receivedAt(url);
    expect(received.headers["x-api-key"]).toBe("api-key-secret");
    expect(received.headers.authorization).toBe("Bearer sk_live_authorization");
    expect((await callApi("GET", `/jobs/${created.body.id}`, { token })).body.status).toBe("failed");
    const text = logged.map((args) => args.map(String).join(" ")).join("\n");
    for (const secret of SECRET_VALUES) expect(text).not.toContain(secret);
  });

  it("sent back as [redacted] in a PATCH keep their stored value; a new value replaces it", async () => {
    const job = await insertJobRow(db, project.id, { runAt: later(3_600_000), headers: { ...SECRETS, ...PLAIN } });
    const read = await callApi("GET", `/jobs/${job.id}`, { token });
    const sentBack = { ...read.body.headers, "X-Api-Key": "rotated-key", "Content-Type": "application/json" };
    delete sentBack.Cookie;
    const patched = await callApi("PATCH", `/jobs/${job.id}`, { token, json: { headers: sentBack } });
    expect(patched.status).toBe(200);
    expect(patched.body.headers).toEqual({
      ...REDACTED_SECRETS,
      Cookie: undefined,
      "Content-Type": "application/json",
    });
    const { Cookie: _dropped, ...kept } = SECRETS;
    expect((await findJob(db, project.id, job.id))?.headers).toEqual({
      ...kept,
      "X-Api-Key": "rotated-key",
      "Content-Type": "application/json",
    });
  });

  it("matches a [redacted] value to the stored header whatever its case, and refuses one with nothing stored", async () => {
    const job = await insertJobRow(db, project.id, {
      runAt: later(3_600_000),
      headers: { Authorization: "Bearer stored" },
    });
    const kept = await callApi("PATCH", `/jobs/${job.id}`, {
      token,
      json: { headers: { authorization: "[redacted]" } },
    });
    expect(kept.status).toBe(200);
    expect((await findJob(db, project.id, job.id))?.headers).toEqual({ authorization: "Bearer stored" });
    const unknown = await callApi("PATCH", `/jobs/${job.id}`, {
      token,
      json: { headers: { authorization: "[redacted]", "X-Api-Key": "[redacted]" } },
    });
    expect(unknown.status).toBe(422);
    expect(unknown.body.error.details).toEqual([
      {
        path: "headers.X-Api-Key",
        message: '"[redacted]" keeps a stored secret, but this job has no such header; send its value',
      },
    ]);
    expect((await findJob(db, project.id, job.id))?.headers).toEqual({ authorization: "Bearer stored" });
  });

  it("stay out of the log line of a failed query, whose message carries its parameters", () => {
    const failed = new DrizzleQueryError(
      "insert into jobs (headers) values ($1)",
      [JSON.stringify(SECRETS)],
      new Error("Connection terminated"),
    );
    expect(failed.message).toContain("api-key-secret");
    const line = loggableError(failed);
    expect(line).toContain("Connection terminated");
    expect(line).toContain("insert into jobs");
    for (const secret of SECRET_VALUES) expect(line).not.toContain(secret);
  });
});
