/**
 * The dashboard through its HTTP surface: sign-in and the session cookie, CSRF and origin
 * checks on every action, read-only tokens, the pages' content (redacted secrets, attempts,
 * filters, overview numbers) and the actions, which act through the same code as the API.
 */
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { findJob } from "../src/db/jobs";
import { apiTokens, jobAttempts } from "../src/db/schema";
import { callDashboard, csrfTokenIn, ORIGIN, openSession, signIn, textOf } from "./support/dashboard";
import { createProject, insertJobRow, later, receivedAt, receiverUrl, useTestProject } from "./support/fliq";

const { db, project, token } = await useTestProject();

describe("sign in and sign out", () => {
  it("sends a visitor without a session to the sign-in page", async () => {
    for (const path of ["/dashboard", "/dashboard/jobs", `/dashboard/jobs/${crypto.randomUUID()}`]) {
      const response = await callDashboard("GET", path);
      expect(response.status).toBe(303);
      expect(response.headers.get("location")).toBe("/dashboard/login");
    }
    const login = await callDashboard("GET", "/dashboard/login");
    expect(login.status).toBe(200);
    expect(login.html).toContain('<label for="token">API token</label>');
    expect(login.html).toContain('<main id="main">');
  });

  it("sets an HttpOnly, Secure, SameSite=Strict cookie scoped to /dashboard for a valid token", async () => {
    const response = await callDashboard("POST", "/dashboard/login", { form: { token } });
    expect(response.status).toBe(303);
    expect(response.headers.get("location")).toBe("/dashboard");
    const cookie = response.headers.get("set-cookie") ?? "";
    expect(cookie).toMatch(/^fliq_session=[0-9a-f]{64};/);
    expect(cookie).not.toContain(token);
    expect(cookie).toContain("HttpOnly");
    expect(cookie).toContain("Secure");
    expect(cookie).toContain("SameSite=Strict");
    expect(cookie).toContain("Path=/dashboard");
    const overview = await callDashboard("GET", "/dashboard", { cookie: cookie.split(";")[0] });
    expect(overview.status).toBe(200);
    expect(overview.html).toContain("<h1>Overview</h1>");
    expect(overview.headers.get("cache-control")).toBe("no-store");
    expect(overview.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
  });

  it("refuses an unknown or malformed token with 401 and no cookie", async () => {
    for (const bad of [`fliq_sk_${"A".repeat(43)}`, "nonsense", ""]) {
      const response = await callDashboard("POST", "/dashboard/login", { form: { token: bad } });
      expect(response.status).toBe(401);
      expect(response.headers.get("set-cookie")).toBeNull();
      expect(textOf(response.html)).toContain("That token was not accepted");
    }
  });

  it("refuses a sign-in posted from another site", async () => {
    const response = await callDashboard("POST", "/dashboard/login", {
      form: { token },
      headers: { origin: "https://evil.example" },
    });
    expect(response.status).toBe(403);
    expect(response.headers.get("set-cookie")).toBeNull();
  });

  it("signs out only with the session's CSRF token, and expires the cookie", async () => {
    const { cookie, csrf } = await openSession(token);
    const forged = await callDashboard("POST", "/dashboard/logout", { cookie, form: { _csrf: "0".repeat(64) } });
    expect(forged.status).toBe(403);
    expect(forged.headers.get("set-cookie")).toBeNull();

    const response = await callDashboard("POST", "/dashboard/logout", { cookie, form: { _csrf: csrf } });
    expect(response.status).toBe(303);
    expect(response.headers.get("location")).toBe("/dashboard/login?signed_out");
    const cleared = response.headers.get("set-cookie") ?? "";
    expect(cleared).toMatch(/^fliq_session=;/);
    expect(cleared).toContain("Max-Age=0");
    expect(cleared).toContain("Path=/dashboard");
  });

  it("ends the session as soon as its token is revoked", async () => {
    const other = await createProject(db);
    const { cookie, csrf } = await openSession(other.token);
    const job = await insertJobRow(db, other.project.id, { runAt: later(3_600_000) });
    await db.update(apiTokens).set({ revokedAt: new Date() }).where(eq(apiTokens.projectId, other.project.id));

    const page = await callDashboard("GET", "/dashboard", { cookie });
    expect(page.status).toBe(303);
    expect(page.headers.get("location")).toBe("/dashboard/login");
    expect(page.headers.get("set-cookie")).toContain("Max-Age=0");
    const action = await callDashboard("POST", `/dashboard/jobs/${job.id}/cancel`, { cookie, form: { _csrf: csrf } });
    expect(action.status).toBe(401);
    expect((await findJob(db, other.project.id, job.id))?.status).toBe("scheduled");
  });
});

describe("actions are guarded", () => {
  it("refuses an action without the CSRF token, with another session's, or from another origin", async () => {
    const { cookie, csrf } = await openSession(token);
    const other = await createProject(db);
    const otherSession = await openSession(other.token);
    const job = await insertJobRow(db, project.id, { runAt: later(3_600_000) });
    const path = `/dashboard/jobs/${job.id}/cancel`;

    const attempts = [
      callDashboard("POST", path, { cookie, form: {} }),
      callDashboard("POST", path, { cookie, form: { _csrf: otherSession.csrf } }),
      callDashboard("POST", path, { cookie, form: { _csrf: csrf }, headers: { origin: "https://evil.example" } }),
      callDashboard("POST", path, { cookie, form: { _csrf: csrf }, headers: { "sec-fetch-site": "cross-site" } }),
    ];
    for (const response of await Promise.all(attempts)) {
      expect(response.status).toBe(403);
    }
    expect((await findJob(db, project.id, job.id))?.status).toBe("scheduled");

    const allowed = await callDashboard("POST", path, { cookie, form: { _csrf: csrf } });
    expect(allowed.status).toBe(303);
    expect((await findJob(db, project.id, job.id))?.status).toBe("canceled");
  });

  it("shows a read-only token every page but no enabled action, and refuses its actions with 403", async () => {
    const reader = await createProject(db, ["read"]);
    const { cookie, csrf } = await openSession(reader.token);
    const job = await insertJobRow(db, reader.project.id, { runAt: later(3_600_000) });

    const page = await callDashboard("GET", `/dashboard/jobs/${job.id}`, { cookie });
    expect(page.status).toBe(200);
    expect(textOf(page.html)).toContain("This token has the read scope only");
    const buttons = [...page.html.matchAll(/<button type="submit"[^>]*>([^<]*)</g)];
    const actionButtons = buttons.filter((m) => m[1] !== "Sign out");
    expect(actionButtons.map((m) => m[1])).toEqual(["Run now", "Cancel job…", "Reschedule"]);
    for (const [button] of actionButtons) expect(button).toContain("disabled");

    for (const action of ["cancel", "run"]) {
      const response = await callDashboard("POST", `/dashboard/jobs/${job.id}/${action}`, {
        cookie,
        form: { _csrf: csrf },
      });
      expect(response.status).toBe(403);
      expect(textOf(response.html)).toContain('has the read scope only; sign in with a token that has the "write"');
    }
    expect((await findJob(db, reader.project.id, job.id))?.status).toBe("scheduled");
  });

  it("answers 404 for another project's job, and its actions change nothing", async () => {
    const { cookie, csrf } = await openSession(token);
    const other = await createProject(db);
    const theirs = await insertJobRow(db, other.project.id, { runAt: later(3_600_000) });
    expect((await callDashboard("GET", `/dashboard/jobs/${theirs.id}`, { cookie })).status).toBe(404);
    expect((await callDashboard("GET", "/dashboard/jobs/not-a-uuid", { cookie })).status).toBe(404);
    for (const action of ["cancel", "run", "replay"]) {
      const response = await callDashboard("POST", `/dashboard/jobs/${theirs.id}/${action}`, {
        cookie,
        form: { _csrf: csrf },
      });
      expect(response.status).toBe(404);
    }
    const search = await callDashboard("GET", `/dashboard/jobs?id=${theirs.id}`, { cookie });
    expect(search.status).toBe(404);
    expect(textOf(search.html)).toContain(`No job with id "${theirs.id}" in this project.`);
    expect(await findJob(db, other.project.id, theirs.id)).toMatchObject({ status: "scheduled", attempt: 0 });
  });
});

describe("the job page", () => {
  it("shows the request with secret headers redacted, the schedule, and every attempt", async () => {
    const { cookie } = await openSession(token);
    const job = await insertJobRow(db, project.id, {
      status: "failed",
      attempt: 2,
      url: "https://example.test/hook",
      headers: { Authorization: "Bearer hunter2-secret", "X-Api-Key": "key-secret-77", "Content-Type": "text/plain" },
      body: '{"order": 42}',
      lastStatusCode: 500,
      lastError: "HTTP 500",
      finishedAt: new Date(),
    });
    await db.insert(jobAttempts).values([
      {
        jobId: job.id,
        attempt: 1,
        plannedAt: new Date("2026-11-28T10:00:00Z"),
        firedAt: new Date("2026-11-28T10:00:00.120Z"),
        latenessMs: 120,
        durationMs: 45,
        statusCode: 503,
        responseExcerpt: "upstream <down>",
        errorClass: "http_error",
        errorMessage: "HTTP 503",
        outcome: "retry",
      },
      {
        jobId: job.id,
        attempt: 2,
        plannedAt: new Date("2026-11-28T10:00:10Z"),
        firedAt: new Date("2026-11-28T10:00:10.050Z"),
        latenessMs: 50,
        durationMs: 2_500,
        statusCode: 500,
        responseExcerpt: "boom",
        errorClass: "http_error",
        errorMessage: "HTTP 500",
        outcome: "failed",
      },
    ]);
    const page = await callDashboard("GET", `/dashboard/jobs/${job.id}`, { cookie });
    expect(page.status).toBe(200);
    expect(page.html).not.toContain("hunter2-secret");
    expect(page.html).not.toContain("key-secret-77");
    const text = textOf(page.html);
    expect(text).toContain("Authorization: [redacted]");
    expect(text).toContain("X-Api-Key: [redacted]");
    expect(text).toContain("Content-Type: text/plain");
    expect(text).toContain('{"order": 42}');
    expect(text).toContain("Attempt 1: retry (HTTP 503)");
    expect(text).toContain(
      "Planned 2026-11-28 10:00:00.000 UTC Fired 2026-11-28 10:00:00.120 UTC Lateness 120 ms Duration 45 ms",
    );
    // The wait between them: from the first attempt's end (fired + 45 ms) to the second's planned time.
    expect(text).toContain("9.8 s backoff before attempt 2");
    expect(text).toContain("Attempt 2: failed (HTTP 500)");
    expect(text).toContain("Lateness 50 ms Duration 2.5 s");
    // Response excerpts are text, never markup.
    expect(page.html).toContain("upstream &lt;down&gt;");
    expect(text).toContain("up to 3, backoff");
    // A failed job can be replayed, not canceled or run.
    expect(page.html).toContain(`action="/dashboard/jobs/${job.id}/replay"`);
    expect(page.html).not.toContain(`action="/dashboard/jobs/${job.id}/cancel"`);
  });

  it("reloads itself while the job is about to run, and not otherwise", async () => {
    const { cookie } = await openSession(token);
    const due = await insertJobRow(db, project.id, { runAt: later(10_000) });
    const distant = await insertJobRow(db, project.id, { runAt: later(3_600_000) });
    const finished = await insertJobRow(db, project.id, { status: "succeeded", finishedAt: new Date() });
    const refreshes = async (id: string) =>
      (await callDashboard("GET", `/dashboard/jobs/${id}`, { cookie })).html.includes('http-equiv="refresh"');
    expect(await refreshes(due.id)).toBe(true);
    expect(await refreshes(distant.id)).toBe(false);
    expect(await refreshes(finished.id)).toBe(false);
  });
});

describe("job actions", () => {
  it("replays a failed job, which is delivered again and succeeds", async () => {
    const { cookie, csrf } = await openSession(token);
    const url = receiverUrl("ok");
    const job = await insertJobRow(db, project.id, { status: "failed", attempt: 1, url, finishedAt: new Date() });
    const response = await callDashboard("POST", `/dashboard/jobs/${job.id}/replay`, { cookie, form: { _csrf: csrf } });
    expect(response.status).toBe(303);
    expect(response.headers.get("location")).toBe(`/dashboard/jobs/${job.id}?done=replayed`);
    expect(await receivedAt(url)).toHaveLength(1);
    expect(await findJob(db, project.id, job.id)).toMatchObject({ status: "succeeded", attempt: 2 });
    const page = await callDashboard("GET", response.headers.get("location") ?? "", { cookie });
    expect(textOf(page.html)).toContain("The job was replayed");
    expect(textOf(page.html)).toContain("Attempt 2: succeeded (HTTP 200)");
  });

  it("runs a scheduled job now, and cancels another", async () => {
    const { cookie, csrf } = await openSession(token);
    const url = receiverUrl("ok");
    const soon = await insertJobRow(db, project.id, { url, runAt: later(3_600_000), scheduledAt: later(3_600_000) });
    const run = await callDashboard("POST", `/dashboard/jobs/${soon.id}/run`, { cookie, form: { _csrf: csrf } });
    expect(run.status).toBe(303);
    expect(await receivedAt(url)).toHaveLength(1);
    expect((await findJob(db, project.id, soon.id))?.status).toBe("succeeded");

    const other = await insertJobRow(db, project.id, { runAt: later(3_600_000) });
    const cancel = await callDashboard("POST", `/dashboard/jobs/${other.id}/cancel`, { cookie, form: { _csrf: csrf } });
    expect(cancel.status).toBe(303);
    expect((await findJob(db, project.id, other.id))?.status).toBe("canceled");
    // Canceling a finished job is the API's 409, as a page that says why and links back.
    const finished = await insertJobRow(db, project.id, { status: "succeeded", finishedAt: new Date() });
    const refused = await callDashboard("POST", `/dashboard/jobs/${finished.id}/cancel`, {
      cookie,
      form: { _csrf: csrf },
    });
    expect(refused.status).toBe(409);
    expect(textOf(refused.html)).toContain("The job has already succeeded; there is nothing to cancel.");
    expect(refused.html).toContain(`href="/dashboard/jobs/${finished.id}"`);
  });

  it("refuses to cancel a running job, says why, offers no Cancel button, and leaves the job running", async () => {
    const { cookie, csrf } = await openSession(token);
    const running = await insertJobRow(db, project.id, { status: "running", attempt: 1, lockedUntil: later(60_000) });
    const page = await callDashboard("GET", `/dashboard/jobs/${running.id}`, { cookie });
    expect(page.html).not.toContain(`action="/dashboard/jobs/${running.id}/cancel"`);
    const refused = await callDashboard("POST", `/dashboard/jobs/${running.id}/cancel`, {
      cookie,
      form: { _csrf: csrf },
    });
    expect(refused.status).toBe(409);
    expect(textOf(refused.html)).toContain("its callback may already be on its way, so it was not canceled");
    expect((await findJob(db, project.id, running.id))?.status).toBe("running");
  });

  it("reschedules a job to a time given in UTC, and refuses a malformed one with 422", async () => {
    const { cookie, csrf } = await openSession(token);
    const job = await insertJobRow(db, project.id, { runAt: later(3_600_000), scheduledAt: later(3_600_000) });
    const target = new Date(Math.floor(later(7_200_000).getTime() / 1000) * 1000);
    const local = target.toISOString().slice(0, 19);
    const response = await callDashboard("POST", `/dashboard/jobs/${job.id}/schedule`, {
      cookie,
      form: { _csrf: csrf, scheduled_at: local },
    });
    expect(response.status).toBe(303);
    const moved = await findJob(db, project.id, job.id);
    expect(moved?.scheduledAt.toISOString()).toBe(target.toISOString());
    expect(moved?.runAt.toISOString()).toBe(target.toISOString());

    const bad = await callDashboard("POST", `/dashboard/jobs/${job.id}/schedule`, {
      cookie,
      form: { _csrf: csrf, scheduled_at: "next tuesday" },
    });
    expect(bad.status).toBe(422);
    expect(textOf(bad.html)).toContain("scheduled_at");
    expect((await findJob(db, project.id, job.id))?.scheduledAt.toISOString()).toBe(target.toISOString());
  });
});

describe("the jobs list", () => {
  it("filters by status, label and URL prefix, pages by cursor, and finds a job by id", async () => {
    const { cookie } = await openSession(token);
    const a = await insertJobRow(db, project.id, {
      url: "https://a.example/x",
      labels: { team: "red" },
      createdAt: new Date("2026-01-01T00:00:01Z"),
    });
    const b = await insertJobRow(db, project.id, {
      url: "https://b.example/x",
      status: "failed",
      labels: { team: "blue" },
      createdAt: new Date("2026-01-01T00:00:02Z"),
    });
    const c = await insertJobRow(db, project.id, {
      url: "https://a.example/y",
      status: "failed",
      labels: { team: "blue" },
      createdAt: new Date("2026-01-01T00:00:03Z"),
    });
    const idsOn = (html: string) => [...html.matchAll(/href="\/dashboard\/jobs\/([0-9a-f-]{36})"/g)].map((m) => m[1]);

    const all = await callDashboard("GET", "/dashboard/jobs", { cookie });
    expect(idsOn(all.html)).toEqual([c.id, b.id, a.id]);
    const failed = await callDashboard("GET", "/dashboard/jobs?status=failed&label=&url_prefix=", { cookie });
    expect(idsOn(failed.html)).toEqual([c.id, b.id]);
    expect(failed.html).toMatch(/<input type="checkbox" name="status" value="failed" checked/);
    const blueOnA = await callDashboard("GET", "/dashboard/jobs?label=team%3Ablue&url_prefix=https%3A%2F%2Fa.", {
      cookie,
    });
    expect(idsOn(blueOnA.html)).toEqual([c.id]);

    const first = await callDashboard("GET", "/dashboard/jobs?limit=2", { cookie });
    expect(idsOn(first.html)).toEqual([c.id, b.id]);
    const next = /href="([^"]+)" rel="next"/.exec(first.html)?.[1]?.replace(/&amp;/g, "&");
    expect(next).toBeDefined();
    const second = await callDashboard("GET", next as string, { cookie });
    expect(idsOn(second.html)).toEqual([a.id]);
    expect(second.html).not.toContain('rel="next"');

    const found = await callDashboard("GET", `/dashboard/jobs?id=${b.id}`, { cookie });
    expect(found.status).toBe(303);
    expect(found.headers.get("location")).toBe(`/dashboard/jobs/${b.id}`);

    const badFilter = await callDashboard("GET", "/dashboard/jobs?label=nocolon", { cookie });
    expect(badFilter.status).toBe(422);
    expect(textOf(badFilter.html)).toContain('a label filter is "key:value"');
  });
});

