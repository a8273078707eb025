/**
 * The admin API: absent without ADMIN_TOKEN, the usual 401 for a wrong one, and with the
 * right one the projects, tokens and signing secrets the admin CLI manages.
 */
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { hashToken } from "../src/auth/tokens";
import { apiTokens } from "../src/db/schema";
import { callApi, type TestBindings, useTestProject } from "./support/fliq";

const { db, project, token } = await useTestProject();

const ADMIN_TOKEN = `admin-${crypto.randomUUID()}`;
const enabled: Partial<TestBindings> = { ADMIN_TOKEN };
const asAdmin = (method: string, path: string, json?: unknown) =>
  callApi(method, path, { json, env: enabled, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });

describe("the admin API", () => {
  it("does not exist when ADMIN_TOKEN is unset", async () => {
    for (const authorization of ["", "Bearer ", `Bearer ${ADMIN_TOKEN}`]) {
      const response = await callApi("GET", "/admin/projects", { headers: { authorization } });
      expect(response.status).toBe(404);
    }
  });

  it("answers the usual 401 to a missing or wrong token, a project token included", async () => {
    const usual = await callApi("GET", "/jobs");
    for (const authorization of ["", `Bearer ${ADMIN_TOKEN}x`, `Bearer ${ADMIN_TOKEN.slice(1)}`, `Bearer ${token}`]) {
      const response = await callApi("GET", "/admin/projects", { env: enabled, headers: { authorization } });
      expect(response.status).toBe(401);
      expect(response.body).toEqual(usual.body);
    }
  });

  it("refuses the admin token in a query string", async () => {
    const response = await callApi("GET", `/admin/projects?token=${ADMIN_TOKEN}`, { env: enabled });
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe("token_in_query");
  });

  it("creates a project with a working admin token (shown once) and a signing secret, and lists it", async () => {
    const created = await asAdmin("POST", "/admin/projects", { name: "acme" });
    expect(created.status).toBe(201);
    expect(created.body.project.name).toBe("acme");
    expect(created.body.token).toMatchObject({ scopes: ["read", "write", "admin"], revoked_at: null });
    expect(created.body.signing_secret).toMatch(/^whsec_/);
    const newToken = created.body.token.token;
    expect((await callApi("GET", "/tokens", { token: newToken })).status).toBe(200);
    const [row] = await db.select().from(apiTokens).where(eq(apiTokens.id, created.body.token.id));
    expect(row.tokenHash).toBe(await hashToken(newToken));

    const list = await asAdmin("GET", "/admin/projects");
    expect(list.body.projects.map((p: { id: string }) => p.id)).toEqual(
      expect.arrayContaining([project.id, created.body.project.id]),
    );
    expect(JSON.stringify(list.body)).not.toContain(newToken);
  });

  it("creates, lists and revokes a project's tokens", async () => {
    const path = `/admin/projects/${project.id}/tokens`;
    const created = await asAdmin("POST", path, { name: "from admin", scopes: ["read"] });
    expect(created.status).toBe(201);
    expect((await callApi("GET", "/jobs", { token: created.body.token })).status).toBe(200);
    const list = await asAdmin("GET", path);
    expect(list.body.tokens.map((t: { id: string }) => t.id)).toContain(created.body.id);
    expect(JSON.stringify(list.body)).not.toContain(created.body.token);
    const revoked = await asAdmin("DELETE", `${path}/${created.body.id}`);
    expect(revoked.status).toBe(200);
    expect((await callApi("GET", "/jobs", { token: created.body.token })).status).toBe(401);
  });

  it("rotates a project's signing secret, keeping the old one beside it for the grace period", async () => {
    const before = await asAdmin("GET", `/admin/projects/${project.id}/signing-secrets`);
    expect(before.body.signing_secrets).toHaveLength(1);
    const rotated = await asAdmin("POST", `/admin/projects/${project.id}/signing-secrets/rotate`, { grace_hours: 2 });
    expect(rotated.status).toBe(201);
    expect(rotated.body.signing_secret).toMatch(/^whsec_/);
    const after = await asAdmin("GET", `/admin/projects/${project.id}/signing-secrets`);
    expect(after.body.signing_secrets.map((s: { secret: string }) => s.secret)).toEqual([
      rotated.body.signing_secret,
      before.body.signing_secrets[0].secret,
    ]);
    expect(before.body.signing_secrets[0].expires_at).toBeNull();
    expect(after.body.signing_secrets[1].expires_at).toBe(rotated.body.previous_secrets_expire_at);
  });

  it("answers 404 for an unknown project or token, and 422 for bad input", async () => {
    for (const path of [`/admin/projects/${crypto.randomUUID()}/tokens`, "/admin/projects/nope/tokens"]) {
      expect((await asAdmin("GET", path)).status).toBe(404);
    }
    expect((await asAdmin("DELETE", `/admin/projects/${project.id}/tokens/${crypto.randomUUID()}`)).status).toBe(404);
    expect((await asAdmin("POST", "/admin/projects", { name: "" })).status).toBe(422);
    expect((await asAdmin("POST", `/admin/projects/${project.id}/tokens`, { name: "x", scopes: ["god"] })).status).toBe(
      422,
    );
  });
});
