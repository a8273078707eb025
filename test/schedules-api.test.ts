/**
 * The schedules API through the Worker's HTTP surface: create (with Idempotency-Key), list,
 * read (next fire times, recent runs), change with If-Match, pause, resume (missed-run
 * policies), trigger and delete; refused input changes nothing.
 */
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { findJob } from "../src/db/jobs";
import { schedules } from "../src/db/schema";
import { callApi, createProject, insertJobRow, receivedAt, receiverUrl, useTestProject } from "./support/fliq";
import { insertScheduleRow, jobsOfSchedule, scheduleRow, useCleanSchedules } from "./support/schedules";

const { db, project, token } = await useTestProject();
useCleanSchedules(db);

const MINUTE = 60_000;
const nextMinuteAfter = (date: Date) => new Date(Math.floor(date.getTime() / MINUTE) * MINUTE + MINUTE);

/**
 * An every-minute schedule whose occurrences are left to the tick: with a 60 s timeout none is
 * due soon enough for the API invocation to fire it itself (see deliver-soon).
 */
const tickOnly = { cron: "* * * * *", url: "https://example.com/every-minute", timeout_ms: 60_000 };

const berlinNightly = {
  cron: "30 2 * * *",
  timezone: "Europe/Berlin",
  url: "https://example.com/nightly",
  body: '{"report":"daily"}',
  headers: { "Content-Type": "application/json" },
  labels: { team: "billing" },
  starts_at: "2027-03-27T00:00:00Z",
  max_retries: 5,
  retry_backoff: { initial_delay_ms: 2_000, max_delay_ms: 60_000 },
  missed_policy: "run_latest",
  overlap_policy: "skip",
};

async function listAll(query = "") {
  const response = await callApi("GET", `/schedules${query}`, { token });
  expect(response.status).toBe(200);
  return response.body.schedules as Array<{ id: string }>;
}

