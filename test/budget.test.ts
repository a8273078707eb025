/**
 * An invocation's budgets (src/dispatch/subrequest-budget.ts): defaults that fit Workers Paid and
 * match wrangler.toml's [limits], and an invocation that runs out of subrequests, CPU or Worker
 * invocations logs one line and hands the rest of its jobs on, unfailed.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { findJob, listAttempts } from "../src/db/jobs";
import { SubrequestBudget, serviceCallsPerInvocation } from "../src/dispatch/subrequest-budget";
import { CPU_MS_PER_CALLBACK, CPU_RESERVE_MS, INVOCATIONS_PER_REQUEST } from "../src/jobs/timing";
import { type Bindings, readSettings } from "../src/settings";
import { insertJobRow, later, receivedAt, receiverUrl, runTickUntil, testEnv, useTestProject } from "./support/fliq";

const { db, project } = await useTestProject();

afterEach(() => {
  vi.restoreAllMocks();
});

/** The engine's fault lines logged while `logged` spied on console.error, parsed. */
function faultLines(logged: { mock: { calls: unknown[][] } }): Array<Record<string, unknown>> {
  return logged.mock.calls.flatMap(([line]) => {
    try {
      return [JSON.parse(String(line)) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}

const jobsTo = (...urls: string[]) => urls.map((url, i) => ({ id: `job-${i}`, destination: url }));

describe("defaults", () => {
  it("fit Workers Paid and are wrangler.toml's [limits] (its [vars] are checked against them by check:deploy)", () => {
    const settings = readSettings({ DATABASE_URL: "postgres://fliq@db.example.com/fliq" } as Bindings);
    expect(settings.subrequestBudget).toBe(10_000);
    expect(settings.cpuBudgetMs).toBe(30_000);
    expect(settings.subrequestBudget).toBe(Number(testEnv.SUBREQUEST_BUDGET));
    expect(settings.cpuBudgetMs).toBe(Number(testEnv.CPU_BUDGET_MS));
  });
});

describe("an invocation's budget", () => {
  it("refuses the jobs past its subrequests, logs one line naming the budget, and takes no more", () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    const budget = new SubrequestBudget(2, { claimant: "tick-1" });
    const first = budget.takeJobs(jobsTo("https://a.example", "https://a.example", "https://a.example"));
    expect(first.granted).toHaveLength(2);
    expect(first.refused).toHaveLength(1);
    expect(budget.remaining).toBe(0);
    expect(budget.takeJobs(jobsTo("https://a.example")).refused).toHaveLength(1);
    expect(faultLines(logged)).toEqual([
      expect.objectContaining({ event: "budget_spent", budget: "subrequests", limit: 2, claimant: "tick-1" }),
    ]);
  });

  it("takes back what jobs not fired after all had taken, service calls included", () => {
    const budget = new SubrequestBudget(3, { serviceCalls: 1 });
    const taken = budget.takeJobs(jobsTo("https://a.example", "service://mailer"));
    expect(taken.granted).toHaveLength(2);
    budget.giveBack(taken.granted);
    expect(budget.remaining).toBe(3);
    expect(budget.takeJobs(jobsTo("service://mailer", "https://a.example", "https://a.example")).refused).toEqual([]);
  });

  it("counts each callback's CPU against the invocation's CPU, after what the invocation keeps for itself", () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    const budget = new SubrequestBudget(10_000, { cpuMs: CPU_RESERVE_MS + 3 * CPU_MS_PER_CALLBACK });
    expect(budget.remaining).toBe(3);
    const taken = budget.takeJobs(jobsTo(...Array.from({ length: 5 }, () => "https://a.example")));
    expect(taken.granted).toHaveLength(3);
    expect(taken.refused).toHaveLength(2);
    expect(faultLines(logged)).toEqual([expect.objectContaining({ event: "budget_spent", budget: "cpu" })]);
  });

  it("counts a service:// callback as one of the Worker invocations a request may reach", () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    const budget = new SubrequestBudget(10_000, { serviceCalls: 2 });
    const taken = budget.takeJobs(
      jobsTo("service://welcome", "https://a.example", "service://welcome", "service://welcome", "https://a.example"),
    );
    // The third service call is refused, and so is everything after it: the invocation is spent.
    expect(taken.granted.map((job) => job.destination)).toEqual([
      "service://welcome",
      "https://a.example",
      "service://welcome",
    ]);
    expect(taken.refused).toHaveLength(2);
    expect(faultLines(logged)).toEqual([
      expect.objectContaining({ event: "budget_spent", budget: "worker_invocations", limit: 2 }),
    ]);
  });

  it("shares the 32 Worker invocations of a request between a tick and its shards", () => {
    expect(INVOCATIONS_PER_REQUEST).toBe(32);
    expect(serviceCallsPerInvocation(1)).toBe(31);
    expect(serviceCallsPerInvocation(4)).toBe(7);
    expect(serviceCallsPerInvocation(16)).toBe(1);
    // Every invocation with its share, plus the invocations themselves, stays within 32.
    for (const shards of [1, 2, 4, 8, 16])
      expect(shards + shards * serviceCallsPerInvocation(shards)).toBeLessThanOrEqual(32);
  });
});

describe("a tick that runs out of a budget", () => {
  it("delivers what its CPU allows and hands the other jobs on, unfailed and unclaimed, for the next claimant", async () => {
    const logged = vi.spyOn(console, "error");
    const jobs = await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        insertJobRow(db, project.id, { url: receiverUrl(`ok/cpu-${i}`), runAt: later(-1_000 + i) }),
      ),
    );
    await runTickUntil(later(300), { CPU_BUDGET_MS: String(CPU_RESERVE_MS + 2 * CPU_MS_PER_CALLBACK) });

    const delivered = jobs.slice(0, 2);
    const handedOn = jobs.slice(2);
    for (const job of delivered) {
      expect(await receivedAt(job.url)).toHaveLength(1);
      expect(await findJob(db, project.id, job.id)).toMatchObject({ status: "succeeded" });
    }
    for (const job of handedOn) {
      expect(await receivedAt(job.url)).toHaveLength(0);
      expect(await findJob(db, project.id, job.id)).toMatchObject({
        status: "scheduled",
        attempt: 0,
        claimedBy: null,
        lockedUntil: null,
      });
      expect(await listAttempts(db, job.id)).toHaveLength(0);
    }
    const spent = faultLines(logged).filter((line) => line.event === "budget_spent");
    expect(spent).toEqual([expect.objectContaining({ budget: "cpu", handedOn: 2 })]);

    // The next tick, with its own budget, delivers them.
    await runTickUntil(later(300));
    for (const job of handedOn) expect(await receivedAt(job.url)).toHaveLength(1);
  });

  it("calls at most its share of Worker invocations through service:// and hands the other service jobs on", async () => {
    // One invocation (no shards), so its share is the whole request's less itself: 31.
    const logged = vi.spyOn(console, "error");
    const share = serviceCallsPerInvocation(1);
    const jobs = await Promise.all(
      Array.from({ length: share + 2 }, (_, i) =>
        insertJobRow(db, project.id, { url: `service://welcome/ok/${i}`, runAt: later(-1_000 + i) }),
      ),
    );
    await runTickUntil(later(300), { MAX_SHARDS: "1", MAX_CELLS: "0" });

    const rows = await Promise.all(jobs.map((job) => findJob(db, project.id, job.id)));
    expect(rows.filter((row) => row?.status === "succeeded")).toHaveLength(share);
    const waiting = rows.filter((row) => row?.status === "scheduled");
    expect(waiting).toHaveLength(2);
    for (const row of waiting) expect(row).toMatchObject({ attempt: 0, claimedBy: null });
    expect(faultLines(logged).filter((line) => line.event === "budget_spent")).toEqual([
      expect.objectContaining({ budget: "worker_invocations", limit: share }),
    ]);
  });
});
