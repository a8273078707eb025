/**
 * The tick's part of recurring schedules, with an injected clock: each minute's window creates
 * that window's occurrences as jobs, across DST in two zones and month ends, under each missed
 * and overlap policy, never twice for one occurrence even when ticks race; and an occurrence
 * fires on its second through the real tick and receiver.
 */
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { openDatabase } from "../src/db/client";
import { jobs, schedules } from "../src/db/schema";
import { apiOccurrenceClaim } from "../src/dispatch/deliver-soon";
import { materializeDueSchedules, materializeSchedule } from "../src/dispatch/schedule-occurrences";
import { WINDOW_OVERLAP_MS } from "../src/jobs/timing";
import { readSettings } from "../src/settings";
import {
  callApi,
  insertJobRow,
  onRealPostgres,
  receivedAt,
  receiverUrl,
  runTickUntil,
  testEnv,
  useTestProject,
} from "./support/fliq";
import { insertScheduleRow, jobsOfSchedule, occurrencesOf, scheduleRow, useCleanSchedules } from "./support/schedules";

const { db, project, token } = await useTestProject();
useCleanSchedules(db);

const MINUTE = 60_000;
const at = (iso: string) => new Date(iso);

/** The tick of `minute`, on the injected clock: its window is [minute, minute + 65 s). */
function tickAt(minute: Date, database = db) {
  return materializeDueSchedules(
    database,
    { minute, windowEnd: new Date(minute.getTime() + MINUTE + WINDOW_OVERLAP_MS) },
    minute,
  );
}

/** Every minute's tick from `from` until `to`, one after another. */
async function tickEveryMinute(from: Date, to: Date) {
  for (let minute = from.getTime(); minute < to.getTime(); minute += MINUTE) await tickAt(new Date(minute));
}

