/**
 * Turns schedules' occurrences into jobs: the tick does it for every active schedule before it
 * claims its window; the API does it for one schedule when it is created, changed or resumed,
 * so an occurrence inside the minute under way is not missed. Either way the policy decides
 * (src/jobs/schedule-policy.ts) and one guarded statement writes (src/db/schedules.ts).
 */
import type { Database } from "../db/client";
import {
  type CreatedOccurrence,
  type DueSchedule,
  dueSchedules,
  materializeOccurrences,
  type OccurrenceBatch,
  type OccurrenceClaim,
} from "../db/schedules";
import type { ScheduleRow } from "../db/schema";
import { type OccurrenceWindow, planOccurrences } from "../jobs/schedule-policy";
import { nextTickAt, tickMinuteOf, tickWindowEnd } from "../jobs/timing";

/** Schedules read and written per statement by the tick. */
export const SCHEDULE_PAGE_SIZE = 500;
/** How often a tick plans a page again after losing a race for some of its schedules. */
const MAX_REPLANS = 3;

function batchFor(schedule: DueSchedule, window: OccurrenceWindow): OccurrenceBatch {
  const plan = planOccurrences(schedule, window);
  return { schedule, occurrences: plan.occurrences, nextRunAt: plan.nextRunAt };
}

/**
 * The tick's plans for a page of schedules. A schedule that cannot be planned (its stored
 * expression or time zone no longer reads, say after a runtime update) is logged and left
 * out, so it never keeps the tick from the others' occurrences and its own jobs.
 */
function batchesFor(page: DueSchedule[], window: OccurrenceWindow): OccurrenceBatch[] {
  return page.flatMap((schedule) => {
    try {
      return [batchFor(schedule, window)];
    } catch (error) {
      console.error("schedule cannot be planned", schedule.id, error);
      return [];
    }
  });
}

/**
 * The tick's part: creates the occurrences of every active schedule that fall in the tick's
 * window [minute, windowEnd), and missed ones per each schedule's policy, page by page.
 * Returns how many jobs it created.
 */
export async function materializeDueSchedules(
  db: Database,
  window: { minute: Date; windowEnd: Date },
  now: Date,
): Promise<number> {
  const occurrenceWindow: OccurrenceWindow = {
    start: window.minute,
    end: window.windowEnd,
    overlapEnd: nextTickAt(window.minute),
  };
  let created = 0;
  let after: string | undefined;
  let replans = 0;
  for (;;) {
    const page = await dueSchedules(db, window.windowEnd, SCHEDULE_PAGE_SIZE, after);
    const batches = batchesFor(page, occurrenceWindow);
    const result = await materializeOccurrences(db, batches, now);
    created += result.created.length;
    // A plan that did not hold (a racing tick or an API change got there first) is made again
    // from the schedule as it is now: read again, it is due still, or no longer.
    if (result.advanced.length < batches.length && replans < MAX_REPLANS) {
      replans++;
      continue;
    }
    if (page.length < SCHEDULE_PAGE_SIZE) return created;
    after = page[page.length - 1].id;
  }
}

/** The window of the tick under way at `now`: its minute's start to its end plus the overlap. */
export function currentTickWindow(now: Date): OccurrenceWindow {
  const minute = tickMinuteOf(now);
  return { start: now, end: tickWindowEnd(minute), overlapEnd: nextTickAt(minute) };
}

/**
 * The API's part, planned for one schedule (just created, changed or resumed): its occurrences
 * before the end of the window of the tick under way, which picks them up within its poll
 * interval. Missed ones (before now) follow the schedule's missed policy. None when paused.
 */
export function planForCurrentWindow(schedule: ScheduleRow, now: Date): OccurrenceBatch[] {
  if (schedule.status !== "active") return [];
  return [batchFor(schedule, currentTickWindow(now))];
}

/** Creates the occurrences planForCurrentWindow plans, for a schedule just created. */
export async function materializeSchedule(
  db: Database,
  schedule: ScheduleRow,
  now: Date,
  claim?: OccurrenceClaim,
): Promise<CreatedOccurrence[]> {
  return (await materializeOccurrences(db, planForCurrentWindow(schedule, now), now, claim)).created;
}
