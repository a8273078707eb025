/**
 * The delivery engine's contract: signed callbacks any Standard Webhooks library verifies,
 * at-least-once through killed invocations and lost connections, overlapping ticks that
 * never double-deliver, jobs picked up mid-window, the connection cap, the subrequest
 * budget, and fan-out to fresh invocations.
 */
import { exports } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { findJob, listAttempts } from "../src/db/jobs";
import { rotateSigningSecret } from "../src/db/projects";
import { outboundOf } from "../src/dispatch/deliver";
import { runTick } from "../src/dispatch/tick";
import { TIMING, WINDOW_OVERLAP_MS } from "../src/jobs/timing";
import { readSettings } from "../src/settings";
import {
  callApi,
  createProject,
  dueAfterStartLead,
  insertJobRow,
  later,
  ON_TIME_MS,
  receivedAt,
  receiverPeakInFlight,
  receiverUrl,
  runTickUntil,
  testEnv,
  tickNow,
  useTestProject,
  waitForJobRow,
} from "./support/fliq";

const { db, project, token, signingSecret } = await useTestProject();

async function jobState(id: string) {
  const job = await findJob(db, project.id, id);
  if (!job) throw new Error(`job ${id} is gone`);
  return { job, attempts: await listAttempts(db, id) };
}

describe("signed callbacks", () => {
  it("carry Standard Webhooks headers that the reference library verifies, and Fliq's own", async () => {
    const job = await insertJobRow(db, project.id, { body: '{"email":"user@example.com"}' });
    await tickNow();
    const [received] = await receivedAt(job.url);
    const verified = new Webhook(signingSecret).verify(received.body, received.headers);
    expect(verified).toEqual({ email: "user@example.com" });
    expect(received.headers).toMatchObject({
      "webhook-id": job.webhookId,
      "fliq-job-id": job.id,
      "fliq-attempt": "1",
      "fliq-scheduled-at": job.scheduledAt.toISOString(),
    });
    expect(Math.abs(Number(received.headers["webhook-timestamp"]) * 1000 - received.receivedAt)).toBeLessThan(2000);
    expect(() => new Webhook(signingSecret).verify(`${received.body} `, received.headers)).toThrow();
  });

  it("are signed with both the new and the previous secret during a rotation", async () => {
    const rotation = await createProject(db);
    const rotated = await rotateSigningSecret(db, rotation.project.id, new Date(), 60_000);
    const job = await insertJobRow(db, rotation.project.id, { body: "{}" });
    await tickNow();
    const [received] = await receivedAt(job.url);
    expect(received.headers["webhook-signature"].split(" ")).toHaveLength(2);
    for (const secret of [rotation.signingSecret, rotated.secret]) {
      expect(new Webhook(secret).verify(received.body, received.headers)).toEqual({});
    }
  });

  it("stop signing with the previous secret once its grace period ends", async () => {
    const rotation = await createProject(db);
    const rotated = await rotateSigningSecret(db, rotation.project.id, new Date(Date.now() - 2000), 1000);
    const job = await insertJobRow(db, rotation.project.id, { body: "{}" });
    await tickNow();
    const [received] = await receivedAt(job.url);
    expect(received.headers["webhook-signature"].split(" ")).toHaveLength(1);
    expect(new Webhook(rotated.secret).verify(received.body, received.headers)).toEqual({});
    expect(() => new Webhook(rotation.signingSecret).verify(received.body, received.headers)).toThrow();
  });

  it("cannot have Fliq's headers overridden by the job's own", async () => {
    const rejected = await callApi("POST", "/jobs", {
      token,
      json: { url: receiverUrl("ok"), scheduled_at: later(3_600_000).toISOString(), headers: { "Webhook-Id": "x" } },
    });
    expect(rejected.status).toBe(422);
    expect(rejected.body.error.details[0].path).toBe("headers.Webhook-Id");

    // Even a row written past the API (an older version, a manual insert) cannot override them.
    const job = await insertJobRow(db, project.id, {
      headers: { "webhook-id": "forged", "fliq-attempt": "99", "x-kept": "yes" },
    });
    await tickNow();
    const [received] = await receivedAt(job.url);
    expect(received.headers).toMatchObject({ "webhook-id": job.webhookId, "fliq-attempt": "1", "x-kept": "yes" });
  });
});