describe("each minute's tick", () => {
  it("creates each occurrence once, as a job with the schedule's request, due at its time", async () => {
    const schedule = await insertScheduleRow(
      db,
      project.id,
      { cron: "*/5 * * * *", body: "tick", headers: { "X-Kind": "scheduled" }, labels: { team: "a" } },
      at("2026-01-01T12:00:00Z"),
    );
    await tickEveryMinute(at("2026-01-01T11:59:00Z"), at("2026-01-01T12:16:00Z"));
    const rows = await jobsOfSchedule(db, schedule.id);
    expect(occurrencesOf(rows)).toEqual([
      "2026-01-01T12:00:00.000Z",
      "2026-01-01T12:05:00.000Z",
      "2026-01-01T12:10:00.000Z",
      "2026-01-01T12:15:00.000Z",
    ]);
    for (const row of rows) {
      expect(row).toMatchObject({
        status: "scheduled",
        attempt: 0,
        url: schedule.url,
        body: "tick",
        headers: { "X-Kind": "scheduled" },
        labels: { team: "a" },
        maxRetries: schedule.maxRetries,
        timeoutMs: schedule.timeoutMs,
      });
      expect(row.runAt).toEqual(row.occurrenceAt);
      expect(row.scheduledAt).toEqual(row.occurrenceAt);
    }
    // Each occurrence has its own webhook-id: a separate run for the receiver.
    expect(new Set(rows.map((row) => row.webhookId)).size).toBe(4);
    const stored = await scheduleRow(db, schedule.id);
    expect(stored.nextRunAt).toEqual(at("2026-01-01T12:20:00Z"));
    expect(stored.lastOccurrenceAt).toEqual(at("2026-01-01T12:15:00Z"));
    // Bookkeeping is not a change: the schedule's ETag stays.
    expect(stored.updatedAt).toEqual(schedule.updatedAt);
  });

  it("creates an occurrence in the 5 s overlap a minute ahead, and not one just outside it", async () => {
    const schedule = await insertScheduleRow(db, project.id, { cron: "0 * * * *" }, at("2026-01-01T12:00:00Z"));
    await tickAt(at("2026-01-01T10:58:55Z"));
    expect(await jobsOfSchedule(db, schedule.id)).toEqual([]);
    await tickAt(at("2026-01-01T10:59:00Z"));
    expect(await jobsOfSchedule(db, schedule.id)).toEqual([]);
    await tickAt(at("2026-01-01T11:58:56Z"));
    expect(occurrencesOf(await jobsOfSchedule(db, schedule.id))).toEqual(["2026-01-01T12:00:00.000Z"]);
  });

  it.each([
    ["America/New_York", "30 2 * * *", "2026-03-08T05:00:00Z", "2026-03-08T09:00:00Z", ["2026-03-08T07:00:00.000Z"]],
    ["Europe/Berlin", "30 2 * * *", "2026-03-29T00:00:00Z", "2026-03-29T03:00:00Z", ["2026-03-29T01:00:00.000Z"]],
    ["America/New_York", "30 1 * * *", "2026-11-01T04:00:00Z", "2026-11-01T08:00:00Z", ["2026-11-01T05:30:00.000Z"]],
    ["Europe/Berlin", "30 2 * * *", "2026-10-25T00:00:00Z", "2026-10-25T03:00:00Z", ["2026-10-25T00:30:00.000Z"]],
  ])(
    "in %s, %s fires exactly once on a DST change day (every minute ticked)",
    async (timezone, cron, from, to, expected) => {
      const schedule = await insertScheduleRow(db, project.id, { cron, timezone }, at(from));
      await tickEveryMinute(at(from), at(to));
      expect(occurrencesOf(await jobsOfSchedule(db, schedule.id))).toEqual(expected);
    },
  );

  it("at month ends: L is the 29th in a leap February and the 28th otherwise; 31 skips short months", async () => {
    const last = await insertScheduleRow(db, project.id, { cron: "0 9 L * *" }, at("2028-02-01T00:00:00Z"));
    const thirtyFirst = await insertScheduleRow(db, project.id, { cron: "0 9 31 * *" }, at("2028-02-01T00:00:00Z"));
    for (const minute of ["2028-02-28T09:00:00Z", "2028-02-29T09:00:00Z", "2028-03-31T09:00:00Z"]) {
      await tickAt(at(minute));
    }
    expect(occurrencesOf(await jobsOfSchedule(db, last.id))).toEqual([
      "2028-02-29T09:00:00.000Z",
      "2028-03-31T09:00:00.000Z",
    ]);
    expect(occurrencesOf(await jobsOfSchedule(db, thirtyFirst.id))).toEqual(["2028-03-31T09:00:00.000Z"]);

    const nonLeap = await insertScheduleRow(db, project.id, { cron: "0 9 L * *" }, at("2027-02-01T00:00:00Z"));
    await tickAt(at("2027-02-28T09:00:00Z"));
    expect(occurrencesOf(await jobsOfSchedule(db, nonLeap.id))).toEqual(["2027-02-28T09:00:00.000Z"]);
  });

  it("does not create occurrences of a paused schedule, nor before starts_at or from ends_at", async () => {
    const paused = await insertScheduleRow(db, project.id, { status: "paused" }, at("2026-01-01T12:00:00Z"));
    const bounded = await insertScheduleRow(
      db,
      project.id,
      { startsAt: at("2026-01-01T12:02:00Z"), endsAt: at("2026-01-01T12:04:00Z") },
      at("2026-01-01T12:00:00Z"),
    );
    await tickEveryMinute(at("2026-01-01T12:00:00Z"), at("2026-01-01T12:10:00Z"));
    expect(await jobsOfSchedule(db, paused.id)).toEqual([]);
    expect(occurrencesOf(await jobsOfSchedule(db, bounded.id))).toEqual([
      "2026-01-01T12:02:00.000Z",
      "2026-01-01T12:03:00.000Z",
    ]);
    expect((await scheduleRow(db, bounded.id)).nextRunAt).toBeNull();
  });
});

describe("a schedule that can no longer be planned", () => {
  it("is left out, and the tick still creates every other schedule's occurrences", async () => {
    const broken = await insertScheduleRow(db, project.id, {}, at("2026-01-01T12:00:00Z"));
    await db.update(schedules).set({ cron: "not a cron" }).where(eq(schedules.id, broken.id));
    const healthy = await insertScheduleRow(db, project.id, {}, at("2026-01-01T12:00:00Z"));
    expect(await tickAt(at("2026-01-01T12:00:00Z"))).toBe(2);
    expect(occurrencesOf(await jobsOfSchedule(db, healthy.id))).toHaveLength(2);
    expect(await jobsOfSchedule(db, broken.id)).toEqual([]);
    expect((await scheduleRow(db, broken.id)).nextRunAt).toEqual(broken.nextRunAt);
  });
});

