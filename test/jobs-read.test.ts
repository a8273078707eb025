/**
 * Reading jobs back: the filtered, cursor-paged list, paged attempts, and the run-now and
 * replay actions that act on what the list shows.
 */
import { describe, expect, it } from "vitest";
import { listAttempts } from "../src/db/jobs";
import { jobAttempts } from "../src/db/schema";
import { callApi, createProject, insertJobRow, receivedAt, receiverUrl, useTestProject } from "./support/fliq";

const { db, project, token } = await useTestProject();

const at = (iso: string) => new Date(iso);
const ids = (body: { jobs: Array<{ id: string }> }) => body.jobs.map((job) => job.id);

/** Follows next_cursor to the end and returns every id seen, in order. */
async function allPages(query: string): Promise<string[]> {
  const seen: string[] = [];
  let cursor: string | null = null;
  do {
    const suffix: string = cursor ? `&cursor=${cursor}` : "";
    const page = await callApi("GET", `/jobs?${query}${suffix}`, { token });
    expect(page.status).toBe(200);
    seen.push(...ids(page.body));
    cursor = page.body.next_cursor;
  } while (cursor);
  return seen;
}

describe("GET /jobs", () => {
  it("lists newest first or soonest first, paged by cursor without repeats or gaps", async () => {
    const rows = [];
    for (let i = 0; i < 7; i++) {
      rows.push(
        await insertJobRow(db, project.id, {
          createdAt: at(`2026-01-01T00:00:0${i}Z`),
          runAt: at(`2027-01-0${7 - i}T00:00:00Z`),
        }),
      );
    }
    const newest = await allPages("limit=3");
    expect(newest).toEqual(rows.map((r) => r.id).reverse());
    const soonest = await allPages("limit=2&order=soonest");
    expect(soonest).toEqual(rows.map((r) => r.id).reverse());
  });

  it("keeps a cursor stable while jobs are inserted between pages", async () => {
    for (let i = 0; i < 4; i++) await insertJobRow(db, project.id, { createdAt: at(`2026-01-01T00:00:0${i}Z`) });
    const first = await callApi("GET", "/jobs?limit=2", { token });
    // Newer jobs arrive meanwhile: they belong before the first page, not in the next one.
    await insertJobRow(db, project.id, { createdAt: at("2026-06-01T00:00:00Z") });
    const second = await callApi("GET", `/jobs?limit=2&cursor=${first.body.next_cursor}`, { token });
    expect(second.body.jobs.map((j: { created_at: string }) => j.created_at)).toEqual([
      "2026-01-01T00:00:01.000Z",
      "2026-01-01T00:00:00.000Z",
    ]);
    expect(second.body.next_cursor).toBeNull();
  });

  it("filters by status, label, URL prefix and scheduled range", async () => {
    const a = await insertJobRow(db, project.id, {
      url: "https://a.example.com/x",
      labels: { team: "growth" },
      scheduledAt: at("2027-01-01T00:00:00Z"),
    });
    const b = await insertJobRow(db, project.id, { url: "https://b.example.com/x", status: "failed" });
    const c = await insertJobRow(db, project.id, { url: "https://a.example.com/y", status: "succeeded" });
    expect(ids((await callApi("GET", "/jobs?status=failed", { token })).body)).toEqual([b.id]);
    expect(new Set(ids((await callApi("GET", "/jobs?status=failed,succeeded", { token })).body))).toEqual(
      new Set([b.id, c.id]),
    );
    expect(ids((await callApi("GET", "/jobs?status=failed&status=succeeded", { token })).body)).toHaveLength(2);
    expect(ids((await callApi("GET", "/jobs?label=team:growth", { token })).body)).toEqual([a.id]);
    const prefix = encodeURIComponent("https://a.example.com/");
    expect(new Set(ids((await callApi("GET", `/jobs?url_prefix=${prefix}`, { token })).body))).toEqual(
      new Set([a.id, c.id]),
    );
    const range = "scheduled_after=2026-12-31T00:00:00Z&scheduled_before=2027-01-01T00:00:00.001Z";
    expect(ids((await callApi("GET", `/jobs?${range}`, { token })).body)).toEqual([a.id]);
    const justBefore = "scheduled_after=2026-12-31T00:00:00Z&scheduled_before=2027-01-01T00:00:00Z";
    expect(ids((await callApi("GET", `/jobs?${justBefore}`, { token })).body)).toEqual([]);
  });

  it("never shows another project's jobs", async () => {
    const other = await createProject(db);
    await insertJobRow(db, other.project.id);
    expect((await callApi("GET", "/jobs", { token })).body.jobs).toEqual([]);
  });

  it.each([
    ["an unknown status", "status=done"],
    ["a limit over 200", "limit=201"],
    ["a limit of 0", "limit=0"],
    ["an unknown parameter", "colour=red"],
    ["a forged cursor", "cursor=abc"],
    ["a malformed label", "label=team"],
  ])("refuses %s with 422", async (_name, query) => {
    const response = await callApi("GET", `/jobs?${query}`, { token });
    expect(response.status).toBe(422);
    expect(response.body.error.code).toBe("validation_failed");
  });

  it("refuses a cursor from the other order", async () => {
    for (let i = 0; i < 3; i++) await insertJobRow(db, project.id);
    const page = await callApi("GET", "/jobs?limit=1", { token });
    expect((await callApi("GET", `/jobs?order=soonest&cursor=${page.body.next_cursor}`, { token })).status).toBe(422);
  });
});

