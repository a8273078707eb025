/**
 * Test support that runs inside workerd: the Worker's own bindings, a database handle,
 * a factory for projects, tokens and job rows in any state, the HTTP surface, and the tick.
 */
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { afterAll, beforeEach } from "vitest";
import { generateApiToken } from "../../src/auth/tokens";
import { type Database, openDatabase } from "../../src/db/client";
import { insertApiToken, insertProject, liveSigningSecrets } from "../../src/db/projects";
import { type JobRow, jobs } from "../../src/db/schema";
import { windowOwnersOf } from "../../src/dispatch/tick-watchdog";
import fliqWorker from "../../src/index";
import { isFinished } from "../../src/jobs/states";
import { TIMING, WINDOW_OVERLAP_MS } from "../../src/jobs/timing";
import { type Bindings, readSettings } from "../../src/settings";
import type { ReceivedRequest } from "./received-request";

export interface TestBindings extends Bindings {
  RECEIVER_URL: string;
  DATABASE_KIND: "postgres" | "pglite";
  /** How the Worker reaches the database: Neon's driver through the bridge, or `pg` through Hyperdrive. */
  DATABASE_VIA: "neon" | "hyperdrive";
  /** A rate limiter of 3 requests a minute (vitest.config.ts), for the rate-limit test. */
  SMALL_RATE_LIMITER: RateLimit;
}

export const testEnv = env as unknown as TestBindings;

/** True when tests run against real Postgres (concurrency claims need it). */
export const onRealPostgres = testEnv.DATABASE_KIND === "postgres";

/** True when the Worker reaches the database with `pg` through a Hyperdrive binding. */
export const viaHyperdrive = testEnv.DATABASE_VIA === "hyperdrive";

/**
 * The usual start of a test file: a database handle (closed after the file), a project with
 * a token and signing secret, and an empty jobs table before each test, so a tick in one
 * test never fires another test's jobs.
 */
export async function useTestProject(scopes?: string[]) {
  const database = openTestDatabase();
  afterAll(() => database.close());
  beforeEach(() => deleteAllJobs(database.db));
  return { db: database.db, ...(await createProject(database.db, scopes)) };
}

/** A moment `ms` from now (negative: ago). */
export const later = (ms: number) => new Date(Date.now() + ms);

/**
 * The lateness a test accepts as "on its second". Tests tell on-time delivery apart from the
 * engine's fallbacks: the watch's beat (1 s), the window's poll (10 s), a claim's lease (30 s),
 * a slow destination's queue (seconds). This stays well below all of them, and wide enough that a
 * loaded machine (a 2-core runner with other work beside the suite) does not fail a delivery
 * the engine made on time: how late jobs really are is the bench's to measure.
 */
export const ON_TIME_MS = 250;

/**
 * A fire time `marginMs` past the engine's start lead from now. The engine starts (and so
 * commits to) a job TIMING.startLeadMs + startBatchMs before its time; a test that must act
 * before that, or that asserts on-time delivery by a tick it starts now, gets `marginMs` for its
 * own work whatever the lead is tuned to: a slow machine eats margin, not the assertion.
 */
export const dueAfterStartLead = (marginMs: number) => later(TIMING.startLeadMs + TIMING.startBatchMs + marginMs);

/** Waits `ms`; only for polling, bounded, while a real tick or callback is under way. */
export const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls (bounded) until a job's row satisfies `ready`, e.g. until a tick running beside the
 * test has claimed or started it; returns the row as last read.
 */
export async function waitForJobRow(db: Database, id: string, ready: (job: JobRow) => boolean): Promise<JobRow> {
  let row: JobRow | undefined;
  for (let i = 0; i < 400; i++) {
    [row] = await db.select().from(jobs).where(eq(jobs.id, id));
    if (row && ready(row)) return row;
    await pause(5);
  }
  throw new Error(`job ${id} did not reach the awaited state; last seen ${JSON.stringify(row)}`);
}

/** A tick whose window is closing: it delivers what is due now and returns. A little slack
 * past now, because the tick reads its own clock after the database answers. */
export const tickNow = () => runTickUntil(later(200));

/** A database handle for one test; close it in afterEach/afterAll. */
export function openTestDatabase() {
  return openDatabase(readSettings(testEnv));
}

/** Creates a project with a token and returns both. */
export async function createProject(db: Database, scopes = ["read", "write"]) {
  const now = new Date();
  const project = await insertProject(db, `test-${crypto.randomUUID().slice(0, 8)}`, now);
  const generated = await generateApiToken();
  await insertApiToken(
    db,
    { projectId: project.id, name: "test", prefix: generated.prefix, tokenHash: generated.hash, scopes },
    now,
  );
  const [signingSecret] = await liveSigningSecrets(db, project.id, now);
  return { project, token: generated.token, signingSecret };
}

