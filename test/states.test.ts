/// <reference types="vite/client" />
/**
 * The job lifecycle as the code enforces it. Every guarded statement of src/db/jobs.ts takes its
 * status list from GUARDED_MOVES; here each of its moves is held to the transition table, the
 * table to what the statements do, the statements' source to the table (no status list of its
 * own), and the database to what a status means for `finished_at`.
 */
import { sql } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import jobsSource from "../src/db/jobs.ts?raw";
import {
  canTransition,
  FINISHED_STATUSES,
  GUARDED_MOVES,
  isFinished,
  JOB_STATUSES,
  type JobStatus,
  TRANSITIONS,
} from "../src/jobs/states";
import { createProject, insertJobRow, openTestDatabase } from "./support/fliq";

/** Every move a guarded statement may make: from a status its guard accepts to one it may leave. */
const moves = Object.entries(GUARDED_MOVES).flatMap(([statement, byStatus]) =>
  Object.entries(byStatus).flatMap(([from, tos]) =>
    (tos as readonly JobStatus[]).map((to) => ({ statement, from: from as JobStatus, to })),
  ),
);

describe("the guarded statements and the transitions", () => {
  for (const [statement, byStatus] of Object.entries(GUARDED_MOVES)) {
    it(`${statement} accepts only statuses there are, and moves a job only as the transitions allow`, () => {
      const accepted = Object.keys(byStatus);
      expect(accepted.length).toBeGreaterThan(0);
      for (const status of accepted) expect(JOB_STATUSES).toContain(status);
      const refused = moves.filter(
        (move) => move.statement === statement && move.from !== move.to && !canTransition(move.from, move.to),
      );
      expect(refused).toEqual([]);
    });
  }

  it("allows no transition that no statement makes", () => {
    const made = new Set(moves.map((move) => `${move.from} → ${move.to}`));
    const allowed = JOB_STATUSES.flatMap((from) => TRANSITIONS[from].map((to) => `${from} → ${to}`));
    expect(allowed.filter((transition) => !made.has(transition))).toEqual([]);
  });

  it("allows replay, and nothing out of a finished status but a new run", () => {
    for (const status of FINISHED_STATUSES) expect(TRANSITIONS[status]).toEqual(["scheduled"]);
    expect(canTransition("running", "canceled")).toBe(false);
  });

  it("leaves db/jobs.ts no status guard of its own: each comes from GUARDED_MOVES", () => {
    const jobStatus = `'(${JOB_STATUSES.join("|")})'`;
    const ownGuard = new RegExp(
      `(WHERE|AND)\\b.*\\bstatus\\s*(=|IN)\\s*\\(?${jobStatus}|(eq|inArray)\\(jobs\\.status,\\s*[["']`,
    );
    const ownGuards = jobsSource.split("\n").filter((line) => ownGuard.test(line));
    expect(ownGuards).toEqual([]);
  });
});

describe("the database holds finished_at to the status", () => {
  const database = openTestDatabase();
  const { db } = database;
  afterAll(() => database.close());

  it("refuses a finished job without finished_at, and an unfinished one with it", async () => {
    const { project } = await createProject(db);
    for (const status of JOB_STATUSES) {
      const job = await insertJobRow(db, project.id, {
        status,
        finishedAt: isFinished(status) ? new Date() : null,
      });
      const flipped = isFinished(status) ? sql`NULL` : sql`now()`;
      const refusal = await db.execute(sql`UPDATE jobs SET finished_at = ${flipped} WHERE id = ${job.id}`).then(
        () => "accepted",
        (error: Error) => (error.cause instanceof Error ? error.cause.message : error.message),
      );
      expect(refusal).toMatch(/jobs_finished_at_matches_status/);
      const [row] = (
        await db.execute<{ finished: boolean }>(sql`
        SELECT finished_at IS NOT NULL AS finished FROM jobs WHERE id = ${job.id}`)
      ).rows;
      expect(row.finished).toBe(isFinished(status));
    }
  });
});