describe("GET /jobs/:id/attempts", () => {
  it("pages a job's attempts oldest first", async () => {
    const job = await insertJobRow(db, project.id, { status: "failed", attempt: 5 });
    const now = new Date();
    await db.insert(jobAttempts).values(
      [1, 2, 3, 4, 5].map((attempt) => ({
        jobId: job.id,
        attempt,
        plannedAt: now,
        firedAt: now,
        latenessMs: attempt,
        durationMs: 10,
        statusCode: 500,
        outcome: attempt === 5 ? ("failed" as const) : ("retry" as const),
      })),
    );
    const first = await callApi("GET", `/jobs/${job.id}/attempts?limit=2`, { token });
    expect(first.body.attempts.map((a: { attempt: number }) => a.attempt)).toEqual([1, 2]);
    expect(first.body.next_after).toBe(2);
    const rest = await callApi("GET", `/jobs/${job.id}/attempts?after=2&limit=5`, { token });
    expect(rest.body.attempts.map((a: { attempt: number }) => a.attempt)).toEqual([3, 4, 5]);
    expect(rest.body.next_after).toBeNull();
    expect(rest.body.attempts[2]).toMatchObject({ outcome: "failed", status_code: 500, lateness_ms: 5 });
  });

  it("answers 404 for another project's job", async () => {
    const other = await createProject(db);
    const foreign = await insertJobRow(db, other.project.id);
    expect((await callApi("GET", `/jobs/${foreign.id}/attempts`, { token })).status).toBe(404);
  });
});

describe("POST /jobs/:id/run and /replay", () => {
  it("runs a scheduled job now, keeping its scheduled_at", async () => {
    const job = await insertJobRow(db, project.id, { runAt: at("2027-01-01T00:00:00Z") });
    const response = await callApi("POST", `/jobs/${job.id}/run`, { token });
    expect(response.status).toBe(200);
    expect(await receivedAt(job.url)).toHaveLength(1);
    const after = await callApi("GET", `/jobs/${job.id}`, { token });
    expect(after.body).toMatchObject({ status: "succeeded", scheduled_at: job.scheduledAt.toISOString() });
  });

  it("replays a failed job as a new run with a new webhook-id, history kept", async () => {
    const job = await insertJobRow(db, project.id, { url: receiverUrl("ok"), status: "failed", attempt: 1 });
    const now = new Date();
    await db.insert(jobAttempts).values({
      jobId: job.id,
      attempt: 1,
      plannedAt: now,
      firedAt: now,
      latenessMs: 0,
      durationMs: 3,
      statusCode: 500,
      outcome: "failed",
    });
    const response = await callApi("POST", `/jobs/${job.id}/replay`, { token });
    expect(response.status).toBe(200);
    expect(response.body.webhook_id).not.toBe(job.webhookId);
    const [received] = await receivedAt(job.url);
    expect(received.headers).toMatchObject({ "webhook-id": response.body.webhook_id, "fliq-attempt": "2" });
    expect((await listAttempts(db, job.id)).map((a) => [a.attempt, a.outcome])).toEqual([
      [1, "failed"],
      [2, "succeeded"],
    ]);
  });

  it("refuses to run a finished job or replay an unfinished one", async () => {
    const done = await insertJobRow(db, project.id, { status: "succeeded", attempt: 1 });
    expect((await callApi("POST", `/jobs/${done.id}/run`, { token })).body.error.code).toBe("job_finished");
    const waiting = await insertJobRow(db, project.id, { runAt: at("2027-01-01T00:00:00Z") });
    const replay = await callApi("POST", `/jobs/${waiting.id}/replay`, { token });
    expect(replay.status).toBe(409);
    expect(replay.body.error.code).toBe("job_not_finished");
  });
});