describe("POST /schedules", () => {
  it("stores the schedule and shows its next 5 fire times in its zone, across a DST change", async () => {
    const created = await callApi("POST", "/schedules", { token, json: berlinNightly });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      status: "active",
      cron: "30 2 * * *",
      timezone: "Europe/Berlin",
      url: berlinNightly.url,
      http_method: "POST",
      headers: berlinNightly.headers,
      body: berlinNightly.body,
      labels: { team: "billing" },
      max_retries: 5,
      timeout_ms: 15_000,
      retry_backoff: { initial_delay_ms: 2_000, max_delay_ms: 60_000 },
      starts_at: "2027-03-27T00:00:00.000Z",
      ends_at: null,
      missed_policy: "run_latest",
      overlap_policy: "skip",
      next_run_at: "2027-03-27T01:30:00.000Z",
    });
    expect(created.headers.get("etag")).toMatch(/^".+"$/);

    const detail = await callApi("GET", `/schedules/${created.body.id}`, { token });
    expect(detail.status).toBe(200);
    expect(detail.headers.get("etag")).toBe(created.headers.get("etag"));
    expect(detail.body).toMatchObject({ ...created.body, recent_runs: [] });
    // 02:30 CET, then on 28 March 2027 (02:30 does not exist) 03:00 CEST, then 02:30 CEST.
    expect(detail.body.next_fire_times).toEqual([
      "2027-03-27T01:30:00.000Z",
      "2027-03-28T01:00:00.000Z",
      "2027-03-29T00:30:00.000Z",
      "2027-03-30T00:30:00.000Z",
      "2027-03-31T00:30:00.000Z",
    ]);
  });

  it("defaults to UTC, POST, skip and allow, and may start paused", async () => {
    const created = await callApi("POST", "/schedules", {
      token,
      json: { cron: "0 9 * * MON-FRI", url: "https://example.com/x", paused: true },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      timezone: "UTC",
      http_method: "POST",
      missed_policy: "skip",
      overlap_policy: "allow",
      status: "paused",
      max_retries: 3,
    });
    expect((await callApi("GET", `/schedules/${created.body.id}`, { token })).body.next_fire_times).toEqual([]);
  });

  it("creates an occurrence inside the minute under way at once", async () => {
    const before = new Date();
    const created = await callApi("POST", "/schedules", {
      token,
      json: { cron: "* * * * *", url: receiverUrl("ok"), timeout_ms: 60_000 },
    });
    const rows = await jobsOfSchedule(db, created.body.id);
    expect(rows.map((row) => row.occurrenceAt)).toEqual([nextMinuteAfter(before)]);
    expect(rows[0]).toMatchObject({ status: "scheduled", runAt: nextMinuteAfter(before), timeoutMs: 60_000 });
  });

  it.each([
    ["an invalid cron expression", { cron: "61 * * * *" }, "cron", /minute/],
    ["a 6-field expression", { cron: "0 0 9 * * *" }, "cron", /5 parts/],
    ["words", { cron: "every day at nine" }, "cron", /cron/],
    ["a cron that never fires", { cron: "0 9 30 2 *" }, "cron", /never fires/],
    ["an unknown time zone", { timezone: "Mars/Olympus" }, "timezone", /IANA/],
    [
      "ends_at before starts_at",
      { starts_at: "2027-02-01T00:00:00Z", ends_at: "2027-01-01T00:00:00Z" },
      "ends_at",
      /after/,
    ],
    ["ends_at in the past", { ends_at: "2020-01-01T00:00:00Z" }, "cron", /never fires/],
    ["a body on GET", { http_method: "GET", body: "x" }, "body", /GET/],
    ["a reserved header", { headers: { "webhook-id": "x" } }, "headers.webhook-id", /.+/],
    ["a non-http URL", { url: "ftp://example.com" }, "url", /http/],
    ["a metadata address", { url: "http://169.254.169.254/latest/meta-data" }, "url", /.+/],
    ["a private failure_url", { failure_url: "http://10.0.0.7/alerts" }, "failure_url", /.+/],
    ["an unknown field", { every: "day" }, "every", /not a field/],
    ["an unknown policy", { missed_policy: "run_all" }, "missed_policy", /.+/],
  ])("refuses %s with 422 naming the field, and creates nothing", async (_name, change, path, message) => {
    const response = await callApi("POST", "/schedules", {
      token,
      json: { cron: "0 9 * * *", url: "https://example.com/x", ...change },
    });
    expect(response.status).toBe(422);
    expect(response.body.error.code).toBe("validation_failed");
    const detail = response.body.error.details.find((d: { path: string }) => d.path === path);
    expect(detail, JSON.stringify(response.body.error.details)).toBeDefined();
    expect(detail.message).toMatch(message);
    expect(await listAll()).toEqual([]);
  });

  it("answers a repeat under one Idempotency-Key with the same schedule, and 409 for another request", async () => {
    const headers = { "Idempotency-Key": "nightly-1" };
    const first = await callApi("POST", "/schedules", { token, json: berlinNightly, headers });
    const repeat = await callApi("POST", "/schedules", { token, json: berlinNightly, headers });
    expect([first.status, repeat.status]).toEqual([201, 200]);
    expect(repeat.body.id).toBe(first.body.id);
    const other = await callApi("POST", "/schedules", {
      token,
      json: { ...berlinNightly, cron: "0 3 * * *" },
      headers,
    });
    expect(other.status).toBe(409);
    expect(other.body.error.code).toBe("idempotency_key_reused");
    expect(await listAll()).toHaveLength(1);
  });

  it("needs a token, and the write scope", async () => {
    expect((await callApi("POST", "/schedules", { json: berlinNightly })).status).toBe(401);
    const reader = await createProject(db, ["read"]);
    const refused = await callApi("POST", "/schedules", { token: reader.token, json: berlinNightly });
    expect(refused.status).toBe(403);
    expect((await callApi("GET", "/schedules", { token: reader.token })).status).toBe(200);
  });
});

describe("GET /schedules", () => {
  it("filters by status and label, and pages with a cursor, newest first", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const created = await callApi("POST", "/schedules", {
        token,
        json: { ...berlinNightly, labels: { team: i % 2 ? "a" : "b" }, paused: i === 4 },
      });
      ids.push(created.body.id);
    }
    const first = await callApi("GET", "/schedules?limit=2", { token });
    expect(first.body.schedules.map((s: { id: string }) => s.id)).toEqual([ids[4], ids[3]]);
    const second = await callApi("GET", `/schedules?limit=2&cursor=${first.body.next_cursor}`, { token });
    expect(second.body.schedules.map((s: { id: string }) => s.id)).toEqual([ids[2], ids[1]]);
    const third = await callApi("GET", `/schedules?limit=2&cursor=${second.body.next_cursor}`, { token });
    expect(third.body).toMatchObject({ schedules: [{ id: ids[0] }], next_cursor: null });

    expect((await listAll("?status=paused")).map((s) => s.id)).toEqual([ids[4]]);
    expect((await listAll("?label=team:a")).map((s) => s.id)).toEqual([ids[3], ids[1]]);
    expect((await listAll("?status=active&label=team:b")).map((s) => s.id)).toEqual([ids[2], ids[0]]);
    expect((await callApi("GET", "/schedules?status=ended", { token })).status).toBe(422);
    expect((await callApi("GET", "/schedules?cursor=nonsense", { token })).status).toBe(422);
  });

  it("shows only the caller's project; another project's schedule is not found", async () => {
    const other = await createProject(db);
    const theirs = await callApi("POST", "/schedules", { token: other.token, json: berlinNightly });
    expect(await listAll()).toEqual([]);
    expect((await callApi("GET", `/schedules/${theirs.body.id}`, { token })).status).toBe(404);
    expect((await callApi("GET", "/schedules/not-a-uuid", { token })).status).toBe(404);
  });
});

