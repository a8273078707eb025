/**
 * The dashboard's time: attempts on a time axis with millisecond times, the waits between them
 * and the next attempt; the jobs list's date range, order, relative times and lateness; the
 * overview's p99 drawn only where measured; pages that follow live changes (and still work
 * without script), whose polls never keep an idle session alive; cancel that asks first.
 */
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { hashToken } from "../src/auth/tokens";
import { SESSION_IDLE_MS } from "../src/dashboard/session";
import { findJob } from "../src/db/jobs";
import { dashboardSessions, jobAttempts } from "../src/db/schema";
import { callDashboard, openSession, signIn, textOf } from "./support/dashboard";
import { createProject, insertJobRow, later, useTestProject } from "./support/fliq";

const { db, project, token } = await useTestProject();

const idsOn = (html: string) => [...html.matchAll(/href="\/dashboard\/jobs\/([0-9a-f-]{36})"/g)].map((m) => m[1]);

describe("a job's attempts on a time axis", () => {
  it("shows millisecond times, the backoff before each retry, and when the next attempt comes", async () => {
    const { cookie } = await openSession(token);
    const nextAt = new Date("2030-01-01T00:00:30.250Z");
    const job = await insertJobRow(db, project.id, { status: "scheduled", attempt: 2, runAt: nextAt });
    await db.insert(jobAttempts).values([
      {
        jobId: job.id,
        attempt: 1,
        plannedAt: new Date("2030-01-01T00:00:00.000Z"),
        firedAt: new Date("2030-01-01T00:00:00.462Z"),
        latenessMs: 462,
        durationMs: 38,
        statusCode: 503,
        errorClass: "http_error",
        outcome: "retry" as const,
      },
      {
        jobId: job.id,
        attempt: 2,
        plannedAt: new Date("2030-01-01T00:00:10.500Z"),
        firedAt: new Date("2030-01-01T00:00:10.507Z"),
        latenessMs: 7,
        durationMs: 1_243,
        statusCode: 502,
        errorClass: "http_error",
        outcome: "retry" as const,
      },
    ]);
    const page = await callDashboard("GET", `/dashboard/jobs/${job.id}`, { cookie });
    const text = textOf(page.html);
    expect(text).toContain("Planned 2030-01-01 00:00:00.000 UTC Fired 2030-01-01 00:00:00.462 UTC Lateness 462 ms");
    // 00:00:00.462 + 38 ms ends at .500; the retry was planned at 10.500: 10 s of backoff.
    expect(text).toContain("10.0 s backoff before attempt 2");
    // 10.507 + 1,243 ms ends at 11.750; the next attempt is planned at 30.250.
    expect(text).toContain("18.5 s backoff before attempt 3");
    expect(text).toContain("Attempt 3: next Planned 2030-01-01 00:00:30.250 UTC");
    // The axis: one marker per attempt, an open one for the next, and its ends to the millisecond.
    const axis = /<svg class="axis-chart"[\s\S]*?<\/svg>/.exec(page.html)?.[0] ?? "";
    expect(axis.match(/<circle class="o-retry"/g)).toHaveLength(2);
    expect(axis.match(/<circle class="next"/g)).toHaveLength(1);
    expect(axis.match(/<line class="wait"/g)).toHaveLength(2);
    expect(axis).toContain(">00:00:00.000<");
    expect(axis).toContain(">00:00:30.250<");
  });

  it("shows a job's first attempt as next, and a finished job without any next attempt", async () => {
    const { cookie } = await openSession(token);
    const waiting = await insertJobRow(db, project.id, { runAt: later(3_600_000) });
    const waitingText = textOf((await callDashboard("GET", `/dashboard/jobs/${waiting.id}`, { cookie })).html);
    expect(waitingText).toContain("Attempt 1: next");
    expect(waitingText).toMatch(/in (59|60) min/);
    const done = await insertJobRow(db, project.id, { status: "canceled", finishedAt: new Date() });
    const doneText = textOf((await callDashboard("GET", `/dashboard/jobs/${done.id}`, { cookie })).html);
    expect(doneText).toContain("No attempt yet.");
    expect(doneText).not.toContain(": next");
  });
});

