/**
 * Flow control by key: a job's `flow` through the API, the keys API, and the limits held by the
 * engine against a real receiver: rate, parallelism, order, pause, and a keyless job beside them.
 * Concurrency claims (a key's parallelism across invocations) against real Postgres with several
 * connections.
 */
import { eq, inArray, sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { createFliqClient } from "../src/client/index";
import { type ClaimedJob, claimWindow, findJob, listAttempts, startClaimedJobs } from "../src/db/jobs";
import { flowKeys, jobs } from "../src/db/schema";
import { callDashboard, openSession, textOf } from "./support/dashboard";
import {
  callApi,
  insertJobRow,
  later,
  ON_TIME_MS,
  onRealPostgres,
  openTestDatabase,
  receivedAt,
  receiverUrl,
  runTickUntil,
  tickNow,
  useTestProject,
} from "./support/fliq";
import { fliqServiceFetch } from "./support/in-process-fliq";
import type { ReceivedRequest } from "./support/received-request";

const { db, project, token } = await useTestProject();

let keyCount = 0;
/** A key no other test uses. */
const newKey = (what: string) => `${what}-${++keyCount}-${crypto.randomUUID().slice(0, 6)}`;

/** Creates `count` jobs through the API, due at `at`, naming `flow`; the body says which one it is. */
async function createKeyed(count: number, url: string, flow: object | null, at: Date, fields: object = {}) {
  const ids: string[] = [];
  for (let index = 0; index < count; index++) {
    const answer = await callApi("POST", "/jobs", {
      token,
      json: { url, scheduled_at: at.toISOString(), body: String(index), flow, ...fields },
    });
    expect(answer.status, JSON.stringify(answer.body)).toBe(201);
    ids.push(answer.body.id);
  }
  return ids;
}

/**
 * Makes jobs created for later due at `at` (a moment after their creation), all at once: the
 * API fires a job due within seconds itself, one create at a time, where the tick takes them together.
 */
async function makeDue(ids: string[], at: Date): Promise<void> {
  await db.update(jobs).set({ runAt: at, scheduledAt: at }).where(inArray(jobs.id, ids));
}

/** The most requests the receiver had in flight at once among `received`, from their arrival and answer times. */
function peakInFlight(received: ReceivedRequest[]): number {
  const events = received.flatMap((r) => [
    { at: r.receivedAt, delta: 1 },
    { at: r.answeredAt ?? Number.POSITIVE_INFINITY, delta: -1 },
  ]);
  // Ends before starts at the same instant: a request answered as the next arrived was not beside it.
  events.sort((a, b) => a.at - b.at || a.delta - b.delta);
  let inFlight = 0;
  let peak = 0;
  for (const event of events) {
    inFlight += event.delta;
    peak = Math.max(peak, inFlight);
  }
  return peak;
}

/** The most arrivals within any span of `spanMs`. */
function mostArrivalsWithin(received: ReceivedRequest[], spanMs: number): number {
  const times = received.map((r) => r.receivedAt).sort((a, b) => a - b);
  let most = 0;
  let first = 0;
  for (let last = 0; last < times.length; last++) {
    while (times[last] - times[first] >= spanMs) first++;
    most = Math.max(most, last - first + 1);
  }
  return most;
}

async function storedKey(key: string) {
  const [row] = await db.select().from(flowKeys).where(eq(flowKeys.key, key));
  return row;
}

describe("a job's flow through the API", () => {
  it("creates the key with the first job's limits, shows it on the job, and lists it with its backlog", async () => {
    const key = newKey("signup");
    const flow = { key, rate: { limit: 5, period: "1m" }, parallelism: 2 };
    const [id] = await createKeyed(2, receiverUrl("ok"), flow, later(3_600_000));
    expect((await callApi("GET", `/jobs/${id}`, { token })).body.flow_key).toBe(key);

    const read = await callApi("GET", `/flow-keys/${key}`, { token });
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({
      key,
      rate: { limit: 5, period_ms: 60_000 },
      parallelism: 2,
      ordered: false,
      on_head_failure: "wait",
      paused: false,
      paused_reason: null,
      in_flight: 0,
      waiting: 2,
      held: 0,
    });
    const listed = await callApi("GET", "/flow-keys", { token });
    expect(listed.body.flow_keys.map((k: { key: string }) => k.key)).toContain(key);
  });

  it("keeps an existing key's limits when a later job names other ones; PATCH changes them", async () => {
    const key = newKey("kept");
    await createKeyed(1, receiverUrl("ok"), { key, parallelism: 2 }, later(3_600_000));
    await createKeyed(1, receiverUrl("ok"), { key, parallelism: 9, rate: { limit: 1 } }, later(3_600_000));
    expect(await storedKey(key)).toMatchObject({ parallelism: 2, rateLimit: null });

    const changed = await callApi("PATCH", `/flow-keys/${key}`, {
      token,
      json: { rate: { limit: 50, period: 1 }, parallelism: null },
    });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ rate: { limit: 50, period_ms: 1_000 }, parallelism: null });
    const ordered = await callApi("PATCH", `/flow-keys/${key}`, { token, json: { ordered: true } });
    expect(ordered.body).toMatchObject({ ordered: true, parallelism: 1 });
  });

  it.each([
    ["a key with a space", { key: "a b" }, "flow.key"],
    ["an empty key", { key: "" }, "flow.key"],
    ["a rate of zero", { key: "k", rate: { limit: 0 } }, "flow.rate.limit"],
    ["a period under a second", { key: "k", rate: { limit: 1, period: 0.5 } }, "flow.rate.period"],
    ["a period that is not a duration", { key: "k", rate: { limit: 1, period: "soon" } }, "flow.rate.period"],
    ["a parallelism of zero", { key: "k", parallelism: 0 }, "flow.parallelism"],
    ["an ordered key with parallelism 3", { key: "k", ordered: true, parallelism: 3 }, "flow.parallelism"],
    ["an unknown head failure policy", { key: "k", on_head_failure: "retry" }, "flow.on_head_failure"],
    ["an unknown field", { key: "k", burst: 3 }, "flow.burst"],
  ])("refuses %s with 422 naming the field, and stores nothing", async (_what, flow, path) => {
    const answer = await callApi("POST", "/jobs", { token, json: { url: receiverUrl("ok"), delay: "1h", flow } });
    expect(answer.status).toBe(422);
    expect(answer.body.error.code).toBe("validation_failed");
    expect(answer.body.error.details.map((d: { path: string }) => d.path)).toEqual([path]);
    expect((await callApi("GET", "/jobs", { token })).body.jobs).toEqual([]);
    expect(await storedKey("k")).toBeUndefined();
  });

  it("answers 404 for a key the project does not have, and 422 for a bad change", async () => {
    expect((await callApi("GET", "/flow-keys/nope", { token })).status).toBe(404);
    expect((await callApi("PATCH", "/flow-keys/nope", { token, json: { parallelism: 2 } })).status).toBe(404);
    expect((await callApi("POST", "/flow-keys/nope/pause", { token })).status).toBe(404);
    const key = newKey("bad-change");
    await createKeyed(1, receiverUrl("ok"), { key }, later(3_600_000));
    const empty = await callApi("PATCH", `/flow-keys/${key}`, { token, json: {} });
    expect(empty.status).toBe(422);
    const contradictory = await callApi("PATCH", `/flow-keys/${key}`, {
      token,
      json: { ordered: true, parallelism: 4 },
    });
    expect(contradictory.status).toBe(422);
    expect(await storedKey(key)).toMatchObject({ ordered: false, parallelism: null });
  });

  it("does not take a flow in PATCH /jobs: a job's key is fixed when it is created", async () => {
    const [id] = await createKeyed(1, receiverUrl("ok"), null, later(3_600_000));
    const answer = await callApi("PATCH", `/jobs/${id}`, { token, json: { flow: { key: "late" } } });
    expect(answer.status).toBe(422);
    expect((await findJob(db, project.id, id))?.flowKey).toBeNull();
  });
});

