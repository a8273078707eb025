/**
 * The tick's watchdog (a Durable Object): when a tick falls silent (its invocation was cut),
 * its alarm takes the window over within seconds instead of leaving the jobs to their leases
 * and the next minute's tick. Silence is back-dated in the object's storage instead of waited for.
 */

import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { claimWindow, findJob, listAttempts, startClaimedJobs } from "../src/db/jobs";
import { type TickWatchdog, WATCHDOG_NAME, type Watch } from "../src/dispatch/tick-watchdog";
import {
  dueAfterStartLead,
  insertJobRow,
  later,
  ON_TIME_MS,
  receivedAt,
  receiverUrl,
  runTickUntil,
  useTestProject,
} from "./support/fliq";

const { db, project } = await useTestProject();
const namespace = (env as unknown as { TICK_WATCHDOG: DurableObjectNamespace<TickWatchdog> }).TICK_WATCHDOG;
const watchdog = () => namespace.get(namespace.idFromName(WATCHDOG_NAME));

/** Jobs due at `runAt`, claimed ahead of time by a tick that then falls silent. */
async function claimedBySilentTick(count: number, runAt: Date) {
  const jobs = await Promise.all(
    Array.from({ length: count }, () => insertJobRow(db, project.id, { url: receiverUrl("ok"), runAt })),
  );
  const claimant = crypto.randomUUID();
  await claimWindow(db, { claimant, dueBefore: later(60_000), leaseMs: 30_000, now: new Date(), limit: 100 });
  return { jobs, claimant };
}

/**
 * Stores a watch for `claimant` whose deadline is `deadlineMs`, with the alarm a minute away, so
 * that only runDurableObjectAlarm runs it.
 */
async function watchWithDeadline(claimant: string, windowEndMs: number, deadlineMs: number) {
  await runInDurableObject(watchdog(), async (_instance, state) => {
    const watch: Watch = { claimant, windowEndMs, deadlineMs };
    await state.storage.put(`watch:${claimant}`, watch);
    await state.storage.setAlarm(Date.now() + 60_000);
  });
}

const watchesLeft = () =>
  runInDurableObject(watchdog(), async (_instance, state) => [
    ...(await state.storage.list({ prefix: "watch:" })).keys(),
  ]);

describe("the tick's watchdog", () => {
  it("takes over a silent tick's window: its claims are released and its jobs fire on their second", async () => {
    // Time for the set-up below (five inserts, a claim, the takeover's own connection) on a busy machine.
    const due = dueAfterStartLead(2_500);
    const { jobs, claimant } = await claimedBySilentTick(5, due);
    await watchWithDeadline(claimant, due.getTime() + 1_000, Date.now() - 1);

    expect(await runDurableObjectAlarm(watchdog())).toBe(true);
    for (const job of jobs) {
      const [received, ...again] = await receivedAt(job.url);
      expect(again).toHaveLength(0);
      expect(received.receivedAt).toBeGreaterThanOrEqual(due.getTime());
      expect(received.receivedAt - due.getTime()).toBeLessThan(ON_TIME_MS);
      expect(await findJob(db, project.id, job.id)).toMatchObject({ status: "succeeded", attempt: 1 });
    }
    // The takeover watched itself while it ran, and cleared its watch when it finished.
    expect(await watchesLeft()).toEqual([]);
  }, 20_000);

  it("makes again at once the attempts the silent tick had in flight itself, and leaves a share's to it", async () => {
    const {
      jobs: [own, shared],
      claimant,
    } = await claimedBySilentTick(2, new Date());
    const share = crypto.randomUUID();
    const start = (id: string, runner?: string) =>
      startClaimedJobs(db, {
        claimant,
        runner,
        ids: [id],
        dueBy: later(1_000),
        leaseMarginMs: 30_000,
        now: new Date(),
      });
    await start(own.id);
    await start(shared.id, share);
    await watchWithDeadline(claimant, Date.now() + 2_000, Date.now() - 1);

    const takeoverAt = Date.now();
    expect(await runDurableObjectAlarm(watchdog())).toBe(true);
    // The tick's own attempt: its outcome unknown, recorded so, and made again within a moment, not a lease.
    const [received, ...again] = await receivedAt(own.url);
    expect(again).toHaveLength(0);
    expect(received.receivedAt - takeoverAt).toBeLessThan(2_000);
    expect(await findJob(db, project.id, own.id)).toMatchObject({ status: "succeeded", attempt: 2, lostAttempts: 1 });
    expect((await listAttempts(db, own.id)).map((attempt) => [attempt.attempt, attempt.outcome])).toEqual([
      [1, "unknown"],
      [2, "succeeded"],
    ]);
    // The share's attempt is its own invocation's, which did not fall silent.
    expect(await findJob(db, project.id, shared.id)).toMatchObject({ status: "running", attempt: 1, claimedBy: share });
  }, 20_000);

  it("leaves a window alone while its owner keeps reporting", async () => {
    const { jobs, claimant } = await claimedBySilentTick(2, later(60_000));
    await watchWithDeadline(claimant, later(65_000).getTime(), Date.now() + 5_000);

    await runDurableObjectAlarm(watchdog());
    for (const job of jobs) expect(await findJob(db, project.id, job.id)).toMatchObject({ claimedBy: claimant });
    expect(await watchesLeft()).toEqual([`watch:${claimant}`]);
    await watchdog().done(claimant);
    expect(await watchesLeft()).toEqual([]);
  });

  it("is told by every tick that it is alive, and that it has finished", async () => {
    const job = await insertJobRow(db, project.id, { runAt: later(300) });
    await runTickUntil(later(800));
    expect(await receivedAt(job.url)).toHaveLength(1);
    // Nothing left to watch: no takeover can follow a tick that finished.
    expect(await watchesLeft()).toEqual([]);
    expect(await runInDurableObject(watchdog(), (_instance, state) => state.storage.getAlarm())).toBeNull();
  });
});
