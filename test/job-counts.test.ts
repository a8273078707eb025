/**
 * The cap on a project's waiting jobs reads one counter row (project_job_counts), kept by
 * triggers on jobs. These prove the counter equals a real count after every path that creates,
 * finishes, cancels, replays or deletes jobs, and that the cap holds exactly, neither passed nor
 * refused early, when creates race each other and race cancels on several connections.
 */
import { and, count, eq, inArray } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { pruneHistory } from "../src/db/jobs";
import { jobs, projectJobCounts, projects } from "../src/db/schema";
import {
  callApi,
  createProject,
  insertJobRow,
  later,
  onRealPostgres,
  receiverUrl,
  type TestBindings,
  tickNow,
  useTestProject,
} from "./support/fliq";

const { db } = await useTestProject();

// A receiver URL, so a job replayed (due at once) finds a real target.
const farAway = { url: receiverUrl("ok"), delay: "1h" };

async function counted(projectId: string): Promise<number> {
  const [row] = await db
    .select({ n: projectJobCounts.unfinished })
    .from(projectJobCounts)
    .where(eq(projectJobCounts.projectId, projectId));
  return row.n;
}

async function unfinished(projectId: string): Promise<number> {
  const [row] = await db
    .select({ n: count() })
    .from(jobs)
    .where(and(eq(jobs.projectId, projectId), inArray(jobs.status, ["scheduled", "running"])));
  return row.n;
}

/** The counter agrees with a real count, and the count is what the test expects. */
async function expectUnfinished(projectId: string, expected: number) {
  expect(await unfinished(projectId)).toBe(expected);
  expect(await counted(projectId)).toBe(expected);
}

describe("the count of a project's unfinished jobs", () => {
  it("starts at zero with the project and follows every path that changes a job's status", async () => {
    const { project, token } = await createProject(db);
    await expectUnfinished(project.id, 0);

    const single = await callApi("POST", "/jobs", { token, json: farAway });
    const batch = await callApi("POST", "/jobs/batch", { token, json: { jobs: [farAway, farAway, farAway] } });
    expect([single.status, batch.status]).toEqual([201, 201]);
    await expectUnfinished(project.id, 4);

    // Changing a waiting job's time or request leaves it waiting.
    const patched = await callApi("PATCH", `/jobs/${single.body.id}`, {
      token,
      json: { scheduled_at: later(7_200_000).toISOString() },
    });
    expect(patched.status).toBe(200);
    await expectUnfinished(project.id, 4);

    expect((await callApi("DELETE", `/jobs/${single.body.id}`, { token })).status).toBe(200);
    await expectUnfinished(project.id, 3);
    // Canceling it again changes nothing.
    expect((await callApi("DELETE", `/jobs/${single.body.id}`, { token })).status).toBe(200);
    await expectUnfinished(project.id, 3);

    const bulk = await callApi("POST", "/jobs/cancel", { token, json: { ids: [batch.body.jobs[0].id] } });
    expect(bulk.body.count).toBe(1);
    await expectUnfinished(project.id, 2);

    // Due now: one succeeds, one fails for good, one is retried (still waiting afterwards).
    const ok = await insertJobRow(db, project.id, { url: receiverUrl("ok"), runAt: later(-1_000) });
    const gone = await insertJobRow(db, project.id, { url: receiverUrl("status/404"), runAt: later(-1_000) });
    const retried = await insertJobRow(db, project.id, {
      url: receiverUrl("status/503"),
      runAt: later(-1_000),
      maxRetries: 3,
      backoffInitialMs: 3_600_000,
    });
    await expectUnfinished(project.id, 5);
    await tickNow();
    const statuses = await db
      .select({ id: jobs.id, status: jobs.status })
      .from(jobs)
      .where(inArray(jobs.id, [ok.id, gone.id, retried.id]));
    expect(Object.fromEntries(statuses.map((row) => [row.id, row.status]))).toEqual({
      [ok.id]: "succeeded",
      [gone.id]: "failed",
      [retried.id]: "scheduled",
    });
    await expectUnfinished(project.id, 3);

    // A replay is due at once: the request that replays one job also fires it (finished again),
    // while bulk replays wait for the tick.
    const replayed = await callApi("POST", `/jobs/${single.body.id}/replay`, { token });
    expect(replayed.status).toBe(200);
    const [again] = await db.select({ status: jobs.status }).from(jobs).where(eq(jobs.id, single.body.id));
    expect(again.status).toBe("succeeded");
    await expectUnfinished(project.id, 3);
    const bulkReplay = await callApi("POST", "/jobs/replay", { token, json: { ids: [ok.id, gone.id] } });
    expect(bulkReplay.body.count).toBe(2);
    await expectUnfinished(project.id, 5);

    // Retention deletes finished jobs only; deleting waiting ones lowers the count.
    const oldFinished = await insertJobRow(db, project.id, {
      status: "succeeded",
      finishedAt: later(-400 * 86_400_000),
    });
    await pruneHistory(db, later(-30 * 86_400_000), { batchSize: 10, budgetMs: 1_000 });
    expect((await db.select().from(jobs).where(eq(jobs.id, oldFinished.id))).length).toBe(0);
    await expectUnfinished(project.id, 5);
    await db.delete(jobs).where(eq(jobs.id, retried.id));
    await expectUnfinished(project.id, 4);

    // The counter goes with its project.
    await db.delete(projects).where(eq(projects.id, project.id));
    expect(await db.select().from(projectJobCounts).where(eq(projectJobCounts.projectId, project.id))).toEqual([]);
  });

  it("counts per project: one project's jobs never take another's places", async () => {
    const a = await createProject(db);
    const b = await createProject(db);
    await callApi("POST", "/jobs/batch", { token: a.token, json: { jobs: [farAway, farAway] } });
    await callApi("POST", "/jobs", { token: b.token, json: farAway });
    await expectUnfinished(a.project.id, 2);
    await expectUnfinished(b.project.id, 1);
  });
});

