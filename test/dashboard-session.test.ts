/**
 * The dashboard's server-side session: the cookie holds a random id (never the API token),
 * only its SHA-256 is stored, and the session ends at sign-out, at its absolute expiry, after
 * its idle timeout, and at once when its token is revoked. Rows are back-dated, never waited on.
 */
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { hashToken } from "../src/auth/tokens";
import { SESSION_ABSOLUTE_MS, SESSION_IDLE_MS } from "../src/dashboard/session";
import { apiTokens, dashboardSessions } from "../src/db/schema";
import { callDashboard, csrfTokenIn, openSession, signIn } from "./support/dashboard";
import { callApi, createProject, useTestProject } from "./support/fliq";

const { db } = await useTestProject();

/** The session id a `fliq_session=…` cookie pair carries. */
const idOf = (cookie: string) => cookie.slice("fliq_session=".length);

/** The stored row of a session. */
async function rowOf(cookie: string) {
  const [row] = await db
    .select()
    .from(dashboardSessions)
    .where(eq(dashboardSessions.idHash, await hashToken(idOf(cookie))));
  return row;
}

/** Whether the cookie opens the overview (otherwise it is sent to sign in, and told to forget the cookie). */
async function opensPages(cookie: string): Promise<boolean> {
  const page = await callDashboard("GET", "/dashboard", { cookie });
  if (page.status === 200) return true;
  expect(page.status).toBe(303);
  expect(page.headers.get("location")).toBe("/dashboard/login");
  expect(page.headers.get("set-cookie")).toContain("Max-Age=0");
  return false;
}

describe("the session cookie", () => {
  it("holds a random id, stored only as its SHA-256 and tied to the token; it is no API token", async () => {
    const { token } = await createProject(db, ["read", "write", "admin"]);
    const cookie = await signIn(token);
    expect(cookie).not.toContain(token);
    const row = await rowOf(cookie);
    expect(row.idHash).toMatch(/^[0-9a-f]{64}$/);
    expect(row.idHash).not.toBe(idOf(cookie));
    expect(row.expiresAt.getTime() - row.createdAt.getTime()).toBe(SESSION_ABSOLUTE_MS);
    // Presented as a bearer token, the stolen cookie opens nothing.
    expect((await callApi("GET", "/jobs", { token: idOf(cookie) })).status).toBe(401);
    expect((await callApi("GET", "/jobs", { headers: { cookie } })).status).toBe(401);
    // And another sign-in with the same token is a session of its own.
    const second = await signIn(token);
    expect(second).not.toBe(cookie);
    expect(await opensPages(cookie)).toBe(true);
    expect(await opensPages(second)).toBe(true);
  });

  it("is a cookie of the right shape only: another value is sent to sign in", async () => {
    expect(await opensPages(`fliq_session=${"0".repeat(64)}`)).toBe(false);
    const { token } = await createProject(db);
    expect(await opensPages(`fliq_session=${token}`)).toBe(false);
  });
});

describe("a session ends", () => {
  it("at sign-out: its row is deleted, so the same cookie replayed opens nothing, and other sessions live on", async () => {
    const { token } = await createProject(db);
    const kept = await openSession(token);
    const { cookie, csrf } = await openSession(token);
    const out = await callDashboard("POST", "/dashboard/logout", { cookie, form: { _csrf: csrf } });
    expect(out.status).toBe(303);
    expect(await rowOf(cookie)).toBeUndefined();
    expect(await opensPages(cookie)).toBe(false);
    expect(await opensPages(kept.cookie)).toBe(true);
  });

  it("at its absolute expiry, however active: just before it the session works, at it not", async () => {
    const { token } = await createProject(db);
    const cookie = await signIn(token);
    const idHash = await hashToken(idOf(cookie));
    await db
      .update(dashboardSessions)
      .set({ expiresAt: new Date(Date.now() + 60_000) })
      .where(eq(dashboardSessions.idHash, idHash));
    expect(await opensPages(cookie)).toBe(true);
    await db
      .update(dashboardSessions)
      .set({ expiresAt: new Date(Date.now() - 1) })
      .where(eq(dashboardSessions.idHash, idHash));
    expect(await opensPages(cookie)).toBe(false);
  });

  it("after its idle timeout; each request restarts the idle clock", async () => {
    const { token } = await createProject(db);
    const cookie = await signIn(token);
    const idHash = await hashToken(idOf(cookie));
    const lastSeen = (msAgo: number) =>
      db
        .update(dashboardSessions)
        .set({ lastSeenAt: new Date(Date.now() - msAgo) })
        .where(eq(dashboardSessions.idHash, idHash));
    await lastSeen(SESSION_IDLE_MS - 60_000);
    expect(await opensPages(cookie)).toBe(true);
    // That request was seen now: the idle clock restarted.
    expect(Date.now() - (await rowOf(cookie)).lastSeenAt.getTime()).toBeLessThan(60_000);
    await lastSeen(SESSION_IDLE_MS + 1_000);
    expect(await opensPages(cookie)).toBe(false);
  });

  it("at once when its token is revoked through the API, for every session of that token", async () => {
    const admin = await createProject(db, ["read", "write", "admin"]);
    const tokens = await callApi("GET", "/tokens", { token: admin.token });
    const tokenId = tokens.body.tokens[0].id;
    const first = await signIn(admin.token);
    const second = await signIn(admin.token);
    expect(await opensPages(first)).toBe(true);
    expect((await callApi("DELETE", `/tokens/${tokenId}`, { token: admin.token })).status).toBe(200);
    expect(await rowOf(first)).toBeUndefined();
    expect(await opensPages(first)).toBe(false);
    expect(await opensPages(second)).toBe(false);
  });

  it("at once when its token is revoked, even by a write that leaves its session rows in place", async () => {
    // The check on every request is what ends it: a token revoked outside Fliq's API (by hand in
    // the database) leaves its rows, and they open nothing.
    const { project, token } = await createProject(db);
    const cookie = await signIn(token);
    await db.update(apiTokens).set({ revokedAt: new Date() }).where(eq(apiTokens.projectId, project.id));
    expect(await rowOf(cookie)).toBeDefined();
    expect(await opensPages(cookie)).toBe(false);
  });

  it("when its token is revoked from the dashboard itself, with its row deleted", async () => {
    const admin = await createProject(db, ["read", "write", "admin"]);
    const { cookie } = await openSession(admin.token);
    const page = await callDashboard("GET", "/dashboard/tokens", { cookie });
    const tokenId = /action="\/dashboard\/tokens\/([0-9a-f-]{36})\/revoke"/.exec(page.html)?.[1];
    const revoked = await callDashboard("POST", `/dashboard/tokens/${tokenId}/revoke`, {
      cookie,
      form: { _csrf: csrfTokenIn(page.html) },
    });
    expect(revoked.headers.get("location")).toBe("/dashboard/login?signed_out");
    expect(await rowOf(cookie)).toBeUndefined();
    expect(await opensPages(cookie)).toBe(false);
  });
});