describe("missed occurrences (ticks that did not run)", () => {
  it("are dropped under missed_policy skip; the next ones run as planned", async () => {
    const schedule = await insertScheduleRow(db, project.id, { cron: "0 * * * *" }, at("2026-01-01T08:00:00Z"));
    await tickAt(at("2026-01-01T12:30:00Z"));
    expect(await jobsOfSchedule(db, schedule.id)).toEqual([]);
    expect((await scheduleRow(db, schedule.id)).nextRunAt).toEqual(at("2026-01-01T13:00:00Z"));
    await tickAt(at("2026-01-01T12:59:00Z"));
    expect(occurrencesOf(await jobsOfSchedule(db, schedule.id))).toEqual(["2026-01-01T13:00:00.000Z"]);
  });

  it("run once, the most recent only, under run_latest: due at once", async () => {
    const schedule = await insertScheduleRow(
      db,
      project.id,
      { cron: "0 * * * *", missedPolicy: "run_latest" },
      at("2026-01-01T08:00:00Z"),
    );
    await tickAt(at("2026-01-01T12:30:00Z"));
    const rows = await jobsOfSchedule(db, schedule.id);
    expect(occurrencesOf(rows)).toEqual(["2026-01-01T12:00:00.000Z"]);
    expect(rows[0].runAt).toEqual(at("2026-01-01T12:00:00Z"));
    // A second tick of the same minute has nothing more to do.
    await tickAt(at("2026-01-01T12:30:00Z"));
    expect(await jobsOfSchedule(db, schedule.id)).toHaveLength(1);
  });
});

describe("overlap_policy", () => {
  async function withRunUnderWay(overlapPolicy: "allow" | "skip", state: "running" | "retrying" | "finished") {
    const schedule = await insertScheduleRow(db, project.id, { overlapPolicy }, at("2026-01-01T12:01:00Z"));
    await insertJobRow(db, project.id, {
      scheduleId: schedule.id,
      occurrenceAt: at("2026-01-01T12:00:00Z"),
      scheduledAt: at("2026-01-01T12:00:00Z"),
      runAt: at("2026-01-01T12:00:30Z"),
      ...(state === "running" && { status: "running", attempt: 1, lockedUntil: at("2026-01-01T12:05:00Z") }),
      ...(state === "retrying" && { status: "scheduled", attempt: 1 }),
      ...(state === "finished" && { status: "succeeded", attempt: 1, finishedAt: at("2026-01-01T12:00:01Z") }),
    });
    await tickAt(at("2026-01-01T12:01:00Z"));
    const rows = await jobsOfSchedule(db, schedule.id);
    return { schedule, later: rows.filter((row) => row.occurrenceAt?.toISOString() !== "2026-01-01T12:00:00.000Z") };
  }

  it("skip: no occurrence while the previous run is running or waiting for a retry; its time passes", async () => {
    for (const state of ["running", "retrying"] as const) {
      const { schedule, later } = await withRunUnderWay("skip", state);
      expect(later, state).toEqual([]);
      expect((await scheduleRow(db, schedule.id)).nextRunAt).toEqual(at("2026-01-01T12:02:00Z"));
    }
  });

  it("skip: the occurrence is created once the previous run has finished", async () => {
    const { later } = await withRunUnderWay("skip", "finished");
    expect(occurrencesOf(later)).toEqual(["2026-01-01T12:01:00.000Z"]);
  });

  it("allow: occurrences are created while the previous run is still under way", async () => {
    const { later } = await withRunUnderWay("allow", "running");
    expect(occurrencesOf(later)).toEqual(["2026-01-01T12:01:00.000Z", "2026-01-01T12:02:00.000Z"]);
  });
});

describe("racing ticks", () => {
  // Truly concurrent connections need real Postgres: the embedded database runs every connection
  // in one session, where statements from several connections at once interfere.
  it.runIf(onRealPostgres)("never create one occurrence twice, whichever wins (racing connections)", async () => {
    const created = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        insertScheduleRow(db, project.id, { cron: i % 2 ? "* * * * *" : "*/2 * * * *" }, at("2026-01-01T12:00:00Z")),
      ),
    );
    const connections = Array.from({ length: 4 }, () => openDatabase(readSettings(testEnv)));
    try {
      // Four ticks of the same minute at once, then two consecutive minutes at once.
      const counts = await Promise.all(connections.map((c) => tickAt(at("2026-01-01T12:00:00Z"), c.db)));
      await Promise.all(connections.map((c, i) => tickAt(at(`2026-01-01T12:0${1 + (i % 2)}:00Z`), c.db)));
      expect(counts.reduce((sum, n) => sum + n, 0)).toBe(30);
    } finally {
      await Promise.all(connections.map((c) => c.close()));
    }
    for (const [i, schedule] of created.entries()) {
      const occurrences = occurrencesOf(await jobsOfSchedule(db, schedule.id));
      expect(new Set(occurrences).size).toBe(occurrences.length);
      expect(occurrences).toEqual(
        i % 2
          ? [
              "2026-01-01T12:00:00.000Z",
              "2026-01-01T12:01:00.000Z",
              "2026-01-01T12:02:00.000Z",
              "2026-01-01T12:03:00.000Z",
            ]
          : ["2026-01-01T12:00:00.000Z", "2026-01-01T12:02:00.000Z"],
      );
    }
  });

  it.runIf(onRealPostgres)("leave no planned occurrence behind a pause that races them", async () => {
    const created = await Promise.all(
      Array.from({ length: 10 }, () => insertScheduleRow(db, project.id, {}, at("2026-01-01T12:00:00Z"))),
    );
    const connections = Array.from({ length: 2 }, () => openDatabase(readSettings(testEnv)));
    try {
      await Promise.all([
        tickAt(at("2026-01-01T12:00:00Z"), connections[0].db),
        tickAt(at("2026-01-01T12:01:00Z"), connections[1].db),
        ...created.map((schedule) => callApi("POST", `/schedules/${schedule.id}/pause`, { token })),
      ]);
    } finally {
      await Promise.all(connections.map((c) => c.close()));
    }
    for (const schedule of created) {
      expect((await scheduleRow(db, schedule.id)).status).toBe("paused");
      // Whichever came first, a paused schedule has nothing waiting to fire.
      expect(await jobsOfSchedule(db, schedule.id)).toEqual([]);
    }
  });

  it("the database refuses a second job for one occurrence", async () => {
    const schedule = await insertScheduleRow(db, project.id);
    const occurrenceAt = at("2026-01-01T12:00:00Z");
    await insertJobRow(db, project.id, { scheduleId: schedule.id, occurrenceAt });
    await expect(insertJobRow(db, project.id, { scheduleId: schedule.id, occurrenceAt })).rejects.toThrow();
    expect(await db.select().from(jobs).where(eq(jobs.scheduleId, schedule.id))).toHaveLength(1);
  });
});

