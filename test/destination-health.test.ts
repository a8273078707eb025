/**
 * Destination health: a destination failing DESTINATION_PAUSE_AFTER times in a row across jobs
 * is paused, its jobs wait without spending retries, one probe goes at growing intervals, the
 * project's alert URL is told, and a good probe or a person resumes it; healthy destinations
 * are unaffected. Through the engine against the real receiver and the API; the verdicts as pure rules.
 */
import { and, eq, sql } from "drizzle-orm";
import { beforeEach, describe, expect, it } from "vitest";
import { createFliqClient } from "../src/client/index";
import { findJob, listAttempts } from "../src/db/jobs";
import { destinations, jobs } from "../src/db/schema";
import {
  DESTINATION_PAUSE_AFTER,
  destinationVerdict,
  FIRST_PROBE_AFTER_MS,
  nextProbeIntervalMs,
  PROBE_INTERVAL_MAX_MS,
} from "../src/jobs/destination-health";
import { callDashboard, openSession, textOf } from "./support/dashboard";
import {
  callApi,
  dueAfterStartLead,
  insertJobRow,
  later,
  ON_TIME_MS,
  receivedAt,
  receiverUrl,
  runTickUntil,
  tickNow,
  useTestProject,
} from "./support/fliq";
import { fliqServiceFetch } from "./support/in-process-fliq";

const { db, project, token } = await useTestProject();
// Each test starts from destinations with no history.
beforeEach(() => db.delete(destinations).where(eq(destinations.projectId, project.id)));

/** The same receiver under another name: a destination of its own (http://localhost:PORT). */
const elsewhere = (kind: string) => receiverUrl(kind).replace("127.0.0.1", "localhost");
const destinationOf = (url: string) => url.slice(0, url.indexOf("/", url.indexOf("//") + 2));

async function storedDestination(url: string) {
  const [row] = await db
    .select()
    .from(destinations)
    .where(and(eq(destinations.projectId, project.id), eq(destinations.destination, destinationOf(url))));
  return row;
}

/** Fails a destination DESTINATION_PAUSE_AFTER times in a row, one attempt per job, in one tick. */
async function failRepeatedly(url: string) {
  for (let i = 0; i < DESTINATION_PAUSE_AFTER; i++) {
    await insertJobRow(db, project.id, { url, maxRetries: 0, runAt: later(-1_000 + i) });
  }
  await tickNow();
}

describe("what an attempt says about its destination", () => {
  it.each([
    [{ statusCode: 200 }, "up"],
    [{ statusCode: 404 }, "up"],
    [{ statusCode: 301 }, "up"],
    [{ statusCode: 408 }, "down"],
    [{ statusCode: 429 }, "down"],
    [{ statusCode: 503 }, "down"],
    [{ errorClass: "timeout" as const }, "down"],
    [{ errorClass: "connection_refused" as const }, "down"],
    [{ errorClass: "target_refused" as const }, "unknown"],
  ])("%o is %s", (result, verdict) => {
    expect(destinationVerdict(result)).toBe(verdict);
  });

  it("probes after a minute, then twice as long after each failed probe, at most hourly", () => {
    expect(nextProbeIntervalMs(null)).toBe(FIRST_PROBE_AFTER_MS);
    expect(nextProbeIntervalMs(FIRST_PROBE_AFTER_MS)).toBe(2 * FIRST_PROBE_AFTER_MS);
    expect(nextProbeIntervalMs(PROBE_INTERVAL_MAX_MS - 1)).toBe(PROBE_INTERVAL_MAX_MS);
    expect(nextProbeIntervalMs(PROBE_INTERVAL_MAX_MS)).toBe(PROBE_INTERVAL_MAX_MS);
  });
});