describe("the cap on waiting jobs, exactly", () => {
  const capped = (cap: number): Partial<TestBindings> => ({ MAX_SCHEDULED_JOBS_PER_PROJECT: String(cap) });

  it("lets exactly the cap's worth of 40 racing creates in, and refuses the rest with 429", async () => {
    const { project, token } = await createProject(db);
    const responses = await Promise.all(
      Array.from({ length: 40 }, () => callApi("POST", "/jobs", { token, json: farAway, env: capped(10) })),
    );
    expect(responses.filter((r) => r.status === 201)).toHaveLength(10);
    const refused = responses.filter((r) => r.status === 429);
    expect(refused).toHaveLength(30);
    expect(refused[0].body.error.code).toBe("scheduled_jobs_limit");
    await expectUnfinished(project.id, 10);
  });

  it("admits racing batches whole or not at all, never past the cap", async () => {
    const { project, token } = await createProject(db);
    const batch = { jobs: [farAway, farAway, farAway] };
    const responses = await Promise.all(
      Array.from({ length: 8 }, () => callApi("POST", "/jobs/batch", { token, json: batch, env: capped(10) })),
    );
    // 3 batches fill 9 places; a fourth would need 12.
    expect(responses.filter((r) => r.status === 201)).toHaveLength(3);
    await expectUnfinished(project.id, 9);
    const single = await callApi("POST", "/jobs", { token, json: farAway, env: capped(10) });
    expect(single.status).toBe(201);
    await expectUnfinished(project.id, 10);
  });

  it.runIf(onRealPostgres)(
    "stays exact when creates race cancels on separate connections: freed places are taken, no more",
    async () => {
      const { project, token } = await createProject(db);
      const cap = capped(20);
      const first = await callApi("POST", "/jobs/batch", { token, json: { jobs: Array(20).fill(farAway) }, env: cap });
      const ids: string[] = first.body.jobs.map((job: { id: string }) => job.id);
      const results = await Promise.all([
        ...ids.slice(0, 10).map((id) => callApi("DELETE", `/jobs/${id}`, { token })),
        ...Array.from({ length: 30 }, () => callApi("POST", "/jobs", { token, json: farAway, env: cap })),
      ]);
      const created = results.slice(10).filter((r) => r.status === 201).length;
      expect(results.slice(0, 10).every((r) => r.status === 200)).toBe(true);
      expect(created).toBeLessThanOrEqual(10);
      await expectUnfinished(project.id, 10 + created);
      // Whatever the order was, exactly the places left are still free.
      const after = await Promise.all(
        Array.from({ length: 15 }, () => callApi("POST", "/jobs", { token, json: farAway, env: cap })),
      );
      expect(after.filter((r) => r.status === 201)).toHaveLength(10 - created);
      await expectUnfinished(project.id, 20);
    },
  );
});