describe("occurrences created by the API", () => {
  it("are claimed for the API invocation to fire only when due before its window closes, less the timeout", async () => {
    const claim = apiOccurrenceClaim();
    const soon = await insertScheduleRow(db, project.id, { timeoutMs: 5_000 }, at("2026-01-01T12:01:00Z"));
    const [claimed] = await materializeSchedule(db, soon, at("2026-01-01T12:00:38Z"), claim);
    // 12:01:00 is 22 s away: inside 28 s less the 5 s timeout.
    expect(claimed).toMatchObject({ occurrenceAt: at("2026-01-01T12:01:00Z"), claimed: true });
    expect((await jobsOfSchedule(db, soon.id))[0]).toMatchObject({
      claimedBy: claim.claimant,
      lockedUntil: at("2026-01-01T12:01:30Z"),
    });

    const later = await insertScheduleRow(db, project.id, { timeoutMs: 5_000 }, at("2026-01-01T12:01:00Z"));
    const [unclaimed] = await materializeSchedule(db, later, at("2026-01-01T12:00:37Z"), claim);
    // 23 s away: left to the tick.
    expect(unclaimed).toMatchObject({ occurrenceAt: at("2026-01-01T12:01:00Z"), claimed: false });
    expect((await jobsOfSchedule(db, later.id))[0]).toMatchObject({ claimedBy: null, lockedUntil: null });
  });
});

describe("an occurrence through the real tick", () => {
  it("fires on its second, created by the API or by the tick, with the schedule's request", async () => {
    const byApiUrl = receiverUrl("ok");
    const created = await callApi("POST", "/schedules", {
      token,
      // A 60 s timeout keeps the API invocation from firing it itself: the tick does, here.
      json: { cron: "* * * * *", url: byApiUrl, body: "from the api", timeout_ms: 60_000 },
    });
    expect(created.status).toBe(201);
    // The API created its first occurrence (the next whole minute) at once; the tick creates the other's.
    const [planned] = await jobsOfSchedule(db, created.body.id);
    const nextMinute = planned.occurrenceAt as Date;
    expect(nextMinute.getTime() % MINUTE).toBe(0);
    const byTick = await insertScheduleRow(db, project.id, { url: receiverUrl("ok") }, nextMinute);
    // A tick whose window closes just after that minute (it waits for it, as a real one does).
    await runTickUntil(new Date(nextMinute.getTime() + 300));
    for (const url of [byApiUrl, byTick.url]) {
      const received = await receivedAt(url);
      expect(received, url).toHaveLength(1);
      expect(received[0].receivedAt).toBeGreaterThanOrEqual(nextMinute.getTime());
      expect(received[0].receivedAt - nextMinute.getTime()).toBeLessThan(1000);
      expect(received[0].headers["fliq-scheduled-at"]).toBe(nextMinute.toISOString());
    }
    expect((await receivedAt(byApiUrl))[0]).toMatchObject({ method: "POST", body: "from the api" });
    const detail = await callApi("GET", `/schedules/${created.body.id}`, { token });
    expect(detail.body.recent_runs).toEqual([
      expect.objectContaining({ status: "succeeded", occurrence_at: nextMinute.toISOString(), attempt: 1 }),
    ]);
  }, 90_000);
});
