/**
 * API tokens: one 401 for every failure class, tokens in URLs refused, scopes, the /tokens
 * API (create once, list without secrets, revoke effective on the next request),
 * last_used_at kept cheaply, and nothing but hashes in the database.
 */
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { hashToken } from "../src/auth/tokens";
import { apiTokens, jobs } from "../src/db/schema";
import { callApi, createProject, useTestProject } from "./support/fliq";

const { db, project, token: writeToken } = await useTestProject(["read", "write"]);
const { token: readToken } = await createProject(db, ["read"]);
const adminProject = await createProject(db, ["read", "write", "admin"]);
const adminToken = adminProject.token;

const tokenRow = async (id: string) => (await db.select().from(apiTokens).where(eq(apiTokens.id, id)))[0];

async function createToken(json: unknown = { name: "ci" }) {
  const response = await callApi("POST", "/tokens", { token: adminToken, json });
  expect(response.status).toBe(201);
  return response.body as { id: string; token: string; scopes: string[] };
}

describe("token failures", () => {
  it("answer one identical 401 for a missing, malformed, unknown or revoked token", async () => {
    const revoked = await createToken();
    expect((await callApi("DELETE", `/tokens/${revoked.id}`, { token: adminToken })).status).toBe(200);
    const unknown = `fliq_sk_${"A".repeat(43)}`;
    const failures: Record<string, string>[] = [
      {},
      { authorization: "" },
      { authorization: "Bearer" },
      { authorization: "Basic Zm9vOmJhcg==" },
      { authorization: `Bearer ${writeToken.slice(0, -1)}` },
      { authorization: `Bearer ${writeToken}x` },
      { authorization: `Bearer sk_${writeToken.slice(8)}` },
      { authorization: `Bearer ${writeToken} extra` },
      { authorization: `Bearer ${unknown}` },
      { authorization: `Bearer ${writeToken.slice(0, 16)}${"A".repeat(35)}` },
      { authorization: `Bearer ${revoked.token}` },
    ];
    const answers = await Promise.all(failures.map((headers) => callApi("GET", "/jobs", { headers })));
    for (const answer of answers) {
      expect(answer.status).toBe(401);
      expect(answer.body).toEqual(answers[0].body);
      expect(answer.body.error.code).toBe("unauthorized");
    }
    for (const path of ["/tokens", "/jobs/batch"]) {
      const answer = await callApi("POST", path, { json: {}, headers: { authorization: `Bearer ${unknown}` } });
      expect(answer.status).toBe(401);
      expect(answer.body).toEqual(answers[0].body);
    }
  });

  it.each(["token", "access_token", "api_key", "apikey", "Authorization", "auth_token"])(
    "refuses a token in the query string (?%s=) and never authenticates from it",
    async (name) => {
      const alone = await callApi("GET", `/jobs?${name}=${writeToken}`);
      expect(alone.status).toBe(400);
      expect(alone.body.error.code).toBe("token_in_query");
      // Not even beside a valid header: the URL itself is the leak.
      const withHeader = await callApi("POST", `/jobs?${name}=${writeToken}`, {
        token: writeToken,
        json: { url: "https://example.com/hook", delay: "1h" },
      });
      expect(withHeader.status).toBe(400);
      expect((await callApi("GET", "/jobs", { token: writeToken })).body.jobs).toHaveLength(0);
    },
  );

  it("refuses a Fliq token under any query parameter name, on every API path", async () => {
    for (const path of ["/jobs", "/tokens", "/admin/projects", "/"]) {
      const response = await callApi("GET", `${path}?q=${writeToken}`);
      expect(response.status).toBe(400);
      expect(response.body.error.code).toBe("token_in_query");
    }
  });
});

describe("scopes", () => {
  it("let a read token read but not change, a write token change but not manage tokens", async () => {
    const create = { url: "https://example.com/hook", delay: "1h" };
    expect((await callApi("GET", "/jobs", { token: readToken })).status).toBe(200);
    const refused = await callApi("POST", "/jobs", { token: readToken, json: create });
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe("insufficient_scope");
    expect((await callApi("POST", "/jobs", { token: writeToken, json: create })).status).toBe(201);
    for (const token of [readToken, writeToken]) {
      for (const [method, path] of [
        ["GET", "/tokens"],
        ["POST", "/tokens"],
        ["DELETE", `/tokens/${crypto.randomUUID()}`],
      ]) {
        const response = await callApi(method, path, { token, json: method === "POST" ? { name: "x" } : undefined });
        expect(response.status).toBe(403);
        expect(response.body.error.message).toContain('"admin"');
      }
    }
    expect((await callApi("GET", "/tokens", { token: adminToken })).status).toBe(200);
  });
});