describe("PATCH /schedules/:id", () => {
  it("changes the schedule in place, only at the version If-Match names (412 otherwise)", async () => {
    const created = await callApi("POST", "/schedules", { token, json: berlinNightly });
    const etag = created.headers.get("etag") as string;
    const changed = await callApi("PATCH", `/schedules/${created.body.id}`, {
      token,
      json: { cron: "0 6 * * *", timezone: "America/New_York", body: "v2" },
      headers: { "If-Match": etag },
    });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({
      id: created.body.id,
      cron: "0 6 * * *",
      timezone: "America/New_York",
      body: "v2",
      // 06:00 EDT on the first day from starts_at.
      next_run_at: "2027-03-27T10:00:00.000Z",
    });
    expect(changed.headers.get("etag")).not.toBe(etag);
    const stale = await callApi("PATCH", `/schedules/${created.body.id}`, {
      token,
      json: { body: "v3" },
      headers: { "If-Match": etag },
    });
    expect(stale.status).toBe(412);
    expect(stale.body.error.code).toBe("precondition_failed");
    expect((await scheduleRow(db, created.body.id)).body).toBe("v2");
  });

  it("withdraws occurrences planned from the old version and plans the new one", async () => {
    const created = await callApi("POST", "/schedules", { token, json: tickOnly });
    const [planned] = await jobsOfSchedule(db, created.body.id);
    const changingAt = new Date();
    const changed = await callApi("PATCH", `/schedules/${created.body.id}`, {
      token,
      json: { body: "new body" },
    });
    const changedAt = new Date();
    expect(changed.status).toBe(200);
    const replanned = await jobsOfSchedule(db, created.body.id);
    expect(replanned).toHaveLength(1);
    expect(replanned[0].id).not.toBe(planned.id);
    expect(replanned[0].body).toBe("new body");
    // The first minute still ahead: the withdrawn occurrence's, unless a minute began meanwhile.
    expect([nextMinuteAfter(changingAt), nextMinuteAfter(changedAt)]).toContainEqual(replanned[0].occurrenceAt);

    await callApi("PATCH", `/schedules/${created.body.id}`, { token, json: { cron: "0 0 1 1 *" } });
    expect(await jobsOfSchedule(db, created.body.id)).toEqual([]);
  });

  it("refuses an invalid change with 422 and changes nothing", async () => {
    const created = await callApi("POST", "/schedules", { token, json: tickOnly });
    const before = await jobsOfSchedule(db, created.body.id);
    for (const json of [
      { cron: "* * *" },
      { timezone: "Nowhere/City" },
      { http_method: "GET", body: "x" },
      { id: "x" },
    ]) {
      const response = await callApi("PATCH", `/schedules/${created.body.id}`, { token, json });
      expect(response.status, JSON.stringify(json)).toBe(422);
    }
    const after = await callApi("GET", `/schedules/${created.body.id}`, { token });
    expect(after.headers.get("etag")).toBe(created.headers.get("etag"));
    expect(after.body).toMatchObject({ cron: "* * * * *", timezone: "UTC", body: null });
    expect(await jobsOfSchedule(db, created.body.id)).toEqual(before);
  });
});

