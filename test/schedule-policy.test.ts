/**
 * The schedule policy, pure: fire times in a time zone across DST and month ends, and which
 * occurrences a window creates under each missed and overlap policy.
 */
import { describe, expect, it } from "vitest";
import {
  cronProblem,
  firstFireAtOrAfter,
  isTimeZone,
  nextFireTimes,
  type OccurrenceState,
  planOccurrences,
  scheduleRuleViolations,
} from "../src/jobs/schedule-policy";

const at = (iso: string) => new Date(iso);
const isoList = (dates: Date[]) => dates.map((date) => date.toISOString());
const timing = (cron: string, timezone = "UTC") => ({ cron, timezone, startsAt: null, endsAt: null });

describe("fire times across DST", () => {
  it.each([
    // Spring forward: 02:30 does not exist that day; it fires once, at 03:00 local, then 02:30 again.
    ["America/New_York", "2026-03-07T12:00:00Z", ["2026-03-08T07:00:00.000Z", "2026-03-09T06:30:00.000Z"]],
    ["Europe/Berlin", "2026-03-28T12:00:00Z", ["2026-03-29T01:00:00.000Z", "2026-03-30T00:30:00.000Z"]],
  ])("a daily 02:30 in %s fires once on the day the hour is skipped", (zone, from, expected) => {
    expect(isoList(nextFireTimes(timing("30 2 * * *", zone), at(from), 2))).toEqual(expected);
  });

  it.each([
    // Fall back: 01:30 (New York) and 02:30 (Berlin) happen twice; each fires once, at the first.
    [
      "America/New_York",
      "30 1 * * *",
      "2026-10-31T12:00:00Z",
      ["2026-11-01T05:30:00.000Z", "2026-11-02T06:30:00.000Z"],
    ],
    ["Europe/Berlin", "30 2 * * *", "2026-10-24T12:00:00Z", ["2026-10-25T00:30:00.000Z", "2026-10-26T01:30:00.000Z"]],
  ])("a daily time in %s's repeated hour fires once", (zone, cron, from, expected) => {
    expect(isoList(nextFireTimes(timing(cron, zone), at(from), 2))).toEqual(expected);
  });

  it("a list of fixed hours is a fixed-time schedule too: the skipped 02:00 fires once at 03:00", () => {
    expect(isoList(nextFireTimes(timing("0 2,14 * * *", "Europe/Berlin"), at("2026-03-29T00:00:00Z"), 2))).toEqual([
      "2026-03-29T01:00:00.000Z",
      "2026-03-29T12:00:00.000Z",
    ]);
  });

  it("an every-30-minutes schedule follows real time: both passes of the repeated hour, none in the skipped one", () => {
    const fallBack = nextFireTimes(timing("*/30 * * * *", "America/New_York"), at("2026-11-01T05:00:00Z"), 5);
    // 01:00 and 01:30 daylight time, then 01:00 and 01:30 standard time: four real half hours.
    expect(isoList(fallBack)).toEqual([
      "2026-11-01T05:00:00.000Z",
      "2026-11-01T05:30:00.000Z",
      "2026-11-01T06:00:00.000Z",
      "2026-11-01T06:30:00.000Z",
      "2026-11-01T07:00:00.000Z",
    ]);
    const springForward = nextFireTimes(timing("*/30 * * * *", "Europe/Berlin"), at("2026-03-29T00:30:00Z"), 3);
    // 01:30 CET, then 03:00 CEST: the 02:00 and 02:30 that do not exist never fire.
    expect(isoList(springForward)).toEqual([
      "2026-03-29T00:30:00.000Z",
      "2026-03-29T01:00:00.000Z",
      "2026-03-29T01:30:00.000Z",
    ]);
  });
});

