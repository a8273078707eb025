/**
 * Test support for recurring schedules: a factory for schedule rows in any state, the
 * occurrences a schedule has as jobs, and a clean slate before each test.
 */
import { asc, eq } from "drizzle-orm";
import { afterAll, beforeEach } from "vitest";
import type { Database } from "../../src/db/client";
import { insertSchedule } from "../../src/db/schedules";
import { type JobRow, jobs, type ScheduleRow, schedules } from "../../src/db/schema";
import { firstFireAtOrAfter } from "../../src/jobs/schedule-policy";
import { receiverUrl } from "./fliq";

/**
 * Removes every schedule before each test and after the file, so a tick in one test (or in a
 * later file) never creates another's occurrences.
 */
export function useCleanSchedules(db: Database) {
  beforeEach(() => db.delete(schedules));
  afterAll(() => db.delete(schedules));
}

/**
 * Inserts a schedule row; defaults describe an active every-minute UTC schedule whose first
 * unhandled occurrence is the first at or after `from` (default now).
 */
export async function insertScheduleRow(
  db: Database,
  projectId: string,
  overrides: Partial<ScheduleRow> = {},
  from = new Date(),
): Promise<ScheduleRow> {
  const timing = {
    cron: overrides.cron ?? "* * * * *",
    timezone: overrides.timezone ?? "UTC",
    startsAt: overrides.startsAt ?? null,
    endsAt: overrides.endsAt ?? null,
  };
  return insertSchedule(db, {
    id: crypto.randomUUID(),
    projectId,
    ...timing,
    url: receiverUrl("ok"),
    httpMethod: "POST",
    headers: {},
    body: null,
    maxRetries: 0,
    timeoutMs: 5_000,
    backoffInitialMs: 1_000,
    backoffMaxMs: 1_000,
    status: "active",
    missedPolicy: "skip",
    overlapPolicy: "allow",
    nextRunAt: firstFireAtOrAfter(timing, from),
    createdAt: new Date(),
    ...overrides,
  });
}

/** A schedule's jobs, by the time they were scheduled for. */
export async function jobsOfSchedule(db: Database, scheduleId: string): Promise<JobRow[]> {
  return db.select().from(jobs).where(eq(jobs.scheduleId, scheduleId)).orderBy(asc(jobs.scheduledAt));
}

/** The schedule row as stored now. */
export async function scheduleRow(db: Database, id: string): Promise<ScheduleRow> {
  const [row] = await db.select().from(schedules).where(eq(schedules.id, id));
  return row;
}

/** The ISO strings of the occurrences a schedule's jobs are for. */
export const occurrencesOf = (rows: JobRow[]) => rows.map((row) => row.occurrenceAt?.toISOString() ?? null);