describe("pause and resume", () => {
  it("pause withdraws planned occurrences and shows no fire times; resume plans them again", async () => {
    const created = await callApi("POST", "/schedules", { token, json: tickOnly });
    expect(await jobsOfSchedule(db, created.body.id)).toHaveLength(1);
    const paused = await callApi("POST", `/schedules/${created.body.id}/pause`, { token });
    expect(paused.status).toBe(200);
    expect(paused.body.status).toBe("paused");
    expect(await jobsOfSchedule(db, created.body.id)).toEqual([]);
    expect((await callApi("GET", `/schedules/${created.body.id}`, { token })).body.next_fire_times).toEqual([]);
    // Pausing again changes nothing.
    const again = await callApi("POST", `/schedules/${created.body.id}/pause`, { token });
    expect(again.headers.get("etag")).toBe(paused.headers.get("etag"));

    const resumingAt = new Date();
    const resumed = await callApi("POST", `/schedules/${created.body.id}/resume`, { token });
    const resumedAt = new Date();
    expect(resumed.body.status).toBe("active");
    const replanned = await jobsOfSchedule(db, created.body.id);
    expect(replanned).toHaveLength(1);
    // The first minute still ahead: the occurrence the pause withdrew, unless a minute began
    // since it was planned (then the next one).
    expect([nextMinuteAfter(resumingAt), nextMinuteAfter(resumedAt)]).toContainEqual(replanned[0].occurrenceAt);
  });

  it.each([
    ["skip", 1],
    ["run_latest", 2],
  ])(
    "resume after a long pause under %s runs %i occurrence(s): the latest missed only with run_latest",
    async (policy, count) => {
      const schedule = await insertScheduleRow(db, project.id, {
        status: "paused",
        missedPolicy: policy as "skip" | "run_latest",
        nextRunAt: new Date(Date.now() - 30 * MINUTE),
      });
      const now = new Date();
      const resumed = await callApi("POST", `/schedules/${schedule.id}/resume`, { token });
      expect(resumed.status).toBe(200);
      const rows = await jobsOfSchedule(db, schedule.id);
      expect(rows).toHaveLength(count);
      const upcoming = rows.at(-1)?.occurrenceAt as Date;
      expect(upcoming > now).toBe(true);
      if (policy === "run_latest") {
        // The most recent minute before the resume, due at once.
        expect(rows[0].occurrenceAt?.getTime()).toBe(upcoming.getTime() - MINUTE);
        expect(rows[0].runAt <= now).toBe(true);
      }
    },
  );
});

describe("POST /schedules/:id/trigger", () => {
  it("runs the schedule's request once now, linked to it, even while paused", async () => {
    const url = receiverUrl("ok");
    const created = await callApi("POST", "/schedules", {
      token,
      json: { cron: "0 0 1 1 *", url, body: "by hand", paused: true },
    });
    const triggered = await callApi("POST", `/schedules/${created.body.id}/trigger`, { token });
    expect(triggered.status).toBe(201);
    const received = await receivedAt(url);
    expect(received).toHaveLength(1);
    expect(received[0].body).toBe("by hand");
    expect((await findJob(db, project.id, triggered.body.id))?.status).toBe("succeeded");
    const detail = await callApi("GET", `/schedules/${created.body.id}`, { token });
    expect(detail.body.recent_runs).toEqual([
      expect.objectContaining({ job_id: triggered.body.id, status: "succeeded", occurrence_at: null, attempt: 1 }),
    ]);
    // The job shows its schedule, and GET /jobs lists a schedule's runs.
    expect(triggered.body.schedule_id).toBe(created.body.id);
    await insertJobRow(db, project.id);
    const runs = await callApi("GET", `/jobs?schedule_id=${created.body.id}`, { token });
    expect(runs.body.jobs.map((job: { id: string }) => job.id)).toEqual([triggered.body.id]);
    expect((await callApi("GET", "/jobs?schedule_id=nope", { token })).status).toBe(422);
  });
});

describe("DELETE /schedules/:id", () => {
  it("deletes the schedule and its planned occurrences; past runs stay as jobs", async () => {
    const created = await callApi("POST", "/schedules", { token, json: tickOnly });
    const past = await insertJobRow(db, project.id, {
      scheduleId: created.body.id,
      occurrenceAt: new Date(Date.now() - MINUTE),
      status: "succeeded",
      attempt: 1,
      finishedAt: new Date(),
    });
    expect(await jobsOfSchedule(db, created.body.id)).toHaveLength(2);
    const deleted = await callApi("DELETE", `/schedules/${created.body.id}`, { token });
    expect(deleted.status).toBe(200);
    expect(deleted.body.id).toBe(created.body.id);
    expect(await db.select().from(schedules).where(eq(schedules.id, created.body.id))).toEqual([]);
    const kept = await findJob(db, project.id, past.id);
    expect(kept).toMatchObject({ status: "succeeded", scheduleId: null });
    expect((await callApi("GET", `/schedules/${created.body.id}`, { token })).status).toBe(404);
    expect((await callApi("DELETE", `/schedules/${created.body.id}`, { token })).status).toBe(404);
  });
});