describe("the jobs list's time", () => {
  it("orders by creation or by next run, with a time column that is the sort's and reads in order", async () => {
    const other = await createProject(db);
    const { cookie } = await openSession(other.token);
    const base = Date.now();
    // Created in one order, due in the opposite one.
    const first = await insertJobRow(db, other.project.id, {
      createdAt: new Date(base - 3_000),
      runAt: new Date(base + 10 * 60_000),
      scheduledAt: new Date(base + 10 * 60_000),
    });
    const second = await insertJobRow(db, other.project.id, {
      createdAt: new Date(base - 2_000),
      runAt: new Date(base + 20 * 60_000),
      scheduledAt: new Date(base + 20 * 60_000),
    });
    const third = await insertJobRow(db, other.project.id, {
      createdAt: new Date(base - 1_000),
      runAt: new Date(base + 30 * 60_000),
      scheduledAt: new Date(base + 30 * 60_000),
    });

    const newest = await callDashboard("GET", "/dashboard/jobs", { cookie });
    expect(idsOn(newest.html)).toEqual([third.id, second.id, first.id]);
    expect(newest.html).toContain('<th scope="col">Created</th>');
    const createdTimes = [...newest.html.matchAll(/data-label="Created"[\s\S]*?<time datetime="([^"]+)"/g)].map(
      (m) => m[1],
    );
    expect(createdTimes).toEqual([third, second, first].map((job) => job.createdAt.toISOString()));
    expect(textOf(newest.html)).toMatch(/\d s ago/);

    const soonest = await callDashboard("GET", "/dashboard/jobs?order=soonest", { cookie });
    expect(idsOn(soonest.html)).toEqual([first.id, second.id, third.id]);
    expect(soonest.html).toContain('<th scope="col">Next run</th>');
    const runTimes = [...soonest.html.matchAll(/data-label="Next run"[\s\S]*?<time datetime="([^"]+)"/g)].map(
      (m) => m[1],
    );
    expect(runTimes).toEqual([...runTimes].sort());
    expect(textOf(soonest.html)).toContain("in 9 min");
    expect(soonest.html).toMatch(/<option value="soonest" selected/);
    // The next page keeps the order.
    const paged = await callDashboard("GET", "/dashboard/jobs?order=soonest&limit=1", { cookie });
    expect(/href="([^"]+)" rel="next"/.exec(paged.html)?.[1]).toContain("order=soonest");
  });

  it("filters by a date range on the scheduled time, given in UTC, and refuses a malformed one as the API does", async () => {
    const other = await createProject(db);
    const { cookie } = await openSession(other.token);
    const at = (iso: string) => new Date(iso);
    const early = await insertJobRow(db, other.project.id, { scheduledAt: at("2030-05-01T10:00:00Z") });
    const inside = await insertJobRow(db, other.project.id, { scheduledAt: at("2030-05-01T12:00:00Z") });
    const atEnd = await insertJobRow(db, other.project.id, { scheduledAt: at("2030-05-01T14:00:00Z") });
    const range = await callDashboard(
      "GET",
      "/dashboard/jobs?scheduled_after=2030-05-01T11%3A00&scheduled_before=2030-05-01T14%3A00%3A00",
      { cookie },
    );
    expect(range.status).toBe(200);
    expect(idsOn(range.html)).toEqual([inside.id]);
    expect(idsOn(range.html)).not.toContain(early.id);
    expect(idsOn(range.html)).not.toContain(atEnd.id);
    expect(range.html).toContain('value="2030-05-01T11:00"');
    const bad = await callDashboard("GET", "/dashboard/jobs?scheduled_after=tomorrow", { cookie });
    expect(bad.status).toBe(422);
    expect(textOf(bad.html)).toContain(
      "The request is not valid: scheduled_after must be an ISO 8601 date-time with a time zone.",
    );
  });

  it("shows the lateness of each job's latest attempt, and none before the first or for a lost one", async () => {
    const other = await createProject(db);
    const { cookie } = await openSession(other.token);
    const fired = await insertJobRow(db, other.project.id, { status: "succeeded", attempt: 2 });
    const lost = await insertJobRow(db, other.project.id, { status: "scheduled", attempt: 1 });
    const fresh = await insertJobRow(db, other.project.id, {});
    const attempt = (jobId: string, n: number, latenessMs: number, outcome: "retry" | "succeeded" | "unknown") => ({
      jobId,
      attempt: n,
      plannedAt: new Date(),
      firedAt: new Date(),
      latenessMs,
      durationMs: 5,
      outcome,
    });
    await db
      .insert(jobAttempts)
      .values([
        attempt(fired.id, 1, 900, "retry"),
        attempt(fired.id, 2, 12, "succeeded"),
        attempt(lost.id, 1, 0, "unknown"),
      ]);
    const page = await callDashboard("GET", "/dashboard/jobs", { cookie });
    const latenessOf = (id: string) => {
      const row = page.html.slice(page.html.indexOf(`/dashboard/jobs/${id}"`));
      return textOf(/data-label="Lateness">([\s\S]*?)<\/td>/.exec(row)?.[1] ?? "");
    };
    expect(latenessOf(fired.id)).toBe("12 ms");
    expect(latenessOf(lost.id)).toBe("–");
    expect(latenessOf(fresh.id)).toBe("–");
  });
});

