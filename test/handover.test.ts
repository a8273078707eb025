/**
 * Hand-over between the paths that fire jobs: the API request fires jobs due within
 * seconds on its own database connection; what it cannot fire (a timeout too long for its
 * after-response window, a retry due past that window, a job beyond its subrequest budget) is
 * released at once and the tick that owns the window is woken to fire it on its second,
 * instead of finding it at its next poll, up to 10 s late.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { claimIfDueSoon } from "../src/actions/jobs";
import { findJob, listAttempts } from "../src/db/jobs";
import { API_CLAIM_LEASE_MS, WATCH_BEAT_MS } from "../src/jobs/timing";
import {
  callApi,
  databaseConnections,
  insertJobRow,
  later,
  ON_TIME_MS,
  pause,
  receivedAt,
  receiverUrl,
  runTickUntil,
  tickNow,
  useTestProject,
} from "./support/fliq";

const { db, project, token } = await useTestProject();

afterEach(() => {
  vi.restoreAllMocks();
});

async function attemptsOf(id: string) {
  return listAttempts(db, id);
}

/**
 * Starts a tick whose window ends at `windowEnd` and resolves once it has claimed its window:
 * jobs created after that are not in its initial claim, and its next poll is 10 s away. A
 * marker job due at the window's end shows the claim (it fires then, harmlessly). (The tick is
 * returned in an object: an async function returning a promise would wait for it.)
 */
async function tickAfterItsClaim(windowEnd: Date): Promise<{ tick: Promise<void> }> {
  const marker = await insertJobRow(db, project.id, { runAt: new Date(windowEnd.getTime() - 500) });
  const tick = runTickUntil(windowEnd);
  for (let tries = 0; tries < 200; tries++) {
    if ((await findJob(db, project.id, marker.id))?.claimedBy) return { tick };
    await pause(20);
  }
  throw new Error("the tick never claimed its window");
}

/** The hand-over lines the Worker logged. */
function handOverLog() {
  const warn = vi.spyOn(console, "warn");
  return () =>
    warn.mock.calls
      .map(([line]) => (typeof line === "string" && line.startsWith("{") ? JSON.parse(line) : null))
      .filter((entry) => entry?.event === "fliq.handover");
}

describe("firing from the API", () => {
  it("uses the request's own connection: one database connection for the whole call", async () => {
    const url = receiverUrl("ok");
    const before = await databaseConnections();
    const created = await callApi("POST", "/jobs", { token, json: { url, scheduled_at: later(800).toISOString() } });
    expect(created.status).toBe(201);
    expect(created.body.status).toBe("scheduled");
    // callApi waits for the delivery the request left in waitUntil.
    expect(await receivedAt(url)).toHaveLength(1);
    expect((await findJob(db, project.id, created.body.id))?.status).toBe("succeeded");
    // Before: the request's pool and a second one opened for the delivery (two connections).
    expect((await databaseConnections()) - before).toBe(1);
  });

  it("claims a job due soon only a moment past its time, so a path that dies leaves it to the tick soon after", () => {
    const now = new Date("2026-01-01T00:00:00Z");
    const runAt = new Date(now.getTime() + 5_000);
    const claim = claimIfDueSoon(runAt, 1_000, now);
    expect(claim?.lockedUntil.getTime()).toBe(runAt.getTime() + API_CLAIM_LEASE_MS);
    // Due just inside and just outside the window the API can deliver in (28 s less the timeout).
    expect(claimIfDueSoon(new Date(now.getTime() + 26_999), 1_000, now)).not.toBeNull();
    expect(claimIfDueSoon(new Date(now.getTime() + 27_000), 1_000, now)).toBeNull();
  });
});