describe("at-least-once", () => {
  it("rescues a job whose invocation was killed mid-delivery and delivers it as attempt 2, same webhook-id", async () => {
    // What a killed tick leaves behind: the job running attempt 1, its lease run out.
    const job = await insertJobRow(db, project.id, {
      status: "running",
      attempt: 1,
      claimedBy: crypto.randomUUID(),
      lockedUntil: later(-1),
    });
    await tickNow();
    const received = await receivedAt(job.url);
    expect(received.map((r) => r.headers["fliq-attempt"])).toEqual(["2"]);
    expect(received[0].headers["webhook-id"]).toBe(job.webhookId);
    expect((await jobState(job.id)).job).toMatchObject({ status: "succeeded", attempt: 2 });
  });

  it("loses no job when the database connection dies mid-delivery", async () => {
    const job = await insertJobRow(db, project.id, { url: receiverUrl("slow/600") });
    const tick = tickNow();
    // While the callback is in flight, drop every database connection at the bridge (Neon's
    // proxy, locally): the tick's included. Its results must still be written, on a fresh one.
    while ((await receivedAt(job.url)).length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    const dropped = await fetch(`http://${testEnv.LOCAL_DB_PROXY}/clients/close`, { method: "POST" });
    expect(((await dropped.json()) as { closed: number }).closed).toBeGreaterThanOrEqual(1);
    await tick;
    const { job: final, attempts } = await jobState(job.id);
    expect(final).toMatchObject({ status: "succeeded", attempt: 1 });
    expect(attempts.map((a) => a.outcome)).toEqual(["succeeded"]);
  });
});

describe("database outages", () => {
  /** Drops every database connection at the bridge (Neon's proxy, locally), again and again, until `until`. */
  async function outageUntil(until: number) {
    while (Date.now() < until) {
      await fetch(`http://${testEnv.LOCAL_DB_PROXY}/clients/close`, { method: "POST" });
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  it("cost about their own length: starts that fail are tried again until it is back", async () => {
    const due = later(2_000);
    const jobs = await Promise.all(
      Array.from({ length: 3 }, () => insertJobRow(db, project.id, { url: receiverUrl("ok"), runAt: due })),
    );
    const tick = runTickUntil(later(4_000));
    // Once the tick has claimed the jobs, its connections are dropped as fast as they are made
    // until a second after the jobs' time: the start statements fail meanwhile.
    while (!(await jobState(jobs[0].id)).job.claimedBy) await new Promise((resolve) => setTimeout(resolve, 20));
    await outageUntil(due.getTime() + 1_000);
    await tick;
    for (const job of jobs) {
      const [received, ...again] = await receivedAt(job.url);
      expect(again).toHaveLength(0);
      // Back a second after their time: late by about that, not by their 30 s claim lease.
      expect(received.receivedAt - due.getTime()).toBeLessThan(2_000);
    }
  });
});

describe("windows and overlapping ticks", () => {
  it("delivers each job once when two ticks own the same window at the same time", async () => {
    const jobs = await Promise.all(
      Array.from({ length: 40 }, (_, i) => insertJobRow(db, project.id, { runAt: later(300 + i * 10) })),
    );
    const end = later(1500);
    await Promise.all([runTickUntil(end), runTickUntil(end), runTickUntil(end)]);
    for (const job of jobs) {
      expect(await receivedAt(job.url)).toHaveLength(1);
      expect((await jobState(job.id)).job).toMatchObject({ status: "succeeded", attempt: 1 });
    }
  });

  it("does nothing more when the same tick runs again", async () => {
    const job = await insertJobRow(db, project.id);
    const end = later(1);
    await runTickUntil(end);
    await runTickUntil(end);
    expect(await receivedAt(job.url)).toHaveLength(1);
  });

  it(
    "picks up a job created mid-window and fires it on its second",
    async () => {
      // The tick polls its window every pollIntervalMs from its start; the job is due a margin
      // past that poll and the start lead, so a slow tick start eats margin, not precision.
      const runAt = dueAfterStartLead(TIMING.pollIntervalMs + 1_500);
      // A job already in the window when the tick starts: once the tick holds it, its initial
      // claim is done, and the job below is surely created after it.
      const marker = await insertJobRow(db, project.id, { runAt: new Date(runAt.getTime() + 100) });
      const tick = runTickUntil(new Date(runAt.getTime() + 500));
      await waitForJobRow(db, marker.id, (row) => row.claimedBy !== null);
      const job = await insertJobRow(db, project.id, { runAt });
      await tick;
      const [received] = await receivedAt(job.url);
      expect(received.receivedAt).toBeGreaterThanOrEqual(runAt.getTime());
      expect(received.receivedAt - runAt.getTime()).toBeLessThan(ON_TIME_MS);
      expect(await receivedAt(marker.url)).toHaveLength(1);
    },
    TIMING.pollIntervalMs + 15_000,
  );
});

describe("lost attempts", () => {
  it("leave a row and do not use up retries: a max_retries 0 job whose attempt was lost is tried again", async () => {
    const job = await insertJobRow(db, project.id, {
      url: receiverUrl("status/500"),
      status: "running",
      attempt: 1,
      maxRetries: 0,
      lockedUntil: later(-1),
    });
    await tickNow();
    const { job: after, attempts } = await jobState(job.id);
    expect(after).toMatchObject({ status: "failed", attempt: 2, lostAttempts: 1, lastStatusCode: 500 });
    expect(attempts.map((a) => [a.attempt, a.outcome])).toEqual([
      [1, "unknown"],
      [2, "failed"],
    ]);
    expect(await receivedAt(job.url)).toHaveLength(1);
  });
});

describe("limits and fan-out", () => {
  it("never has more than 5 callbacks in flight in one invocation (6 connections, one is the database)", async () => {
    const jobs = await Promise.all(
      Array.from({ length: 30 }, () => insertJobRow(db, project.id, { url: receiverUrl("slow/100") })),
    );
    await receiverPeakInFlight(true);
    // One invocation, no cells: the planner would otherwise fan these 30 callbacks out (see below).
    await runTickUntil(later(200), { MAX_SHARDS: "1", MAX_CELLS: "0" });
    const peak = await receiverPeakInFlight();
    expect(peak).toBeLessThanOrEqual(5);
    expect(peak).toBeGreaterThanOrEqual(3);
    for (const job of jobs) expect(await receivedAt(job.url)).toHaveLength(1);
  });

  it("fans out by measured latency: callbacks to a target never tried get more invocations than one", async () => {
    // 30 callbacks due at once to a destination with no history, assumed to answer in 250 ms: 30 in
    // flight would be needed, so 6 invocations of 5. Their peak shows more than one invocation's cap.
    const jobs = await Promise.all(
      Array.from({ length: 30 }, () => insertJobRow(db, project.id, { url: receiverUrl("slow/300") })),
    );
    await receiverPeakInFlight(true);
    await tickNow();
    expect(await receiverPeakInFlight()).toBeGreaterThan(5);
    for (const job of jobs) expect(await receivedAt(job.url)).toHaveLength(1);
  });

  it("fans a heavy window out to fresh invocations that deliver everything exactly once", async () => {
    const jobs = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        insertJobRow(db, project.id, { url: receiverUrl("slow/100"), runAt: later(300 + (i % 10) * 20) }),
      ),
    );
    await receiverPeakInFlight(true);
    const end = later(1500);
    const report = await runTick({
      db,
      scheduledTime: new Date(end.getTime() - 60_000 - WINDOW_OVERLAP_MS),
      now: new Date(),
      limits: { subrequestBudget: 1000, callbacksPerSecond: 10, maxShards: 4, retentionDays: 30 },
      outbound: outboundOf(readSettings(testEnv)),
      runShard: (shard) => exports.ShardRunner.deliver(shard),
    });
    expect(report).toMatchObject({ claimed: 60, shards: 4, overflow: 0 });
    expect(report.local?.started).toBe(15);
    for (const job of jobs) {
      expect(await receivedAt(job.url)).toHaveLength(1);
      expect((await jobState(job.id)).job).toMatchObject({ status: "succeeded", attempt: 1 });
    }
    // Each invocation keeps its own cap of 5; together they had more in flight than one could.
    const peak = await receiverPeakInFlight();
    expect(peak).toBeGreaterThan(5);
    expect(peak).toBeLessThanOrEqual(20);
  });

  it("isolates a failing shard: the others deliver on time and its jobs are taken over at once", async () => {
    const due = later(1500);
    const jobs = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        insertJobRow(db, project.id, { url: receiverUrl(`ok/shard-${i}`), runAt: due }),
      ),
    );
    let calls = 0;
    const report = await runTick({
      db,
      scheduledTime: new Date(later(2500).getTime() - 60_000 - WINDOW_OVERLAP_MS),
      now: new Date(),
      limits: { subrequestBudget: 1000, callbacksPerSecond: 10, maxShards: 4, retentionDays: 30 },
      outbound: outboundOf(readSettings(testEnv)),
      // The second shard's invocation throws before it starts anything; the others run normally.
      runShard: (shard) =>
        ++calls === 2 ? Promise.reject(new Error("shard cut")) : exports.ShardRunner.deliver(shard),
    });
    expect(report).toMatchObject({ claimed: 40, shards: 4, failedShards: 1 });
    for (const job of jobs) {
      const [received, ...again] = await receivedAt(job.url);
      expect(again).toHaveLength(0);
      // Every job on its second, the failed shard's included: it was released and claimed back at once.
      expect(received.receivedAt).toBeGreaterThanOrEqual(due.getTime());
      expect(received.receivedAt - due.getTime()).toBeLessThan(1000);
      expect((await jobState(job.id)).job).toMatchObject({ status: "succeeded", attempt: 1 });
    }
  });

  it("claims no more than its subrequest budget allows and leaves the rest for later ticks", async () => {
    const jobs = await Promise.all(Array.from({ length: 20 }, () => insertJobRow(db, project.id)));
    const report = await runTick({
      db,
      scheduledTime: new Date(Date.now() + 1 - 60_000 - WINDOW_OVERLAP_MS),
      now: new Date(),
      // 12 subrequests: 1 for the database, 1 kept in reserve, 1 per possible shard: 9 callbacks.
      limits: { subrequestBudget: 12, callbacksPerSecond: 1000, maxShards: 1, retentionDays: 30 },
      outbound: outboundOf(readSettings(testEnv)),
      runShard: () => Promise.reject(new Error("no shard expected")),
    });
    expect(report).toMatchObject({ claimed: 9, shards: 1 });
    const states = await Promise.all(jobs.map((job) => jobState(job.id)));
    expect(states.filter((s) => s.job.status === "succeeded")).toHaveLength(9);
    const left = states.filter((s) => s.job.status === "scheduled");
    expect(left).toHaveLength(11);
    for (const s of left) expect(s.job).toMatchObject({ claimedBy: null, attempt: 0 });
  });
});