describe("a destination that keeps failing", () => {
  it("is not paused one failure short of the limit, and a success starts the count again", async () => {
    const url = elsewhere("status/503");
    for (let i = 0; i < DESTINATION_PAUSE_AFTER - 1; i++) {
      await insertJobRow(db, project.id, { url, maxRetries: 0, runAt: later(-1_000 + i) });
    }
    await tickNow();
    expect(await storedDestination(url)).toMatchObject({
      consecutiveFailures: DESTINATION_PAUSE_AFTER - 1,
      pausedAt: null,
    });
    await insertJobRow(db, project.id, { url: elsewhere("ok"), runAt: later(-500) });
    await tickNow();
    expect(await storedDestination(url)).toMatchObject({ consecutiveFailures: 0, pausedAt: null });
  });

  it("counts every recorded attempt once, though a run tells its answers over several result writes", async () => {
    const answered = elsewhere("ok");
    const failing = elsewhere("status/503");
    // More than one result write's worth (TIMING.flushBatchSize) in one run, a few failures among them.
    for (let i = 0; i < 405; i++) {
      const url = i % 100 === 50 ? failing : answered;
      await insertJobRow(db, project.id, { url, maxRetries: 0, runAt: later(-2_000 + i) });
    }
    await tickNow();
    expect(await storedDestination(answered)).toMatchObject({ attempts: 405, failures: 4, pausedAt: null });
  });

  it("is paused after failing 20 times in a row; its jobs wait unspent, healthy destinations go on, the project is told", async () => {
    const alertUrl = receiverUrl("ok");
    expect((await callApi("PATCH", "/destinations/alert-url", { token, json: { url: alertUrl } })).status).toBe(200);
    const failing = elsewhere("status/503");
    await failRepeatedly(failing);
    const paused = await storedDestination(failing);
    expect(paused).toMatchObject({ consecutiveFailures: DESTINATION_PAUSE_AFTER, failures: DESTINATION_PAUSE_AFTER });
    expect(paused.pausedAt).not.toBeNull();
    expect(paused.nextProbeAt?.getTime()).toBeGreaterThan(Date.now() + FIRST_PROBE_AFTER_MS - 5_000);

    await tickNow(); // fires the alert queued with the pause
    const [alert] = await receivedAt(alertUrl);
    expect(JSON.parse(alert.body)).toMatchObject({ type: "destination.paused", destination: destinationOf(failing) });
    expect(alert.headers["webhook-signature"]).toBeTruthy();

    const waiting = await insertJobRow(db, project.id, { url: elsewhere("status/503"), runAt: later(-200) });
    // Due just after the tick's start lead, so its lateness is the engine's alone.
    const healthy = await insertJobRow(db, project.id, { url: receiverUrl("ok"), runAt: dueAfterStartLead(100) });
    await runTickUntil(later(1_500));
    expect(await receivedAt(waiting.url)).toHaveLength(0);
    const held = await findJob(db, project.id, waiting.id);
    expect(held).toMatchObject({ status: "scheduled", attempt: 0, claimedBy: null });
    expect(held?.heldSince?.getTime()).toBe(waiting.runAt.getTime());
    expect(held?.runAt.getTime()).toBeGreaterThan(Date.now() + 30_000);
    expect(await receivedAt(healthy.url)).toHaveLength(1);
    const [onTime] = await listAttempts(db, healthy.id);
    expect(onTime).toMatchObject({ outcome: "succeeded" });
    expect(onTime.latenessMs).toBeLessThan(ON_TIME_MS);

    const listed = await callApi("GET", "/destinations", { token });
    const shown = listed.body.destinations.find(
      (d: { destination: string }) => d.destination === destinationOf(failing),
    );
    expect(shown).toMatchObject({ state: "paused", consecutive_failures: DESTINATION_PAUSE_AFTER, attempts: 20 });
    expect(shown.success_rate).toBeLessThan(0.2);
  });

  it("lets one probe through when its time comes; a failed probe puts the next one twice as far", async () => {
    const failing = elsewhere("status/503");
    await failRepeatedly(failing);
    const first = await Promise.all(
      [0, 1, 2].map(() => insertJobRow(db, project.id, { url: elsewhere("status/503"), runAt: later(-100) })),
    );
    await db
      .update(destinations)
      .set({ nextProbeAt: later(-1_000) })
      .where(eq(destinations.destination, destinationOf(failing)));
    await tickNow();
    const attempts = await Promise.all(first.map((job) => listAttempts(db, job.id)));
    expect(attempts.map((list) => list.length).sort()).toEqual([0, 0, 1]);
    const after = await storedDestination(failing);
    expect(after.pausedAt).not.toBeNull();
    expect(after.probeIntervalMs).toBe(2 * FIRST_PROBE_AFTER_MS);
    expect(after.nextProbeAt?.getTime()).toBeGreaterThan(Date.now() + 2 * FIRST_PROBE_AFTER_MS - 5_000);
  });

  it("resumes on a good probe, and the jobs it held are delivered at once", async () => {
    const down = elsewhere("status/503");
    await failRepeatedly(down);
    // The destination recovers: its next jobs go to a path that answers.
    const held = await Promise.all(
      [0, 1, 2].map(() => insertJobRow(db, project.id, { url: elsewhere("ok"), runAt: later(-100) })),
    );
    await tickNow();
    for (const job of held) expect(await receivedAt(job.url)).toHaveLength(0);
    await db
      .update(destinations)
      .set({ nextProbeAt: later(-1_000) })
      .where(eq(destinations.destination, destinationOf(down)));
    await db
      .update(jobs)
      .set({ runAt: later(-100) })
      .where(
        sql`${jobs.id} IN (${sql.join(
          held.map((job) => sql`${job.id}::uuid`),
          sql`, `,
        )})`,
      );
    await tickNow(); // the probe succeeds, and the others are released
    await tickNow();
    for (const job of held) {
      expect(await receivedAt(job.url)).toHaveLength(1);
      expect(await findJob(db, project.id, job.id)).toMatchObject({ status: "succeeded", attempt: 1 });
    }
    expect(await storedDestination(down)).toMatchObject({ pausedAt: null, consecutiveFailures: 0 });
  });

  it("is resumed by hand through the API; another project's destination is not found", async () => {
    const down = elsewhere("status/503");
    await failRepeatedly(down);
    const job = await insertJobRow(db, project.id, { url: elsewhere("ok"), runAt: later(-100) });
    await tickNow();
    expect(await receivedAt(job.url)).toHaveLength(0);
    const { id } = await storedDestination(down);
    const resumed = await callApi("POST", `/destinations/${id}/resume`, { token });
    expect(resumed.status).toBe(200);
    expect(resumed.body).toMatchObject({ state: "healthy", consecutive_failures: 0, paused_at: null });
    await tickNow();
    expect(await receivedAt(job.url)).toHaveLength(1);

    expect((await callApi("GET", `/destinations/${crypto.randomUUID()}`, { token })).status).toBe(404);
    expect((await callApi("POST", "/destinations/not-an-id/resume", { token })).status).toBe(404);
  });

  it("refuses an alert URL the target policy refuses, or that is not a URL, and changes nothing", async () => {
    await callApi("PATCH", "/destinations/alert-url", { token, json: { url: null } });
    const bad = await callApi("PATCH", "/destinations/alert-url", { token, json: { url: "ftp://x" } });
    expect(bad.status).toBe(422);
    const unknownField = await callApi("PATCH", "/destinations/alert-url", {
      token,
      json: { uri: "https://a.example" },
    });
    expect(unknownField.status).toBe(422);
    expect((await callApi("GET", "/destinations/alert-url", { token })).body).toEqual({ url: null });
  });
});