/** Inserts a job row in any state; defaults describe a job due now (a finished one finished now). */
export async function insertJobRow(db: Database, projectId: string, overrides: Partial<JobRow> = {}): Promise<JobRow> {
  const now = new Date();
  const [row] = await db
    .insert(jobs)
    .values({
      id: crypto.randomUUID(),
      projectId,
      url: receiverUrl("ok"),
      httpMethod: "POST",
      headers: {},
      body: null,
      scheduledAt: now,
      runAt: now,
      maxRetries: 3,
      timeoutMs: 5_000,
      status: "scheduled",
      attempt: 0,
      createdAt: now,
      updatedAt: now,
      // A finished job has finished_at and an unfinished one has none (the database's CHECK).
      finishedAt: overrides.status && isFinished(overrides.status) ? now : null,
      ...overrides,
    })
    .returning();
  return row;
}

/** Moves a job's next attempt (and its requested time) to `runAt`, instead of waiting for it. */
export async function moveRunAt(db: Database, id: string, runAt: Date): Promise<void> {
  await db.update(jobs).set({ runAt, scheduledAt: runAt }).where(eq(jobs.id, id));
}

/** Removes every job, so a tick in one test never sees another test's jobs. */
export async function deleteAllJobs(db: Database): Promise<void> {
  await db.delete(jobs);
}

/** A fresh URL on the test receiver; `kind` picks its behaviour (see test/setup/receiver.ts). */
export function receiverUrl(kind: string): string {
  return `${testEnv.RECEIVER_URL}/${kind}/${crypto.randomUUID()}`;
}

/** The most callbacks the receiver had in flight at once since the last reset. */
export async function receiverPeakInFlight(reset = false): Promise<number> {
  const response = await fetch(`${testEnv.RECEIVER_URL}/__concurrency`, { method: reset ? "POST" : "GET" });
  return ((await response.json()) as { peakInFlight: number }).peakInFlight;
}

/**
 * Database connections the Worker has opened so far, as the bridge counts them (locally it stands in
 * for Neon's proxy and pooler, and every database connection of the Worker goes through it).
 */
export async function databaseConnections(): Promise<number> {
  const stats = (await (await fetch(`http://${testEnv.LOCAL_DB_PROXY}/stats`)).json()) as { clientConnections: number };
  return stats.clientConnections;
}

/** What the receiver got on the given URL's path. */
export async function receivedAt(url: string): Promise<ReceivedRequest[]> {
  const path = new URL(url).pathname;
  const response = await fetch(`${testEnv.RECEIVER_URL}/__inbox?path=${encodeURIComponent(path)}`);
  return response.json();
}

export interface ApiResponse {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are asserted field by field
  body: any;
}

/** Calls the Worker's HTTP surface, as a client would. */
export async function callApi(
  method: string,
  path: string,
  options: {
    token?: string;
    json?: unknown;
    rawBody?: string;
    headers?: Record<string, string>;
    /** Bindings to change for this call only (e.g. a production setting the tests otherwise relax). */
    env?: Partial<TestBindings>;
  } = {},
): Promise<ApiResponse> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined = options.rawBody;
  if (options.json !== undefined) {
    headers["content-type"] = "application/json";
    body = JSON.stringify(options.json);
  }
  const ctx = createExecutionContext();
  const request = new Request(`http://fliq.test${path}`, { method, headers, body });
  const callEnv = options.env ? { ...testEnv, ...options.env } : testEnv;
  const response = await fliqWorker.fetch(request as Parameters<typeof fliqWorker.fetch>[0], callEnv, ctx);
  const text = await response.text();
  // Work the request left in waitUntil (a delivery it fires itself) finishes before the test goes on.
  await waitOnExecutionContext(ctx);
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : null };
}

/**
 * Runs the cron handler as the runtime would, for the tick whose window ends at `windowEnd`
 * (a back-dated minute, so the test need not wait out a whole window), and waits for all its work.
 * Tests write rows directly, where the API would tell the engine's clock (see TickWatchdog) what
 * falls due: so the clock is told that something may be due now, unless `clock: "as is"` (the
 * tests of the clock itself).
 */
export async function runTickUntil(
  windowEnd: Date,
  envOverrides?: Partial<TestBindings>,
  options: { clock: "something due" | "as is" } = { clock: "something due" },
): Promise<void> {
  if (options.clock === "something due") await windowOwnersOf(testEnv.TICK_WATCHDOG).due(Date.now());
  const scheduledTime = windowEnd.getTime() - 60_000 - WINDOW_OVERLAP_MS;
  const controller = createScheduledController({ scheduledTime, cron: "* * * * *" });
  const ctx = createExecutionContext();
  await fliqWorker.scheduled(controller, envOverrides ? { ...testEnv, ...envOverrides } : testEnv, ctx);
  await waitOnExecutionContext(ctx);
}