describe("a claim the API path left behind", () => {
  it("is taken over by the tick once its short lease has run out, not before", async () => {
    const claimant = crypto.randomUUID();
    const lapsedAt = later(-API_CLAIM_LEASE_MS - 500);
    const lapsed = await insertJobRow(db, project.id, {
      runAt: lapsedAt,
      claimedBy: claimant,
      lockedUntil: new Date(lapsedAt.getTime() + API_CLAIM_LEASE_MS),
    });
    const liveAt = later(-API_CLAIM_LEASE_MS + 1_500);
    const live = await insertJobRow(db, project.id, {
      runAt: liveAt,
      claimedBy: claimant,
      lockedUntil: new Date(liveAt.getTime() + API_CLAIM_LEASE_MS),
    });
    await tickNow();
    expect(await receivedAt(lapsed.url)).toHaveLength(1);
    expect(await receivedAt(live.url)).toHaveLength(0);
  });
});

describe("hand-over to the tick that owns the window, through its watchdog, on any database connection", () => {
  it("fires on its second a job due within seconds whose timeout is too long for the API", async () => {
    const { tick } = await tickAfterItsClaim(later(6_000));
    const url = receiverUrl("ok");
    const runAt = later(1_500);
    // 28 s after the response less a 30 s timeout: the API cannot fire it, and the tick's next
    // poll comes after its window has closed.
    const created = await callApi("POST", "/jobs", {
      token,
      json: { url, scheduled_at: runAt.toISOString(), timeout_ms: 30_000 },
    });
    expect(created.status).toBe(201);
    await tick;
    const [received] = await receivedAt(url);
    expect(received).toBeDefined();
    expect(received.receivedAt).toBeGreaterThanOrEqual(runAt.getTime());
    expect(received.receivedAt - runAt.getTime()).toBeLessThan(ON_TIME_MS);
  }, 15_000);

  it("fires on its second a retry due past the API's window, released at once and logged", async () => {
    const logged = handOverLog();
    const { tick } = await tickAfterItsClaim(later(8_000));
    // A 26 s timeout leaves the API a 2 s window: the first attempt fires from the API, its
    // retry (503, Retry-After: 2) falls after that window.
    const created = await callApi("POST", "/jobs", {
      token,
      // A short backoff (0.5 to 1 s), so the Retry-After sets the retry's time.
      json: {
        url: receiverUrl("retry-after/2"),
        timeout_ms: 26_000,
        max_retries: 1,
        retry_backoff: { initial_delay_ms: 1_000 },
      },
    });
    expect(logged()).toEqual([
      expect.objectContaining({ reason: "retry_beyond_window", jobs: [created.body.id], released: 1 }),
    ]);
    const job = await findJob(db, project.id, created.body.id);
    expect(job).toMatchObject({ status: "scheduled", attempt: 1 });
    await tick;
    const attempts = await attemptsOf(created.body.id);
    expect(attempts).toHaveLength(2);
    expect(attempts[1].latenessMs).toBeLessThan(ON_TIME_MS);
  }, 15_000);

  it("fires at once the jobs an API path releases beyond its subrequest budget, and logs why", async () => {
    const logged = handOverLog();
    const { tick } = await tickAfterItsClaim(later(5_000));
    const urls = Array.from({ length: 10 }, () => receiverUrl("ok"));
    // A budget of 10 leaves the API's delivery 9 callbacks: the tenth job is handed over.
    const created = await callApi("POST", "/jobs/batch", {
      token,
      json: { jobs: urls.map((url) => ({ url })) },
      env: { SUBREQUEST_BUDGET: "10" },
    });
    expect(created.status).toBe(201);
    expect(logged()).toEqual([expect.objectContaining({ reason: "subrequest_budget", released: 1 })]);
    const [handedOver] = logged()[0].jobs;
    await tick;
    for (const url of urls) expect(await receivedAt(url)).toHaveLength(1);
    const [attempt] = await attemptsOf(handedOver);
    // Due at once: the tick learns of it at its next report to the watchdog, a beat at most.
    expect(attempt.latenessMs).toBeLessThan(WATCH_BEAT_MS + 500);
  }, 15_000);
});