describe("fire times at month ends and with W and #", () => {
  it("L is the last day of each month, February in a leap year and not", () => {
    expect(isoList(nextFireTimes(timing("0 9 L * *"), at("2028-01-15T00:00:00Z"), 3))).toEqual([
      "2028-01-31T09:00:00.000Z",
      "2028-02-29T09:00:00.000Z",
      "2028-03-31T09:00:00.000Z",
    ]);
    expect(isoList(nextFireTimes(timing("0 9 L * *"), at("2027-02-01T00:00:00Z"), 2))).toEqual([
      "2027-02-28T09:00:00.000Z",
      "2027-03-31T09:00:00.000Z",
    ]);
  });

  it("day 31 fires only in months that have one", () => {
    expect(isoList(nextFireTimes(timing("0 9 31 * *"), at("2027-01-15T00:00:00Z"), 3))).toEqual([
      "2027-01-31T09:00:00.000Z",
      "2027-03-31T09:00:00.000Z",
      "2027-05-31T09:00:00.000Z",
    ]);
  });

  it("15W is the weekday nearest the 15th; 1#2 the second Monday; 5#L the last Friday", () => {
    // 15 Feb 2026 is a Sunday: Monday the 16th.
    expect(isoList(nextFireTimes(timing("0 9 15W * *"), at("2026-02-01T00:00:00Z"), 1))).toEqual([
      "2026-02-16T09:00:00.000Z",
    ]);
    expect(isoList(nextFireTimes(timing("0 9 * * 1#2"), at("2026-01-01T00:00:00Z"), 2))).toEqual([
      "2026-01-12T09:00:00.000Z",
      "2026-02-09T09:00:00.000Z",
    ]);
    expect(isoList(nextFireTimes(timing("0 9 * * 5#L"), at("2026-01-01T00:00:00Z"), 2))).toEqual([
      "2026-01-30T09:00:00.000Z",
      "2026-02-27T09:00:00.000Z",
    ]);
  });

  it("local time in the schedule's zone: 09:00 in Berlin is 08:00 UTC in winter, 07:00 in summer", () => {
    expect(isoList(nextFireTimes(timing("0 9 * * *", "Europe/Berlin"), at("2026-03-28T12:00:00Z"), 2))).toEqual([
      "2026-03-29T07:00:00.000Z",
      "2026-03-30T07:00:00.000Z",
    ]);
  });
});

describe("starts_at and ends_at", () => {
  const bounded = { ...timing("0 9 * * *"), startsAt: at("2026-01-05T09:00:00Z"), endsAt: at("2026-01-07T09:00:00Z") };

  it("includes an occurrence exactly at starts_at and excludes one exactly at ends_at", () => {
    expect(isoList(nextFireTimes(bounded, at("2026-01-01T00:00:00Z"), 5))).toEqual([
      "2026-01-05T09:00:00.000Z",
      "2026-01-06T09:00:00.000Z",
    ]);
    expect(firstFireAtOrAfter(bounded, at("2026-01-06T09:00:00.001Z"))).toBeNull();
  });

  it("firstFireAtOrAfter includes the instant itself and not one a millisecond before", () => {
    expect(firstFireAtOrAfter(timing("0 9 * * *"), at("2026-01-01T09:00:00Z"))?.toISOString()).toBe(
      "2026-01-01T09:00:00.000Z",
    );
    expect(firstFireAtOrAfter(timing("0 9 * * *"), at("2026-01-01T09:00:00.001Z"))?.toISOString()).toBe(
      "2026-01-02T09:00:00.000Z",
    );
  });
});

