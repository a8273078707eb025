/**
 * The delivery engine's contract: signed callbacks any Standard Webhooks library verifies,
 * at-least-once through killed invocations and lost connections, overlapping ticks that
 * never double-deliver, jobs picked up mid-window, the connection cap, the subrequest
 * budget, and fan-out to fresh invocations.
 */
import { exports } from "cloudflare:workers";
import { sql } from "drizzle-orm";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { findJob, listAttempts } from "../src/db/jobs";
import { rotateSigningSecret } from "../src/db/projects";
import { outboundOf } from "../src/dispatch/deliver";
import { TIMING } from "../src/dispatch/delivery-run";
import { runTick, WINDOW_OVERLAP_MS } from "../src/dispatch/tick";
import { readSettings } from "../src/settings";
import {
  callApi,
  createProject,
  dueAfterStartLead,
  insertJobRow,
  later,
  onRealPostgres,
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

  it.runIf(onRealPostgres)("loses no job when the database connection dies mid-delivery", async () => {
    const job = await insertJobRow(db, project.id, { url: receiverUrl("slow/600") });
    const tick = tickNow();
    // While the callback is in flight, kill every other session on the database: the tick's
    // connection included. Its results must still be written, on a fresh connection.
    while ((await receivedAt(job.url)).length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    const killed = await db.execute(
      sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`,
    );
    expect(killed.rows.length).toBeGreaterThanOrEqual(1);
    await tick;
    const { job: final, attempts } = await jobState(job.id);
    expect(final).toMatchObject({ status: "succeeded", attempt: 1 });
    expect(attempts.map((a) => a.outcome)).toEqual(["succeeded"]);
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
      expect(received.receivedAt - runAt.getTime()).toBeLessThan(100);
      expect(await receivedAt(marker.url)).toHaveLength(1);
    },
    TIMING.pollIntervalMs + 15_000,
  );
});

describe("limits and fan-out", () => {
  it("never has more than 5 callbacks in flight in one invocation (6 connections, one is the database)", async () => {
    const jobs = await Promise.all(
      Array.from({ length: 30 }, () => insertJobRow(db, project.id, { url: receiverUrl("slow/100") })),
    );
    await receiverPeakInFlight(true);
    await tickNow();
    const peak = await receiverPeakInFlight();
    expect(peak).toBeLessThanOrEqual(5);
    expect(peak).toBeGreaterThanOrEqual(3);
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
    expect(report.local.started).toBe(15);
    for (const job of jobs) {
      expect(await receivedAt(job.url)).toHaveLength(1);
      expect((await jobState(job.id)).job).toMatchObject({ status: "succeeded", attempt: 1 });
    }
    // Each invocation keeps its own cap of 5; together they had more in flight than one could.
    const peak = await receiverPeakInFlight();
    expect(peak).toBeGreaterThan(5);
    expect(peak).toBeLessThanOrEqual(20);
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
