/**
 * Bulkheads inside one invocation: a slow or hanging target delays only its own callbacks
 * (and other slow ones), and one project's burst never starves another project's jobs.
 * Each tick here runs in a single invocation (one shard), so every job shares its five
 * connections; the receiver is real and its `slow/<ms>` paths answer after that long.
 */
import { describe, expect, it } from "vitest";
import {
  createProject,
  insertJobRow,
  later,
  ON_TIME_MS,
  receivedAt,
  receiverUrl,
  runTickUntil,
  useTestProject,
} from "./support/fliq";

const { db, project } = await useTestProject();
const single = { MAX_SHARDS: "1" };

/** How late each job's callback arrived, in ms. */
async function latenessOf(jobs: Array<{ url: string; runAt: Date }>): Promise<number[]> {
  return Promise.all(
    jobs.map(async (job) => {
      const [received] = await receivedAt(job.url);
      return received.receivedAt - job.runAt.getTime();
    }),
  );
}

describe("bulkheads", () => {
  it("keeps healthy jobs on time while another project's target answers in 2 s", async () => {
    const other = await createProject(db);
    const due = later(1_500);
    // Project B's six jobs to a 2 s target fall due first: without bulkheads they take every connection.
    await Promise.all(
      Array.from({ length: 6 }, () =>
        insertJobRow(db, other.project.id, { url: receiverUrl("slow/2000"), runAt: due, timeoutMs: 10_000 }),
      ),
    );
    const healthy = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        insertJobRow(db, project.id, { url: receiverUrl("ok"), runAt: new Date(due.getTime() + 20 + i * 25) }),
      ),
    );
    await runTickUntil(later(2_500), single);
    const lateness = await latenessOf(healthy);
    for (const ms of lateness) expect(ms).toBeGreaterThanOrEqual(0);
    expect(Math.max(...lateness)).toBeLessThan(ON_TIME_MS);
  }, 20_000);

  it("gives a free connection to the project with the fewest callbacks in flight", async () => {
    const other = await createProject(db);
    const due = later(1_500);
    // Project A's burst of 60 jobs to a 300 ms target, all due at once, queues behind its own connections...
    await Promise.all(
      Array.from({ length: 60 }, () => insertJobRow(db, project.id, { url: receiverUrl("slow/300"), runAt: due })),
    );
    // ...and project B's two jobs, due just after, do not wait for A's backlog.
    const small = await Promise.all(
      Array.from({ length: 2 }, () =>
        insertJobRow(db, other.project.id, { url: receiverUrl("ok"), runAt: new Date(due.getTime() + 100) }),
      ),
    );
    await runTickUntil(later(2_500), single);
    const lateness = await latenessOf(small);
    // A FIFO queue would hold them behind ~55 of A's callbacks (over 3 s); a fair one, one callback (~300 ms).
    expect(Math.max(...lateness)).toBeLessThan(700);
  }, 30_000);
});