describe("the /tokens API", () => {
  it("creates a token shown once, stored only as its hash, that works at once with its scopes", async () => {
    const created = await createToken({ name: "deploy bot", scopes: ["read"] });
    expect(created).toMatchObject({ name: "deploy bot", scopes: ["read"], revoked_at: null, last_used_at: null });
    expect(created.token).toMatch(/^fliq_sk_[A-Za-z0-9_-]{43}$/);
    expect(created).toHaveProperty("prefix", created.token.slice(0, 16));

    const row = await tokenRow(created.id);
    expect(row.tokenHash).toBe(await hashToken(created.token));
    expect(Object.values(row).map(String)).not.toContain(created.token);
    expect(JSON.stringify(row)).not.toContain(created.token.slice(16));

    expect((await callApi("GET", "/jobs", { token: created.token })).status).toBe(200);
    expect((await callApi("POST", "/jobs", { token: created.token, json: {} })).status).toBe(403);
  });

  it("lists the project's tokens without any hash or secret", async () => {
    const created = await createToken({ name: "listed" });
    const list = await callApi("GET", "/tokens", { token: adminToken });
    expect(list.status).toBe(200);
    const text = JSON.stringify(list.body);
    expect(text).not.toContain(created.token);
    expect(text).not.toContain(created.token.slice(16));
    expect(text).not.toContain((await tokenRow(created.id)).tokenHash);
    const listed = list.body.tokens.find((token: { id: string }) => token.id === created.id);
    expect(Object.keys(listed).sort()).toEqual([
      "created_at",
      "id",
      "last_used_at",
      "name",
      "prefix",
      "revoked_at",
      "scopes",
    ]);
    // Only this project's tokens.
    expect(list.body.tokens.every((t: { id: string }) => t.id !== project.id)).toBe(true);
    const rows = await db.select().from(apiTokens).where(eq(apiTokens.projectId, adminProject.project.id));
    expect(list.body.tokens.map((t: { id: string }) => t.id).sort()).toEqual(rows.map((r) => r.id).sort());
  });

  it("revokes a token: the next request with it answers 401; revoking again keeps the first time", async () => {
    const created = await createToken();
    expect((await callApi("GET", "/jobs", { token: created.token })).status).toBe(200);
    const revoked = await callApi("DELETE", `/tokens/${created.id}`, { token: adminToken });
    expect(revoked.status).toBe(200);
    expect(revoked.body.revoked_at).not.toBeNull();
    expect((await callApi("GET", "/jobs", { token: created.token })).status).toBe(401);
    const again = await callApi("DELETE", `/tokens/${created.id}`, { token: adminToken });
    expect(again.body.revoked_at).toBe(revoked.body.revoked_at);
  });

  it("answers 404 for another project's token, an unknown id or a malformed one, and revokes nothing", async () => {
    const other = await db.select().from(apiTokens).where(eq(apiTokens.projectId, project.id));
    for (const id of [other[0].id, crypto.randomUUID(), "not-a-uuid"]) {
      const response = await callApi("DELETE", `/tokens/${id}`, { token: adminToken });
      expect(response.status).toBe(404);
    }
    expect((await tokenRow(other[0].id)).revokedAt).toBeNull();
    expect((await callApi("GET", "/jobs", { token: writeToken })).status).toBe(200);
  });

  it.each([
    [{}, "name"],
    [{ name: "" }, "name"],
    [{ name: "a\nb" }, "name"],
    [{ name: "x", scopes: [] }, "scopes"],
    [{ name: "x", scopes: ["root"] }, "scopes.0"],
    [{ name: "x", token_hash: "abc" }, "token_hash"],
  ])("refuses an invalid create request %j with 422", async (json, path) => {
    const response = await callApi("POST", "/tokens", { token: adminToken, json });
    expect(response.status).toBe(422);
    expect(response.body.error.details.map((d: { path: string }) => d.path)).toContain(path);
  });
});