describe("the overview's lateness chart", () => {
  it("joins only neighbouring buckets: a bucket without attempts breaks the p99 line", async () => {
    const other = await createProject(db);
    const { cookie } = await openSession(other.token);
    const done = await insertJobRow(db, other.project.id, { status: "succeeded" });
    const bucketMs = 5 * 60_000;
    const now = Date.now();
    const currentBucket = Math.floor(now / bucketMs) * bucketMs;
    // Two attempts in buckets 40 minutes apart (nothing between), two in neighbouring buckets.
    const firedAt = [currentBucket - 50 * 60_000, currentBucket - 10 * 60_000, currentBucket - 5 * 60_000, now - 1];
    await db.insert(jobAttempts).values(
      firedAt.map((at, i) => ({
        jobId: done.id,
        attempt: i + 1,
        plannedAt: new Date(at - [7_100, 40, 30, 20][i]),
        firedAt: new Date(at),
        latenessMs: [7_100, 40, 30, 20][i],
        durationMs: 5,
        outcome: "succeeded" as const,
      })),
    );
    const page = await callDashboard("GET", "/dashboard", { cookie });
    const hourChart = /<svg class="chart"[^>]*aria-label="Lateness per 5.0 min, last hour[\s\S]*?<\/svg>/.exec(
      page.html,
    )?.[0];
    expect(hourChart).toBeDefined();
    // Four measured buckets: four dots each; one line through the three neighbours, none to the lone one.
    expect(hourChart?.match(/<circle class="dot99"/g)).toHaveLength(4);
    const lines = [...(hourChart ?? "").matchAll(/<polyline class="p99" points="([^"]+)"/g)].map((m) => m[1]);
    expect(lines).toHaveLength(1);
    expect(lines[0].split(" ")).toHaveLength(3);
  });
});

