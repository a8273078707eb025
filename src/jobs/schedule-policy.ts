/**
 * Recurring schedules, the pure part: the status and policy lists (the database enums are built
 * from them), cron and time zone validation, the next fire times, and which occurrences a tick
 * or an API call turns into jobs. No clock reads: `now` and the window are passed in.
 *
 * Cron expressions are read by croner (5 fields, with `L`, `W`, `#` and `+`), in the schedule's
 * IANA time zone. DST rule (croner's, which follows Vixie cron; we treat every expression without
 * a `*` or step in its minute and hour fields as a fixed-time one):
 *  - A fixed time that does not exist (spring forward, e.g. 02:30 in New York on the second
 *    Sunday of March) fires once, at the first valid time after the gap (03:00 that day).
 *  - A fixed time that occurs twice (fall back, e.g. 01:30 on the first Sunday of November)
 *    fires once, at its first occurrence (01:30 daylight time).
 *  - An interval expression (`*` or a step in minutes or hours, e.g. every 30 minutes) follows
 *    real time: it does not fire in the skipped hour, and fires in both passes of a repeated hour.
 */
import { Cron } from "croner";
import { jobRuleViolations, type RuleViolation } from "./job-rules";

export const SCHEDULE_STATUSES = ["active", "paused"] as const;
export type ScheduleStatus = (typeof SCHEDULE_STATUSES)[number];

/**
 * Occurrences missed while a schedule was paused or while no tick ran (an outage):
 * `skip` drops them all; `run_latest` runs the most recent one once, as soon as possible.
 */
export const MISSED_POLICIES = ["skip", "run_latest"] as const;
export type MissedPolicy = (typeof MISSED_POLICIES)[number];

/**
 * Whether an occurrence is created while an earlier run of the schedule is still under way
 * (started and not finished: running, or waiting for a retry): `allow` creates it anyway;
 * `skip` drops it (the next occurrence is considered afresh).
 */
export const OVERLAP_POLICIES = ["allow", "skip"] as const;
export type OverlapPolicy = (typeof OVERLAP_POLICIES)[number];

/** How many upcoming fire times a schedule shows. */
export const NEXT_FIRE_TIMES = 5;

/** The timing fields of a schedule that decide when it fires. */
export interface ScheduleTiming {
  cron: string;
  timezone: string;
  startsAt: Date | null;
  endsAt: Date | null;
}

/** Whether `timezone` is an IANA time zone name this runtime knows. */
export function isTimeZone(timezone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: timezone });
    return true;
  } catch {
    return false;
  }
}

/** Why a cron expression cannot be used, or undefined when it can. */
export function cronProblem(cron: string): string | undefined {
  try {
    new Cron(cron, { mode: "5-part", timezone: "UTC" });
    return undefined;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return message.replace(/^CronPattern: /, "");
  }
}

/** croner reading the schedule's expression in its time zone, bounded by starts_at (inclusive) and ends_at (exclusive). */
function cronOf(timing: ScheduleTiming): Cron {
  return new Cron(timing.cron, {
    mode: "5-part",
    timezone: timing.timezone,
    fixedTimeRule: "no-wildcard",
    startAt: timing.startsAt ?? undefined,
    stopAt: timing.endsAt ?? undefined,
  });
}

/** The first fire time at or after `at`, or null when the schedule never fires again. */
export function firstFireAtOrAfter(timing: ScheduleTiming, at: Date): Date | null {
  return cronOf(timing).nextRun(new Date(at.getTime() - 1));
}

/** The next `count` fire times from `from` (inclusive). */
export function nextFireTimes(timing: ScheduleTiming, from: Date, count = NEXT_FIRE_TIMES): Date[] {
  return cronOf(timing).nextRuns(count, new Date(from.getTime() - 1));
}

export interface OccurrenceState extends ScheduleTiming {
  missedPolicy: MissedPolicy;
  overlapPolicy: OverlapPolicy;
  /** The first occurrence not yet handled (created or skipped); null when none is left. */
  nextRunAt: Date | null;
}

export interface OccurrenceWindow {
  /**
   * Occurrences before this instant that are still unhandled were missed (the tick: the start
   * of its minute; the API: now).
   */
  start: Date;
  /** Occurrences before this instant are handled now (the tick's window end). */
  end: Date;
  /**
   * For `overlap_policy: skip`, occurrences are created only before this instant (the end of
   * the tick's own minute), so the check against a run still under way is made as late as the
   * next tick allows, instead of a whole window ahead.
   */
  overlapEnd: Date;
}

export interface OccurrencePlan {
  /** Fire times to create as jobs, in order. */
  occurrences: Date[];
  /** The first occurrence left unhandled after these (the schedule's new next_run_at). */
  nextRunAt: Date | null;
}

/** Most occurrences one schedule creates in one window: a cron fires at most once a minute. */
const MAX_OCCURRENCES_PER_WINDOW = 10;

/**
 * Which occurrences to create now. Unhandled occurrences before `window.start` were missed:
 * all dropped (`skip`) or only the latest kept (`run_latest`); those in [start, end) are due
 * (for `overlap_policy: skip`, only those before `overlapEnd`).
 */
export function planOccurrences(schedule: OccurrenceState, window: OccurrenceWindow): OccurrencePlan {
  if (schedule.nextRunAt === null) return { occurrences: [], nextRunAt: null };
  const cron = cronOf(schedule);
  const occurrences: Date[] = [];
  if (schedule.nextRunAt < window.start && schedule.missedPolicy === "run_latest") {
    const [latestMissed] = cron.previousRuns(1, window.start);
    if (latestMissed && latestMissed >= schedule.nextRunAt) occurrences.push(latestMissed);
  }
  const end = schedule.overlapPolicy === "skip" ? window.overlapEnd : window.end;
  const from = Math.max(schedule.nextRunAt.getTime(), window.start.getTime());
  let next = cron.nextRun(new Date(from - 1));
  while (next && next < end && occurrences.length < MAX_OCCURRENCES_PER_WINDOW) {
    occurrences.push(next);
    next = cron.nextRun(next);
  }
  return { occurrences, nextRunAt: next };
}

export interface ScheduleShape extends ScheduleTiming {
  httpMethod: string;
  body: string | null;
  backoffInitialMs: number;
  backoffMaxMs: number;
}

/** Every cross-field rule a schedule breaks, as it will be stored; empty when it is valid. */
export function scheduleRuleViolations(schedule: ScheduleShape, now: Date): RuleViolation[] {
  // The request rules are a job's: each occurrence is one. Its time is now, which is always valid.
  const violations = jobRuleViolations({ ...schedule, scheduledAt: now }, now);
  if (!isTimeZone(schedule.timezone)) {
    violations.push({ path: "timezone", message: 'must be an IANA time zone name such as "Europe/Berlin" or "UTC"' });
    return violations;
  }
  const problem = cronProblem(schedule.cron);
  if (problem !== undefined) {
    violations.push({ path: "cron", message: `not a valid 5-field cron expression: ${problem}` });
    return violations;
  }
  if (schedule.startsAt && schedule.endsAt && schedule.endsAt <= schedule.startsAt) {
    violations.push({ path: "ends_at", message: "must be after starts_at" });
  } else if (firstFireAtOrAfter(schedule, now) === null) {
    violations.push({ path: "cron", message: "never fires (between starts_at and ends_at, from now on)" });
  }
  return violations;
}