describe("last_used_at", () => {
  it("is set on first use, and written again only once it is a minute old", async () => {
    const created = await createToken();
    expect((await tokenRow(created.id)).lastUsedAt).toBeNull();
    await callApi("GET", "/jobs", { token: created.token });
    const first = (await tokenRow(created.id)).lastUsedAt;
    expect(first).toBeInstanceOf(Date);
    await callApi("GET", "/jobs", { token: created.token });
    expect((await tokenRow(created.id)).lastUsedAt).toEqual(first);
    // Back-dated just inside the minute: still not rewritten.
    const recent = new Date(Date.now() - 50_000);
    await db.update(apiTokens).set({ lastUsedAt: recent }).where(eq(apiTokens.id, created.id));
    await callApi("GET", "/jobs", { token: created.token });
    expect((await tokenRow(created.id)).lastUsedAt).toEqual(recent);
    // Back-dated past the minute: the next use records itself.
    const old = new Date(Date.now() - 61_000);
    await db.update(apiTokens).set({ lastUsedAt: old }).where(eq(apiTokens.id, created.id));
    await callApi("GET", "/jobs", { token: created.token });
    expect((await tokenRow(created.id)).lastUsedAt?.getTime()).toBeGreaterThan(old.getTime() + 60_000);
    const listed = (await callApi("GET", "/tokens", { token: adminToken })).body.tokens.find(
      (t: { id: string }) => t.id === created.id,
    );
    expect(listed.last_used_at).not.toBeNull();
  });
});

describe("creating jobs, which checks the token inside its insert", () => {
  const job = { url: "https://example.com/hook", delay: "1h" };
  const jobsOf = async (projectId: string) =>
    (await db.select().from(jobs).where(eq(jobs.projectId, projectId))).length;

  it("refuses a revoked token on the very next POST /jobs and POST /jobs/batch, storing nothing", async () => {
    const created = await createToken({ name: "revoked", scopes: ["write"] });
    expect((await callApi("POST", "/jobs", { token: created.token, json: job })).status).toBe(201);
    expect((await callApi("DELETE", `/tokens/${created.id}`, { token: adminToken })).status).toBe(200);
    const before = await jobsOf(adminProject.project.id);
    const single = await callApi("POST", "/jobs", { token: created.token, json: job });
    const batch = await callApi("POST", "/jobs/batch", { token: created.token, json: { jobs: [job] } });
    for (const refused of [single, batch]) {
      expect(refused.status).toBe(401);
      expect(refused.body.error.code).toBe("unauthorized");
    }
    expect(await jobsOf(adminProject.project.id)).toBe(before);
  });

  it("answers a failing token 401 and a read token 403 before any error in the request itself", async () => {
    const unknown = `${writeToken.slice(0, -1)}${writeToken.endsWith("x") ? "y" : "x"}`;
    for (const json of [job, { url: "not a url" }]) {
      for (const path of ["/jobs", "/jobs/batch"]) {
        const body = path === "/jobs" ? json : { jobs: [json] };
        expect((await callApi("POST", path, { token: unknown, json: body })).status).toBe(401);
        const readOnly = await callApi("POST", path, { token: readToken, json: body });
        expect(readOnly.status).toBe(403);
        expect(readOnly.body.error.code).toBe("insufficient_scope");
      }
    }
    const invalid = await callApi("POST", "/jobs", { token: writeToken, json: { url: "not a url" } });
    expect(invalid.status).toBe(422);
  });

  it("records last_used_at in the same statement, at most once a minute", async () => {
    const created = await createToken({ name: "creator", scopes: ["write"] });
    await callApi("POST", "/jobs", { token: created.token, json: job });
    const first = (await tokenRow(created.id)).lastUsedAt;
    expect(first).toBeInstanceOf(Date);
    const recent = new Date(Date.now() - 50_000);
    await db.update(apiTokens).set({ lastUsedAt: recent }).where(eq(apiTokens.id, created.id));
    await callApi("POST", "/jobs/batch", { token: created.token, json: { jobs: [job] } });
    expect((await tokenRow(created.id)).lastUsedAt).toEqual(recent);
    const old = new Date(Date.now() - 61_000);
    await db.update(apiTokens).set({ lastUsedAt: old }).where(eq(apiTokens.id, created.id));
    await callApi("POST", "/jobs", { token: created.token, json: job });
    expect((await tokenRow(created.id)).lastUsedAt?.getTime()).toBeGreaterThan(old.getTime() + 60_000);
  });
});