describe("pages that follow live changes", () => {
  it("load the dashboard's one script, allowed by the policy, and still say how to see changes without it", async () => {
    const { cookie } = await openSession(token);
    for (const path of ["/dashboard", "/dashboard/jobs"]) {
      const page = await callDashboard("GET", path, { cookie });
      expect(page.html).toContain('<script src="/dashboard/live.js" defer=""></script>');
      expect(page.html).toContain("<noscript>This page shows the state when it was loaded");
      expect(page.html).toMatch(/data-live-interval="5" data-server-now="\d+"/);
      expect(page.headers.get("content-security-policy")).toContain("script-src 'self'; connect-src 'self'");
    }
    const script = await callDashboard("GET", "/dashboard/live.js");
    expect(script.status).toBe(200);
    expect(script.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(script.html).toContain('"Fliq-Live": "1"');
    expect(script.html).toContain("[data-live]");
  });

  it("poll every second while a job is about to run, and reload without script only then", async () => {
    const { cookie } = await openSession(token);
    const due = await insertJobRow(db, project.id, { runAt: later(10_000) });
    const distant = await insertJobRow(db, project.id, { runAt: later(3_600_000) });
    const dueHtml = (await callDashboard("GET", `/dashboard/jobs/${due.id}`, { cookie })).html;
    expect(dueHtml).toContain('data-live-interval="1"');
    expect(dueHtml).toContain('<noscript><meta http-equiv="refresh" content="3"/></noscript>');
    const distantHtml = (await callDashboard("GET", `/dashboard/jobs/${distant.id}`, { cookie })).html;
    expect(distantHtml).toContain('data-live-interval="5"');
    expect(distantHtml).not.toContain('http-equiv="refresh"');
    for (const region of ["job-state", "job-schedule", "job-attempts"]) {
      expect(dueHtml).toContain(`<div id="${region}" data-live="">`);
    }
  });

  it("poll without keeping an idle session alive: a poll is not activity, and an idle session's poll is refused", async () => {
    const { token: own } = await createProject(db);
    const cookie = await signIn(own);
    const idHash = await hashToken(cookie.slice("fliq_session=".length));
    const seenAt = new Date(Date.now() - SESSION_IDLE_MS + 120_000);
    await db.update(dashboardSessions).set({ lastSeenAt: seenAt }).where(eq(dashboardSessions.idHash, idHash));
    const poll = await callDashboard("GET", "/dashboard/jobs", { cookie, headers: { "fliq-live": "1" } });
    expect(poll.status).toBe(200);
    const [row] = await db.select().from(dashboardSessions).where(eq(dashboardSessions.idHash, idHash));
    expect(row.lastSeenAt.toISOString()).toBe(seenAt.toISOString());
    // Past the idle timeout, the poll is sent to sign in like any request.
    await db
      .update(dashboardSessions)
      .set({ lastSeenAt: new Date(Date.now() - SESSION_IDLE_MS - 1_000) })
      .where(eq(dashboardSessions.idHash, idHash));
    const late = await callDashboard("GET", "/dashboard/jobs", { cookie, headers: { "fliq-live": "1" } });
    expect(late.status).toBe(303);
    expect(late.headers.get("location")).toBe("/dashboard/login");
  });
});

describe("cancel asks first", () => {
  it("opens a page that says what canceling does; only its button cancels", async () => {
    const { cookie, csrf } = await openSession(token);
    const job = await insertJobRow(db, project.id, { runAt: later(3_600_000) });
    const jobPage = await callDashboard("GET", `/dashboard/jobs/${job.id}`, { cookie });
    expect(jobPage.html).toContain(`<form method="get" action="/dashboard/jobs/${job.id}/cancel">`);
    const confirm = await callDashboard("GET", `/dashboard/jobs/${job.id}/cancel`, { cookie });
    expect(confirm.status).toBe(200);
    expect(textOf(confirm.html)).toContain("Cancel this job?");
    expect(textOf(confirm.html)).toContain("Once canceled, the job does not fire");
    expect(confirm.html).toContain(`<form method="post" action="/dashboard/jobs/${job.id}/cancel">`);
    expect((await findJob(db, project.id, job.id))?.status).toBe("scheduled");
    const canceled = await callDashboard("POST", `/dashboard/jobs/${job.id}/cancel`, { cookie, form: { _csrf: csrf } });
    expect(canceled.status).toBe(303);
    expect((await findJob(db, project.id, job.id))?.status).toBe("canceled");
    // Asked again for a job no longer scheduled, it goes back to the job.
    const again = await callDashboard("GET", `/dashboard/jobs/${job.id}/cancel`, { cookie });
    expect(again.status).toBe(303);
    expect(again.headers.get("location")).toBe(`/dashboard/jobs/${job.id}`);
  });
});