describe("planOccurrences", () => {
  const everyMinute = (overrides: Partial<OccurrenceState> = {}): OccurrenceState => ({
    ...timing("* * * * *"),
    missedPolicy: "skip",
    overlapPolicy: "allow",
    nextRunAt: at("2026-01-01T12:00:00Z"),
    ...overrides,
  });
  const tickAt = (minute: string) => ({
    start: at(minute),
    end: new Date(at(minute).getTime() + 65_000),
    overlapEnd: new Date(at(minute).getTime() + 60_000),
  });

  it("creates the window's occurrences, including one in the overlap, and moves next_run_at past them", () => {
    const plan = planOccurrences(everyMinute(), tickAt("2026-01-01T12:00:00Z"));
    expect(isoList(plan.occurrences)).toEqual(["2026-01-01T12:00:00.000Z", "2026-01-01T12:01:00.000Z"]);
    expect(plan.nextRunAt?.toISOString()).toBe("2026-01-01T12:02:00.000Z");
  });

  it("a window ending exactly at an occurrence leaves it for the next window", () => {
    const plan = planOccurrences(everyMinute({ cron: "0 * * * *" }), {
      start: at("2026-01-01T11:00:00Z"),
      end: at("2026-01-01T12:00:00Z"),
      overlapEnd: at("2026-01-01T12:00:00Z"),
    });
    expect(isoList(plan.occurrences)).toEqual([]);
    expect(plan.nextRunAt?.toISOString()).toBe("2026-01-01T12:00:00.000Z");
  });

  it("with overlap skip, creates only the occurrences of the tick's own minute", () => {
    const plan = planOccurrences(everyMinute({ overlapPolicy: "skip" }), tickAt("2026-01-01T12:00:00Z"));
    expect(isoList(plan.occurrences)).toEqual(["2026-01-01T12:00:00.000Z"]);
    expect(plan.nextRunAt?.toISOString()).toBe("2026-01-01T12:01:00.000Z");
  });

  it("drops every missed occurrence under missed_policy skip", () => {
    const plan = planOccurrences(
      everyMinute({ cron: "0 * * * *", nextRunAt: at("2026-01-01T08:00:00Z") }),
      tickAt("2026-01-01T12:30:00Z"),
    );
    expect(plan.occurrences).toEqual([]);
    expect(plan.nextRunAt?.toISOString()).toBe("2026-01-01T13:00:00.000Z");
  });

  it("runs only the latest missed occurrence under run_latest, then the window's own", () => {
    const plan = planOccurrences(
      everyMinute({ cron: "*/30 * * * *", missedPolicy: "run_latest", nextRunAt: at("2026-01-01T08:00:00Z") }),
      tickAt("2026-01-01T12:30:00Z"),
    );
    expect(isoList(plan.occurrences)).toEqual(["2026-01-01T12:00:00.000Z", "2026-01-01T12:30:00.000Z"]);
    expect(plan.nextRunAt?.toISOString()).toBe("2026-01-01T13:00:00.000Z");
  });

  it("run_latest has nothing to run when nothing was missed", () => {
    const plan = planOccurrences(
      everyMinute({ cron: "0 * * * *", missedPolicy: "run_latest", nextRunAt: at("2026-01-01T13:00:00Z") }),
      tickAt("2026-01-01T12:30:00Z"),
    );
    expect(plan.occurrences).toEqual([]);
  });

  it("a schedule past its end has nothing left", () => {
    expect(planOccurrences(everyMinute({ nextRunAt: null }), tickAt("2026-01-01T12:00:00Z"))).toEqual({
      occurrences: [],
      nextRunAt: null,
    });
  });
});

describe("validation", () => {
  it("knows IANA zones and refuses others", () => {
    expect(isTimeZone("Europe/Berlin")).toBe(true);
    expect(isTimeZone("America/New_York")).toBe(true);
    expect(isTimeZone("Mars/Olympus")).toBe(false);
  });

  it("accepts 5-field expressions with extensions and refuses the rest with a reason", () => {
    for (const cron of ["* * * * *", "0 9 L * *", "0 9 15W * *", "0 9 * * MON#2", "@daily"]) {
      expect(cronProblem(cron), cron).toBeUndefined();
    }
    expect(cronProblem("0 0 9 * * *")).toMatch(/5 parts/);
    expect(cronProblem("61 * * * *")).toMatch(/minute/);
    expect(cronProblem("every day")).toBeDefined();
  });

  it("names each broken rule of a schedule", () => {
    const now = at("2026-01-01T00:00:00Z");
    const shape = {
      ...timing("0 9 * * *"),
      httpMethod: "POST",
      body: null,
      backoffInitialMs: 1000,
      backoffMaxMs: 2000,
    };
    expect(scheduleRuleViolations(shape, now)).toEqual([]);
    const paths = (overrides: object) => scheduleRuleViolations({ ...shape, ...overrides }, now).map((v) => v.path);
    expect(paths({ timezone: "Mars/Olympus" })).toEqual(["timezone"]);
    expect(paths({ cron: "0 25 * * *" })).toEqual(["cron"]);
    expect(paths({ cron: "0 9 30 2 *" })).toEqual(["cron"]);
    expect(paths({ endsAt: at("2025-06-01T00:00:00Z") })).toEqual(["cron"]);
    expect(paths({ startsAt: at("2026-02-01T00:00:00Z"), endsAt: at("2026-01-15T00:00:00Z") })).toEqual(["ends_at"]);
    expect(paths({ httpMethod: "GET", body: "x" })).toEqual(["body"]);
  });
});