describe("destinations in the client", () => {
  it("lists and reads destinations, resumes a paused one, and sets the alert URL", async () => {
    const fliq = createFliqClient({ baseUrl: "https://fliq.internal", token, fetch: fliqServiceFetch });
    const down = elsewhere("status/503");
    await failRepeatedly(down);
    const listed = await fliq.listDestinations();
    const paused = listed.find((d) => d.destination === destinationOf(down));
    expect(paused).toMatchObject({ state: "paused", consecutive_failures: DESTINATION_PAUSE_AFTER });
    expect(await fliq.getDestination(paused?.id ?? "")).toMatchObject({ state: "paused" });
    expect(await fliq.resumeDestination(paused?.id ?? "")).toMatchObject({ state: "healthy" });
    const alertUrl = receiverUrl("ok");
    expect(await fliq.setDestinationAlertUrl(alertUrl)).toBe(alertUrl);
    expect(await fliq.getDestinationAlertUrl()).toBe(alertUrl);
    expect(await fliq.setDestinationAlertUrl(null)).toBeNull();
  });
});

describe("destinations in the dashboard", () => {
  it("shows each destination's state, success and latency, and resumes a paused one", async () => {
    const down = elsewhere("status/503");
    await failRepeatedly(down);
    const { cookie, csrf } = await openSession(token);
    const page = await callDashboard("GET", "/dashboard/destinations", { cookie });
    expect(page.status).toBe(200);
    const text = textOf(page.html);
    expect(text).toContain(destinationOf(down));
    expect(text).toContain("paused");
    expect(text).toContain("0 %");
    const { id } = await storedDestination(down);
    const resumed = await callDashboard("POST", `/dashboard/destinations/${id}/resume`, {
      cookie,
      form: { _csrf: csrf },
    });
    expect(resumed.status).toBe(303);
    expect(await storedDestination(down)).toMatchObject({ pausedAt: null });
    expect(textOf((await callDashboard("GET", "/dashboard/destinations", { cookie })).html)).toContain("healthy");
  });
});