describe("the overview", () => {
  it("counts jobs by status and sums up the last hour's attempts", async () => {
    const other = await createProject(db);
    const { cookie } = await openSession(other.token);
    const id = other.project.id;
    for (const status of ["scheduled", "scheduled", "failed", "succeeded"] as const) {
      await insertJobRow(db, id, { status, runAt: later(600_000) });
    }
    const done = await insertJobRow(db, id, { status: "succeeded" });
    const now = Date.now();
    await db.insert(jobAttempts).values(
      [100, 200, 300, 4_000].map((latenessMs, i) => ({
        jobId: done.id,
        attempt: i + 1,
        plannedAt: new Date(now - 60_000 - latenessMs),
        firedAt: new Date(now - 60_000),
        latenessMs,
        durationMs: 10,
        statusCode: i === 3 ? 200 : 500,
        outcome: i === 3 ? ("succeeded" as const) : ("retry" as const),
      })),
    );
    const page = await callDashboard("GET", "/dashboard", { cookie });
    expect(page.status).toBe(200);
    const text = textOf(page.html);
    expect(page.html).toMatch(/id="count-scheduled">2</);
    expect(page.html).toMatch(/id="count-succeeded">2</);
    expect(page.html).toMatch(/id="count-failed">1</);
    expect(page.html).toMatch(/id="count-canceled">0</);
    expect(text).toContain("Callbacks, last hour Attempts 4 Succeeded 25.0% Lateness p50 250 ms Lateness p99 3.9 s");
    expect(text).toContain("Callbacks, last day Attempts 4 Succeeded 25.0%");
    expect(page.html).toContain('<svg class="chart"');
    // Another project's attempts never count here.
    const mine = await callDashboard("GET", "/dashboard", { cookie: (await openSession(token)).cookie });
    expect(textOf(mine.html)).toContain("Callbacks, last hour Attempts 0 Succeeded –");
  });

  it("answers a page that does not exist with a 404 page", async () => {
    const cookie = await signIn(token);
    const response = await callDashboard("GET", "/dashboard/nowhere", { cookie });
    expect(response.status).toBe(404);
    expect(response.html).toContain("There is no such page.");
    expect(csrfTokenIn(response.html)).toMatch(/^[0-9a-f]{64}$/);
    expect(ORIGIN).toBe("https://fliq.test");
  });
});
