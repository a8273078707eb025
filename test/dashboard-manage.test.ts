/**
 * The dashboard's schedule, token and signing-secret pages through its HTTP surface: what they
 * show, who may use them (write scope to act on schedules, admin scope for tokens and secrets),
 * and that their actions change exactly what they say, through the same code as the API.
 */
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { findSchedule } from "../src/db/schedules";
import { apiTokens, jobs } from "../src/db/schema";
import { callDashboard, openSession, textOf } from "./support/dashboard";
import { callApi, createProject, receivedAt, receiverUrl, useTestProject } from "./support/fliq";
import { insertScheduleRow, useCleanSchedules } from "./support/schedules";

const { db, project, token } = await useTestProject(["read", "write", "admin"]);
useCleanSchedules(db);

describe("schedule pages", () => {
  it("lists the project's schedules by status, and no other project's", async () => {
    const active = await insertScheduleRow(db, project.id, { cron: "0 9 * * 1" });
    const paused = await insertScheduleRow(db, project.id, { cron: "30 7 * * *", status: "paused" });
    const other = await createProject(db);
    const foreign = await insertScheduleRow(db, other.project.id);
    const { cookie } = await openSession(token);

    const all = await callDashboard("GET", "/dashboard/schedules", { cookie });
    expect(all.status).toBe(200);
    expect(all.html).toContain(`href="/dashboard/schedules/${active.id}"`);
    expect(all.html).toContain(`href="/dashboard/schedules/${paused.id}"`);
    expect(all.html).not.toContain(foreign.id);
    expect(all.html).toContain('aria-current="page">Schedules');

    const onlyPaused = await callDashboard("GET", "/dashboard/schedules?status=paused", { cookie });
    expect(onlyPaused.html).toContain(paused.id);
    expect(onlyPaused.html).not.toContain(active.id);
    const bad = await callDashboard("GET", "/dashboard/schedules?status=sleeping", { cookie });
    expect(bad.status).toBe(422);
  });

  it("shows a schedule's next fire times, its request with secrets redacted, and its runs", async () => {
    const schedule = await insertScheduleRow(db, project.id, {
      cron: "0 9 * * *",
      timezone: "Europe/Berlin",
      headers: { Authorization: "Bearer hunter2", "X-Flow": "digest", Accept: "text/plain" },
    });
    const { cookie } = await openSession(token);
    const page = await callDashboard("GET", `/dashboard/schedules/${schedule.id}`, { cookie });
    expect(page.status).toBe(200);
    const text = textOf(page.html);
    expect(text).toContain("0 9 * * * in Europe/Berlin");
    expect(page.html.match(/<li><time datetime="[^"]+T0[78]:00:00.000Z"/g)).toHaveLength(5);
    expect(text).toContain("Authorization: [redacted]");
    expect(text).toContain("X-Flow: [redacted]");
    expect(text).toContain("Accept: text/plain");
    expect(text).not.toContain("hunter2");
    expect(text).toContain("No run yet.");

    const other = await createProject(db);
    const { cookie: otherCookie } = await openSession(other.token);
    const foreign = await callDashboard("GET", `/dashboard/schedules/${schedule.id}`, { cookie: otherCookie });
    expect(foreign.status).toBe(404);
  });

  it("pauses, resumes and runs a schedule once, and a run shows among its runs", async () => {
    const url = receiverUrl("ok");
    const schedule = await insertScheduleRow(db, project.id, { cron: "0 0 1 1 *", url });
    const { cookie, csrf } = await openSession(token);
    const path = `/dashboard/schedules/${schedule.id}`;

    const paused = await callDashboard("POST", `${path}/pause`, { cookie, form: { _csrf: csrf } });
    expect(paused.status).toBe(303);
    expect(paused.headers.get("location")).toBe(`${path}?done=paused`);
    expect((await findSchedule(db, project.id, schedule.id))?.status).toBe("paused");
    const pausedPage = await callDashboard("GET", `${path}?done=paused`, { cookie });
    expect(textOf(pausedPage.html)).toContain("The schedule is paused");
    expect(textOf(pausedPage.html)).toContain("none while paused");
    expect(pausedPage.html).toContain(">Resume</button>");

    await callDashboard("POST", `${path}/resume`, { cookie, form: { _csrf: csrf } });
    expect((await findSchedule(db, project.id, schedule.id))?.status).toBe("active");

    const triggered = await callDashboard("POST", `${path}/trigger`, { cookie, form: { _csrf: csrf } });
    expect(triggered.headers.get("location")).toBe(`${path}?done=triggered`);
    expect(await receivedAt(url)).toHaveLength(1);
    const [run] = await db.select().from(jobs).where(eq(jobs.scheduleId, schedule.id));
    const page = await callDashboard("GET", path, { cookie });
    expect(page.html).toContain(`href="/dashboard/jobs/${run.id}"`);
    expect(textOf(page.html)).toContain("run by hand");
    // The run's own page links back to its schedule.
    const runPage = await callDashboard("GET", `/dashboard/jobs/${run.id}`, { cookie });
    expect(runPage.html).toContain(`href="/dashboard/schedules/${schedule.id}"`);
  });

  it("refuses schedule actions to a read token, without CSRF, or from another site", async () => {
    const schedule = await insertScheduleRow(db, project.id);
    const reader = await createProject(db, ["read"]);
    const readOnly = await insertScheduleRow(db, reader.project.id);
    const { cookie: readerCookie, csrf: readerCsrf } = await openSession(reader.token);
    const readerPage = await callDashboard("GET", `/dashboard/schedules/${readOnly.id}`, { cookie: readerCookie });
    expect(textOf(readerPage.html)).toContain("This token has the read scope only");
    const refused = await callDashboard("POST", `/dashboard/schedules/${readOnly.id}/pause`, {
      cookie: readerCookie,
      form: { _csrf: readerCsrf },
    });
    expect(refused.status).toBe(403);
    expect((await findSchedule(db, reader.project.id, readOnly.id))?.status).toBe("active");

    const { cookie, csrf } = await openSession(token);
    const noCsrf = await callDashboard("POST", `/dashboard/schedules/${schedule.id}/pause`, { cookie, form: {} });
    expect(noCsrf.status).toBe(403);
    const crossSite = await callDashboard("POST", `/dashboard/schedules/${schedule.id}/pause`, {
      cookie,
      form: { _csrf: csrf },
      headers: { origin: "https://evil.example" },
    });
    expect(crossSite.status).toBe(403);
    expect((await findSchedule(db, project.id, schedule.id))?.status).toBe("active");
  });
});

describe("tokens and signing secrets", () => {
  it("needs the admin scope: others get no link and a 403 that says why", async () => {
    const writer = await createProject(db, ["read", "write"]);
    const { cookie, csrf } = await openSession(writer.token);
    const overview = await callDashboard("GET", "/dashboard", { cookie });
    expect(overview.html).not.toContain('href="/dashboard/tokens"');
    const page = await callDashboard("GET", "/dashboard/tokens", { cookie });
    expect(page.status).toBe(403);
    expect(textOf(page.html)).toContain('needs a token with the "admin" scope');
    const create = await callDashboard("POST", "/dashboard/tokens", { cookie, form: { _csrf: csrf, name: "x" } });
    expect(create.status).toBe(403);
    const rotate = await callDashboard("POST", "/dashboard/secrets/rotate", {
      cookie,
      form: { _csrf: csrf, grace_hours: "1" },
    });
    expect(rotate.status).toBe(403);
    const tokens = await db.select().from(apiTokens).where(eq(apiTokens.projectId, writer.project.id));
    expect(tokens).toHaveLength(1);
  });

  it("creates a token whose secret is shown once, on the answer to the form only", async () => {
    const { cookie, csrf } = await openSession(token);
    const created = await callDashboard("POST", "/dashboard/tokens", {
      cookie,
      form: { _csrf: csrf, name: "signup-worker", scopes: ["read", "write"] },
    });
    expect(created.status).toBe(201);
    expect(created.headers.get("cache-control")).toBe("no-store");
    const secret = /<pre id="shown-once-value">(fliq_sk_[\w-]+)<\/pre>/.exec(created.html)?.[1];
    expect(secret).toBeDefined();
    // The new token works on the API, with the scopes chosen.
    expect((await callApi("GET", "/jobs", { token: secret })).status).toBe(200);
    expect((await callApi("GET", "/tokens", { token: secret })).status).toBe(403);
    // Never again: the list shows its prefix only.
    const list = await callDashboard("GET", "/dashboard/tokens", { cookie });
    expect(list.html).not.toContain(secret as string);
    expect(list.html).toContain(`${(secret as string).slice(0, 12)}`);
    expect(textOf(list.html)).toContain("signup-worker");

    const invalid = await callDashboard("POST", "/dashboard/tokens", {
      cookie,
      form: { _csrf: csrf, name: "", scopes: ["read"] },
    });
    expect(invalid.status).toBe(422);
    const noScope = await callDashboard("POST", "/dashboard/tokens", { cookie, form: { _csrf: csrf, name: "n" } });
    expect(noScope.status).toBe(422);
  });

  it("revokes a token at once; revoking the session's own token signs it out", async () => {
    const { cookie, csrf } = await openSession(token);
    const created = await callDashboard("POST", "/dashboard/tokens", {
      cookie,
      form: { _csrf: csrf, name: "short-lived", scopes: ["read", "write", "admin"] },
    });
    const secret = /<pre id="shown-once-value">(fliq_sk_[\w-]+)<\/pre>/.exec(created.html)?.[1] as string;
    const [row] = await db.select().from(apiTokens).where(eq(apiTokens.name, "short-lived"));

    const revoked = await callDashboard("POST", `/dashboard/tokens/${row.id}/revoke`, {
      cookie,
      form: { _csrf: csrf },
    });
    expect(revoked.status).toBe(303);
    expect(revoked.headers.get("location")).toBe("/dashboard/tokens?done=revoked");
    expect((await callApi("GET", "/jobs", { token: secret })).status).toBe(401);
    const list = await callDashboard("GET", "/dashboard/tokens?done=revoked", { cookie });
    expect(textOf(list.html)).toContain("The token was revoked");

    const foreign = await createProject(db);
    const [foreignRow] = await db.select().from(apiTokens).where(eq(apiTokens.projectId, foreign.project.id));
    const notOurs = await callDashboard("POST", `/dashboard/tokens/${foreignRow.id}/revoke`, {
      cookie,
      form: { _csrf: csrf },
    });
    expect(notOurs.status).toBe(404);
    expect((await callApi("GET", "/jobs", { token: foreign.token })).status).toBe(200);

    // Signed in with the new admin token, revoking it ends that session.
    const own = await createProject(db, ["read", "write", "admin"]);
    const session = await openSession(own.token);
    const [ownRow] = await db.select().from(apiTokens).where(eq(apiTokens.projectId, own.project.id));
    const signedOut = await callDashboard("POST", `/dashboard/tokens/${ownRow.id}/revoke`, {
      cookie: session.cookie,
      form: { _csrf: session.csrf },
    });
    expect(signedOut.headers.get("location")).toBe("/dashboard/login?signed_out");
    expect(signedOut.headers.get("set-cookie")).toContain("Max-Age=0");
  });

  it("rotates the signing secret: the new one is shown once, and the old one signs until the grace ends", async () => {
    const { cookie, csrf } = await openSession(token);
    const before = await callApi("GET", "/signing-secrets", { token });
    expect(before.status).toBe(200);
    const [oldSecret] = (before.body.signing_secrets as Array<{ secret: string }>).map((one) => one.secret);
    const rotated = await callDashboard("POST", "/dashboard/secrets/rotate", {
      cookie,
      form: { _csrf: csrf, grace_hours: "2" },
    });
    expect(rotated.status).toBe(201);
    const newSecret = /<pre id="shown-once-value">(whsec_[\w+/=]+)<\/pre>/.exec(rotated.html)?.[1];
    expect(newSecret).toBeDefined();
    expect(newSecret).not.toBe(oldSecret);
    const after = await callApi("GET", "/signing-secrets", { token });
    expect(after.body.signing_secrets.map((one: { secret: string }) => one.secret)).toEqual([newSecret, oldSecret]);
    const page = await callDashboard("GET", "/dashboard/tokens", { cookie });
    expect(textOf(page.html)).toContain("stops signing");

    const invalid = await callDashboard("POST", "/dashboard/secrets/rotate", {
      cookie,
      form: { _csrf: csrf, grace_hours: "-1" },
    });
    expect(invalid.status).toBe(422);
    expect((await callApi("GET", "/signing-secrets", { token })).body.signing_secrets).toHaveLength(2);
  });
});

describe("signing secrets API", () => {
  it("needs the admin scope and answers only the caller's project", async () => {
    const writer = await createProject(db, ["read", "write"]);
    expect((await callApi("GET", "/signing-secrets", { token: writer.token })).status).toBe(403);
    expect((await callApi("POST", "/signing-secrets/rotate", { token: writer.token, json: {} })).status).toBe(403);
    const admin = await createProject(db, ["admin"]);
    const listed = await callApi("GET", "/signing-secrets", { token: admin.token });
    expect(listed.body).toEqual({
      signing_secrets: [{ secret: admin.signingSecret, created_at: expect.any(String), expires_at: null }],
    });
    const rotated = await callApi("POST", "/signing-secrets/rotate", { token: admin.token, json: { grace_hours: 0 } });
    expect(rotated.status).toBe(201);
    // No grace: the old secret stops signing at once.
    const now = await callApi("GET", "/signing-secrets", { token: admin.token });
    expect(now.body.signing_secrets.map((one: { secret: string }) => one.secret)).toEqual([
      rotated.body.signing_secret,
    ]);
    const unknownField = await callApi("POST", "/signing-secrets/rotate", { token: admin.token, json: { grace: 1 } });
    expect(unknownField.status).toBe(422);
  });
});

describe("the dashboard's address", () => {
  it("answers /dashboard/ as /dashboard", async () => {
    const { cookie } = await openSession(token);
    const page = await callDashboard("GET", "/dashboard/", { cookie });
    expect(page.status).toBe(200);
    expect(page.html).toContain("<h1>Overview</h1>");
  });
});