describe("the engine holds a key's limits", () => {
  it("parallelism: never more in flight than the key allows, none lost, no retries spent", async () => {
    const key = newKey("parallel");
    const url = receiverUrl("slow/300");
    const ids = await createKeyed(12, url, { key, parallelism: 2 }, later(3_600_000));
    await makeDue(ids, later(100));
    await runTickUntil(later(5_000));
    const received = await receivedAt(url);
    expect(received).toHaveLength(12);
    expect(peakInFlight(received)).toBeLessThanOrEqual(2);
    expect(peakInFlight(received)).toBe(2);
    for (const id of ids) {
      const job = await findJob(db, project.id, id);
      expect(job).toMatchObject({ status: "succeeded", attempt: 1, heldSince: null });
    }
    expect(await storedKey(key)).toMatchObject({ inFlight: 0 });
  });

  it("a held job asked about again and again spends no subrequest of the invocation's budget", async () => {
    const key = newKey("budget");
    const url = receiverUrl("slow/100");
    const ids = await createKeyed(8, url, { key, parallelism: 1 }, later(3_600_000));
    await makeDue(ids, later(100));
    // Eight callbacks fit the tick's budget of ten (17 less what it keeps for itself); the starts that
    // hold seven of them back, again and again, must not spend it.
    await runTickUntil(later(3_000), { SUBREQUEST_BUDGET: "17" });
    expect(await receivedAt(url)).toHaveLength(8);
  });

  it("rate: no span of a period holds more than the limit, and a held job's lateness counts from its time", async () => {
    const key = newKey("rate");
    const url = receiverUrl("ok");
    const ids = await createKeyed(20, url, { key, rate: { limit: 10, period: "1s" } }, later(3_600_000));
    const due = later(100);
    await makeDue(ids, due);
    await runTickUntil(later(4_000));
    const received = await receivedAt(url);
    expect(received).toHaveLength(20);
    expect(mostArrivalsWithin(received, 1_000)).toBeLessThanOrEqual(10);
    // 20 at 10 a second (slots 110 ms apart) take about two seconds.
    const times = received.map((r) => r.receivedAt);
    expect(Math.max(...times) - Math.min(...times)).toBeGreaterThanOrEqual(1_900);
    const lastAttempts = await Promise.all(ids.map((id) => listAttempts(db, id)));
    for (const [attempt] of lastAttempts) {
      expect(attempt.plannedAt.getTime()).toBe(due.getTime());
      expect(attempt.latenessMs).toBeGreaterThanOrEqual(attempt.firedAt.getTime() - due.getTime() - 1);
    }
    expect(Math.max(...lastAttempts.map(([a]) => a.latenessMs))).toBeGreaterThan(1_500);
  });

  it("two keys keep their own limits, and a job without a key due with them is on time", async () => {
    const slowUrl = receiverUrl("slow/200");
    const rateUrl = receiverUrl("ok");
    const plainUrl = receiverUrl("ok");
    const hour = later(3_600_000);
    const ids = [
      ...(await createKeyed(6, slowUrl, { key: newKey("one-at-a-time"), parallelism: 1 }, hour)),
      ...(await createKeyed(8, rateUrl, { key: newKey("four-a-second"), rate: { limit: 4 } }, hour)),
    ];
    const [plain] = await createKeyed(1, plainUrl, null, hour);
    const due = later(600);
    await makeDue([...ids, plain], due);
    await runTickUntil(later(3_500));
    expect(peakInFlight(await receivedAt(slowUrl))).toBe(1);
    const rated = await receivedAt(rateUrl);
    expect(rated).toHaveLength(8);
    expect(mostArrivalsWithin(rated, 1_000)).toBeLessThanOrEqual(4);
    const [plainArrival] = await receivedAt(plainUrl);
    expect(plainArrival.receivedAt - due.getTime()).toBeLessThan(ON_TIME_MS);
    expect((await listAttempts(db, plain))[0].latenessMs).toBeLessThan(ON_TIME_MS);
  });

  it("ordered: one at a time, by due time then creation, whatever the order of creation", async () => {
    const key = newKey("ordered");
    const url = receiverUrl("ok");
    const base = later(3_600_000);
    // Created in reverse: the last created is due first.
    for (let index = 9; index >= 0; index--) {
      await createKeyed(1, url, { key, ordered: true }, new Date(base.getTime() + index), { body: String(index) });
    }
    // Two due at the very same time go in creation order.
    await createKeyed(1, url, { key, ordered: true }, new Date(base.getTime() + 20), { body: "10" });
    await createKeyed(1, url, { key, ordered: true }, new Date(base.getTime() + 20), { body: "11" });
    // All due within the next tick, keeping their order: 10 ms apart, the last two together.
    const shift = later(200).getTime() - base.getTime();
    await db
      .update(jobs)
      .set({
        runAt: sql`${jobs.scheduledAt} + ${shift} * interval '1 millisecond'`,
        scheduledAt: sql`${jobs.scheduledAt} + ${shift} * interval '1 millisecond'`,
      })
      .where(eq(jobs.flowKey, key));
    await runTickUntil(later(3_000));
    const received = await receivedAt(url);
    expect(received.map((r) => Number(r.body))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(peakInFlight(received)).toBe(1);
  });

  it("ordered, on_head_failure wait: the jobs behind a head that fails for good wait, the key pauses, resume goes on", async () => {
    const key = newKey("wait");
    const failing = receiverUrl("status/500");
    const behind = receiverUrl("ok");
    const hour = later(3_600_000);
    const [head] = await createKeyed(1, failing, { key, ordered: true }, hour, { max_retries: 0 });
    const rest = await createKeyed(2, behind, { key, ordered: true }, new Date(hour.getTime() + 1));
    await makeDue([head], later(100));
    await makeDue(rest, later(101));
    await runTickUntil(later(3_000));
    expect((await findJob(db, project.id, head))?.status).toBe("failed");
    expect(await receivedAt(behind)).toHaveLength(0);
    const paused = await callApi("GET", `/flow-keys/${key}`, { token });
    expect(paused.body).toMatchObject({ paused: true, paused_reason: "head_failed", waiting: 2, in_flight: 0 });
    for (const id of rest) expect(await findJob(db, project.id, id)).toMatchObject({ status: "scheduled", attempt: 0 });

    const resumed = await callApi("POST", `/flow-keys/${key}/resume`, { token });
    expect(resumed.body).toMatchObject({ paused: false, paused_reason: null });
    await runTickUntil(later(3_000));
    expect((await receivedAt(behind)).map((r) => Number(r.body))).toEqual([0, 1]);
  });

  it("ordered, on_head_failure skip: a head that fails for good lets the next go", async () => {
    const key = newKey("skip");
    const failing = receiverUrl("status/500");
    const behind = receiverUrl("ok");
    const hour = later(3_600_000);
    const flow = { key, ordered: true, on_head_failure: "skip" };
    const [head] = await createKeyed(1, failing, flow, hour, { max_retries: 0 });
    const rest = await createKeyed(2, behind, flow, new Date(hour.getTime() + 1));
    await makeDue([head], later(100));
    await makeDue(rest, later(101));
    await runTickUntil(later(3_000));
    expect((await receivedAt(behind)).map((r) => Number(r.body))).toEqual([0, 1]);
    expect(await storedKey(key)).toMatchObject({ paused: false, inFlight: 0 });
  });

  it("a paused key's jobs wait without spending retries; resuming makes them due at once", async () => {
    const key = newKey("paused");
    const url = receiverUrl("ok");
    const [id] = await createKeyed(1, url, { key }, later(3_600_000));
    const paused = await callApi("POST", `/flow-keys/${key}/pause`, { token });
    expect(paused.body).toMatchObject({ paused: true, paused_reason: "manual" });
    await db
      .update(jobs)
      .set({ runAt: later(-1_000), scheduledAt: later(-1_000) })
      .where(eq(jobs.id, id));
    await tickNow();
    expect(await receivedAt(url)).toHaveLength(0);
    const held = await findJob(db, project.id, id);
    expect(held).toMatchObject({ status: "scheduled", attempt: 0 });
    expect(held?.runAt.getTime()).toBeGreaterThan(Date.now() + 30_000);
    expect((await callApi("GET", `/flow-keys/${key}`, { token })).body).toMatchObject({ waiting: 1, held: 1 });

    await callApi("POST", `/flow-keys/${key}/resume`, { token });
    await tickNow();
    expect(await receivedAt(url)).toHaveLength(1);
    expect(await findJob(db, project.id, id)).toMatchObject({ status: "succeeded", attempt: 1 });
  });

  it("a job of a key that fails is retried with backoff like any job, and gives its slot back each time", async () => {
    const key = newKey("retry");
    const url = receiverUrl("flaky/1");
    const [id] = await createKeyed(1, url, { key, parallelism: 1 }, later(3_600_000), {
      retry_backoff: { initial_delay_ms: 1_000, max_delay_ms: 1_000 },
    });
    await makeDue([id], later(100));
    await runTickUntil(later(3_000));
    expect(await receivedAt(url)).toHaveLength(2);
    expect(await findJob(db, project.id, id)).toMatchObject({ status: "succeeded", attempt: 2 });
    expect(await storedKey(key)).toMatchObject({ inFlight: 0 });
  });
});

describe("flow keys in the client", () => {
  it("creates a keyed job, reads, changes, pauses, resumes and lists its key", async () => {
    const fliq = createFliqClient({ baseUrl: "https://fliq.internal", token, fetch: fliqServiceFetch });
    const key = newKey("client");
    const job = await fliq.createJob({
      url: receiverUrl("ok"),
      delay: "1h",
      flow: { key, rate: { limit: 10, period: "1m" }, parallelism: 4 },
    });
    expect(job.flow_key).toBe(key);
    expect(await fliq.getFlowKey(key)).toMatchObject({ rate: { limit: 10, period_ms: 60_000 }, parallelism: 4 });
    expect(await fliq.updateFlowKey(key, { rate: null, ordered: true })).toMatchObject({
      rate: null,
      ordered: true,
      parallelism: 1,
    });
    expect(await fliq.pauseFlowKey(key)).toMatchObject({ paused: true, paused_reason: "manual" });
    expect(await fliq.resumeFlowKey(key)).toMatchObject({ paused: false, waiting: 1 });
    const first = await fliq.listFlowKeys({ limit: 1 });
    expect(first.flow_keys).toHaveLength(1);
    const all = await fliq.listFlowKeys({ limit: 500 });
    expect(all.flow_keys.map((k) => k.key)).toContain(key);
    expect(all.next_after).toBeNull();
  });
});

describe.runIf(onRealPostgres)("a key's limits across invocations (several connections)", () => {
  it("starts racing on separate connections never run more of a key at once than its parallelism", async () => {
    const key = newKey("race");
    await createKeyed(1, receiverUrl("ok"), { key, parallelism: 3 }, later(3_600_000));
    await db.delete(jobs).where(eq(jobs.flowKey, key));
    const now = new Date();
    for (let index = 0; index < 40; index++) {
      await insertJobRow(db, project.id, { flowKey: key, runAt: now, scheduledAt: now });
    }
    const connections = Array.from({ length: 4 }, () => openTestDatabase());
    try {
      const claimants = connections.map(() => crypto.randomUUID());
      // Each claimant takes ten of the forty, then all start them at once.
      const claimed: ClaimedJob[][] = [];
      for (const [index, claimant] of claimants.entries()) {
        claimed.push(
          await claimWindow(connections[index].db, {
            claimant,
            dueBefore: later(1_000),
            leaseMs: 30_000,
            now,
            limit: 10,
          }),
        );
      }
      const batches = await Promise.all(
        claimants.map((claimant, index) =>
          startClaimedJobs(connections[index].db, {
            claimant,
            ids: claimed[index].map((job) => job.id),
            dueBy: later(1_000),
            leaseMarginMs: 30_000,
            now: new Date(),
            flow: { keepBefore: later(60_000), claimLeaseMs: 30_000 },
          }),
        ),
      );
      const started = batches.reduce((sum, batch) => sum + batch.started.length, 0);
      const held = batches.reduce((sum, batch) => sum + batch.held.length, 0);
      expect(started).toBe(3);
      expect(held).toBe(37);
      const [{ running }] = (
        await db.execute<{ running: number }>(
          sql`SELECT count(*)::int AS running FROM jobs WHERE flow_key = ${key} AND status = 'running'`,
        )
      ).rows;
      expect(running).toBe(3);
      expect(await storedKey(key)).toMatchObject({ inFlight: 3 });
    } finally {
      await Promise.all(connections.map((connection) => connection.close()));
    }
  });
});

describe("flow keys in the dashboard", () => {
  it("lists each key with its limits, state and backlog, and pauses and resumes it", async () => {
    const key = newKey("dashboard");
    await createKeyed(
      2,
      receiverUrl("ok"),
      { key, rate: { limit: 5, period: "1m" }, parallelism: 2 },
      later(3_600_000),
    );
    const { cookie, csrf } = await openSession(token);
    const page = await callDashboard("GET", "/dashboard/flow-keys", { cookie });
    expect(page.status).toBe(200);
    const text = textOf(page.html);
    expect(text).toContain(key);
    expect(text).toContain("5 per 60 s");
    expect(text).toContain("running");

    const paused = await callDashboard("POST", `/dashboard/flow-keys/${key}/pause`, { cookie, form: { _csrf: csrf } });
    expect(paused.status).toBe(303);
    expect((await callApi("GET", `/flow-keys/${key}`, { token })).body).toMatchObject({ paused: true });
    expect(textOf((await callDashboard("GET", "/dashboard/flow-keys", { cookie })).html)).toContain("paused by hand");
    await callDashboard("POST", `/dashboard/flow-keys/${key}/resume`, { cookie, form: { _csrf: csrf } });
    expect((await callApi("GET", `/flow-keys/${key}`, { token })).body).toMatchObject({ paused: false });
    const missing = await callDashboard("POST", "/dashboard/flow-keys/no-such-key/pause", {
      cookie,
      form: { _csrf: csrf },
    });
    expect(missing.status).toBe(404);
  });
});
