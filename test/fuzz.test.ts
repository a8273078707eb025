/**
 * Property-based fuzzing of the HTTP surface with fast-check: thousands of malformed requests
 * (arbitrary JSON, near-valid jobs with one field broken, raw non-JSON bodies, odd ids, paths,
 * methods, Authorization headers, job headers and content types) against every jobs route.
 *
 * What every response must keep, whatever the input:
 *   - never a 5xx (nor a 1xx/3xx): a bad request is the caller's fault, a 4xx;
 *   - every non-2xx is exactly {"error": {"code": snake_case, "message": string, "details": [{path, message}]}};
 *   - a 4xx writes nothing: every project's job count and latest write, and every fixture row, are unchanged;
 *   - no mass assignment: a 2xx create or change was sent writable fields only, and the stored row
 *     keeps its server-owned fields (id, project, status, attempt, claim, timestamps, webhook id);
 *   - a request never touches another project's jobs, and never pollutes Object.prototype.
 *
 * No request may fire a callback at a real host. Fixture jobs and valid bodies point at the local
 * receiver; any body whose url or failure_url is anything else is sent with scheduled_at ~300 days
 * ahead (guardBody), just before it leaves; and jobs get a 120 s timeout, so none is claimed for
 * delivery from the request unless it is long overdue (then it fires at the receiver at once).
 *
 * A failure prints fast-check's seed and path (replay: add both to fuzzParams); shrinking is capped,
 * as each step is a request.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { inArray, sql } from "drizzle-orm";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateApiToken } from "../src/auth/tokens";
import { insertApiToken } from "../src/db/projects";
import { type JobRow, jobs } from "../src/db/schema";
import fliqWorker from "../src/index";
import { JOB_STATUSES } from "../src/jobs/states";
import { createProject, deleteAllJobs, insertJobRow, onRealPostgres, openTestDatabase, testEnv } from "./support/fliq";

// ---------------------------------------------------------------------------------------------
// Budget: each request goes through workerd and the database (a new connection per request), so
// runs are counted per property to keep the file well under a minute on two cores.
// ---------------------------------------------------------------------------------------------

// Real Postgres costs a new authenticated connection per request (~40 ms here); PGlite is several times
// faster, so it gets twice the runs in about the same time.
const SCALE = onRealPostgres ? 1 : 2;
const RUNS = {
  create: 150 * SCALE,
  change: 120 * SCALE,
  ids: 120 * SCALE,
  authorization: 250 * SCALE,
  jobHeaders: 80 * SCALE,
  massAssignment: 80 * SCALE,
  queries: 120 * SCALE,
  bulk: 120 * SCALE,
};

/**
 * fast-check options: no fixed seed (a failure prints its seed and path: replay it by adding
 * `seed` and `path` here).
 */
function fuzzParams<T>(numRuns: number): fc.Parameters<T> {
  return { numRuns };
}

/** Each shrinking step is a request: a failure is shrunk this many steps at most, then reported. */
const shrinkable = <T>(arbitrary: fc.Arbitrary<T>) => fc.limitShrink(arbitrary, 150);

const TEST_TIMEOUT = 60_000;

const database = openTestDatabase();
const db = database.db;

const DAY_MS = 86_400_000;
/** Far ahead (never due while the suite runs) but inside the 366-day horizon. */
const FUTURE = new Date(Date.now() + 300 * DAY_MS);
const FUTURE_ISO = FUTURE.toISOString();
const RECEIVER = testEnv.RECEIVER_URL;
/** The one callback URL valid bodies use: the local receiver, answering 200. */
const RECEIVER_OK = `${RECEIVER}/ok/fuzz`;
/** Long enough that a job created or moved by a request is never claimed for delivery from that request (28 s window). */
const SAFE_TIMEOUT_MS = 120_000;

const CREATE_FIELDS = [
  "url",
  "http_method",
  "scheduled_at",
  "delay",
  "headers",
  "body",
  "max_retries",
  "timeout_ms",
  "retry_backoff",
  "labels",
  "failure_url",
] as const;
const PATCH_FIELDS = CREATE_FIELDS.filter((field) => field !== "delay");
const BACKOFF_FIELDS = ["initial_delay_ms", "max_delay_ms"];
const SERVER_FIELDS = [
  "id",
  "status",
  "attempt",
  "project_id",
  "projectId",
  "created_at",
  "updated_at",
  "finished_at",
  "run_at",
  "claimed_by",
  "claimedBy",
  "locked_until",
  "webhook_id",
  "last_status_code",
  "last_error",
  "idempotency_key",
  "idempotency_fingerprint",
  "attempts",
  "ID",
  "Status",
  "prototype",
];

// ---------------------------------------------------------------------------------------------
// Projects and fixture jobs (all pointing at the receiver, never due).
// ---------------------------------------------------------------------------------------------

interface Project {
  id: string;
  token: string;
}

/** A: the project most requests run as. B: another project, whose jobs nobody else may touch. C: bulk routes. */
let A: Project;
let B: Project;
let C: Project;
/** A read-only token of project A. */
let readToken: string;
let fixtures: {
  aScheduled: JobRow;
  aRunning: JobRow;
  aSucceeded: JobRow;
  aCanceled: JobRow;
  aFailed: JobRow;
  bScheduled: JobRow;
  cScheduled: JobRow;
  cSucceeded: JobRow;
  cCanceled: JobRow;
};
let fixtureRows: JobRow[];
const fixtureOwner = new Map<string, string>();

async function newProject(scopes?: string[]): Promise<Project> {
  const { project, token } = await createProject(db, scopes);
  return { id: project.id, token };
}

async function fixture(projectId: string, overrides: Partial<JobRow>): Promise<JobRow> {
  return insertJobRow(db, projectId, {
    url: RECEIVER_OK,
    scheduledAt: FUTURE,
    runAt: FUTURE,
    timeoutMs: SAFE_TIMEOUT_MS,
    labels: { fuzz: "fixture" },
    headers: { "X-Fixture": "1" },
    body: "fixture",
    ...overrides,
  });
}

beforeAll(async () => {
  await deleteAllJobs(db);
  A = await newProject();
  B = await newProject();
  C = await newProject();
  readToken = await tokenFor(A.id, ["read"]);
  const past = new Date(Date.now() - DAY_MS);
  const finished = { attempt: 1, finishedAt: past, scheduledAt: past, runAt: past };
  fixtures = {
    aScheduled: await fixture(A.id, {}),
    aRunning: await fixture(A.id, {
      status: "running",
      attempt: 1,
      claimedBy: crypto.randomUUID(),
      lockedUntil: FUTURE,
    }),
    aSucceeded: await fixture(A.id, { status: "succeeded", lastStatusCode: 200, ...finished }),
    aCanceled: await fixture(A.id, { status: "canceled", ...finished, attempt: 0 }),
    aFailed: await fixture(A.id, { status: "failed", lastStatusCode: 500, lastError: "boom", ...finished }),
    bScheduled: await fixture(B.id, {}),
    cScheduled: await fixture(C.id, {}),
    cSucceeded: await fixture(C.id, { status: "succeeded", lastStatusCode: 200, ...finished }),
    cCanceled: await fixture(C.id, { status: "canceled", ...finished, attempt: 0 }),
  };
  fixtureRows = Object.values(fixtures);
  for (const row of fixtureRows) fixtureOwner.set(row.id, row.projectId);
  baseline = await snapshot();
});

afterAll(async () => {
  // Nothing of this file may be left for a later file's tick to fire.
  await db.delete(jobs).where(inArray(jobs.projectId, [A.id, B.id, C.id]));
  await database.close();
});

/** Another token of an existing project, with the given scopes. */
async function tokenFor(projectId: string, scopes: string[]): Promise<string> {
  const generated = await generateApiToken();
  await insertApiToken(
    db,
    { projectId, name: "fuzz", prefix: generated.prefix, tokenHash: generated.hash, scopes },
    new Date(),
  );
  return generated.token;
}

// ---------------------------------------------------------------------------------------------
// Database snapshots: what a request may have written.
// ---------------------------------------------------------------------------------------------

interface Snapshot {
  /** Per project: its job count and latest updated_at. */
  projects: Record<string, string>;
  /** Per fixture job: its whole stored row. */
  fixtures: Record<string, string>;
}

async function snapshot(): Promise<Snapshot> {
  const uuids = (ids: string[]) =>
    sql.join(
      ids.map((id) => sql`${id}::uuid`),
      sql`, `,
    );
  const projectIds = [A.id, B.id, C.id];
  const result = await db.execute<{ snap: string }>(sql`
    SELECT json_build_object(
      'projects', (
        SELECT coalesce(json_object_agg(project_id, n || ' jobs, latest write ' || latest), '{}')
        FROM (
          SELECT project_id, count(*) AS n, max(updated_at) AS latest
          FROM jobs WHERE project_id IN (${uuids(projectIds)}) GROUP BY project_id
        ) counted
      ),
      'fixtures', (
        SELECT coalesce(json_object_agg(id, row_to_json(j)::text), '{}')
        FROM jobs j WHERE id IN (${uuids(fixtureRows.map((row) => row.id))})
      )
    )::text AS snap`);
  const stored = JSON.parse(result.rows[0].snap) as Snapshot;
  return {
    projects: Object.fromEntries(projectIds.map((id) => [id, stored.projects[id] ?? "0 jobs"])),
    fixtures: Object.fromEntries(fixtureRows.map((row) => [row.id, stored.fixtures[row.id] ?? "(deleted)"])),
  };
}

const jobCount = (snap: Snapshot, projectId: string) => Number.parseInt(snap.projects[projectId], 10);

/** The fixture rows as inserted. */
let baseline: Snapshot;

/** Puts back every fixture job a request changed, so each run starts from the same rows. */
async function restoreFixtures(snap: Snapshot): Promise<boolean> {
  const changed = fixtureRows.filter((row) => snap.fixtures[row.id] !== baseline.fixtures[row.id]);
  if (changed.length === 0) return false;
  const ids = changed.map((row) => row.id);
  await db.delete(jobs).where(inArray(jobs.id, ids));
  await db.insert(jobs).values(changed);
  return true;
}

// ---------------------------------------------------------------------------------------------
// Requests: built from plain descriptions (so fast-check prints them), sent as a client would.
// ---------------------------------------------------------------------------------------------

/** A long string, described rather than spelled out, so counterexamples stay readable. */
interface Repeat {
  $repeat: string;
  n: number;
  prefix?: string;
}
const rep = (s: string, n: number, prefix = ""): Repeat => ({ $repeat: s, n, prefix });
const isRepeat = (value: unknown): value is Repeat =>
  typeof value === "object" && value !== null && "$repeat" in value && "n" in value;
const expandRepeats = (_key: string, value: unknown) =>
  isRepeat(value) ? (value.prefix ?? "") + value.$repeat.repeat(value.n) : value;

type Body =
  /** JSON.stringify(json); `members` are raw `"key": value` texts added last (for keys such as __proto__). */
  { json: unknown; members?: string[] } | { raw: string } | { raw: Repeat };

interface Call {
  method: string;
  path: string;
  /** The Authorization header as sent; `token` is shorthand for `Bearer <token>`. */
  authorization?: string;
  token?: string;
  headers?: Record<string, string>;
  body?: Body;
}

function bodyText(body: Body): string {
  if ("raw" in body) return typeof body.raw === "string" ? body.raw : (expandRepeats("", body.raw) as string);
  const text = JSON.stringify(body.json, expandRepeats) ?? "null";
  if (!body.members?.length || !text.startsWith("{")) return text;
  return `${text.slice(0, -1)}${text === "{}" ? "" : ","}${body.members.join(",")}}`;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);
const isReceiverUrl = (value: unknown) => typeof value === "string" && value.startsWith(`${RECEIVER}/`);

/** A job body whose callback could reach a real host is moved far into the future. */
function guardJob(value: unknown): unknown {
  if (!isObject(value)) return value;
  const risky = (key: string) =>
    Object.hasOwn(value, key) && !(key === "failure_url" && value[key] === null) && !isReceiverUrl(value[key]);
  if (!risky("url") && !risky("failure_url")) return value;
  const guarded: Record<string, unknown> = { ...value, scheduled_at: FUTURE_ISO };
  delete guarded.delay;
  return guarded;
}

/** The body the server will parse (BOM stripped, as Request.text() does), guarded. */
function parseSent(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text.replace(/^\uFEFF/, "")) };
  } catch {
    return { ok: false };
  }
}

function guardBody(text: string): string {
  const parsed = parseSent(text);
  if (!parsed.ok || !isObject(parsed.value)) return text;
  const value = parsed.value;
  let guarded = guardJob(value);
  if (Array.isArray(value.jobs)) guarded = { ...(guarded as object), jobs: value.jobs.map(guardJob) };
  return guarded === value ? text : JSON.stringify(guarded);
}

interface Sent {
  request: Request;
  /** The body as sent, parsed (undefined when there is none or it is not JSON). */
  sentJson: unknown;
  status: number;
  contentType: string | null;
  text: string;
  json: unknown;
  startedAt: number;
  endedAt: number;
}

/** Builds the request (undefined when no client could send it: a forbidden method, say) and sends it. */
async function send(call: Call): Promise<Sent | undefined> {
  const headers = new Headers();
  const setHeader = (name: string, value: string) => {
    try {
      headers.set(name, value);
    } catch {
      // Not a header a client can send (CR/LF, NUL, beyond Latin-1): it is left out.
    }
  };
  for (const [name, value] of Object.entries(call.headers ?? {})) setHeader(name, value);
  if (call.token !== undefined) setHeader("authorization", `Bearer ${call.token}`);
  if (call.authorization !== undefined) setHeader("authorization", call.authorization);
  const bodyless = call.method.toUpperCase() === "GET" || call.method.toUpperCase() === "HEAD";
  const text = call.body && !bodyless ? guardBody(bodyText(call.body)) : undefined;
  let request: Request;
  try {
    request = new Request(`http://fliq.test${call.path}`, { method: call.method, headers, body: text });
  } catch {
    return undefined;
  }
  const parsed = text === undefined ? undefined : parseSent(text);
  const ctx = createExecutionContext();
  const startedAt = Date.now();
  const response = await fliqWorker.fetch(request.clone() as Parameters<typeof fliqWorker.fetch>[0], testEnv, ctx);
  const responseText = await response.text();
  await waitOnExecutionContext(ctx);
  const endedAt = Date.now();
  let json: unknown;
  try {
    json = responseText ? JSON.parse(responseText) : undefined;
  } catch {
    json = undefined;
  }
  return {
    request,
    sentJson: parsed?.ok ? parsed.value : undefined,
    status: response.status,
    contentType: response.headers.get("content-type"),
    text: responseText,
    json,
    startedAt,
    endedAt,
  };
}

// ---------------------------------------------------------------------------------------------
// The properties every exchange is held to.
// ---------------------------------------------------------------------------------------------

const SNAKE_CASE = /^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$/;
const prototypeKeys = Object.getOwnPropertyNames(Object.prototype).sort().join(",");

interface Exchange {
  sent: Sent;
  before: Snapshot;
  after: Snapshot;
  /** The project whose token made the request, when it was a valid one. */
  caller?: string;
}

/**
 * Sends a call and checks what holds for every response. Returns the exchange for
 * route-specific checks, or undefined when the call could not be built.
 */
async function exchange(call: Call, caller?: string): Promise<Exchange | undefined> {
  const before = await snapshot();
  const clean = (await restoreFixtures(before)) ? await snapshot() : before;
  const sent = await send(call);
  if (!sent) return undefined;
  const after = await snapshot();
  const what = `${call.method} ${call.path} answered ${sent.status}: ${sent.text.slice(0, 500)}`;

  expect(sent.status, what).toBeGreaterThanOrEqual(200);
  expect(sent.status, what).toBeLessThan(500);
  expect(sent.status >= 300 && sent.status < 400, what).toBe(false);
  expect(Object.getOwnPropertyNames(Object.prototype).sort().join(","), "Object.prototype polluted").toBe(
    prototypeKeys,
  );
  expect(({} as Record<string, unknown>).status, "Object.prototype polluted").toBeUndefined();

  const isHead = sent.request.method === "HEAD";
  if (sent.status >= 400) {
    if (!isHead) {
      expect(sent.contentType ?? "", what).toMatch(/^application\/json/);
      expect(sent.json, what).toStrictEqual({
        error: { code: expect.stringMatching(SNAKE_CASE), message: expect.any(String), details: expect.any(Array) },
      });
      for (const detail of (sent.json as { error: { details: unknown[] } }).error.details) {
        expect(detail, what).toStrictEqual({ path: expect.any(String), message: expect.any(String) });
      }
    }
    expect(after, `a ${sent.status} wrote: ${what}`).toStrictEqual(clean);
  } else {
    if (!isHead) expect(isObject(sent.json), `a ${sent.status} that is not a JSON object: ${what}`).toBe(true);
    // Whatever a request does, it never touches another project's jobs.
    for (const project of [A.id, B.id, C.id].filter((id) => id !== caller)) {
      expect(after.projects[project], `${what} changed project ${project}`).toBe(clean.projects[project]);
    }
    for (const row of fixtureRows.filter((r) => r.projectId !== caller)) {
      expect(after.fixtures[row.id], `${what} changed another project's job`).toBe(clean.fixtures[row.id]);
    }
    if (["GET", "HEAD"].includes(sent.request.method)) expect(after, `a read wrote: ${what}`).toStrictEqual(clean);
  }
  return { sent, before: clean, after, caller };
}

const keysOf = (value: unknown) => (isObject(value) ? Object.keys(value) : []);

/** A 2xx POST /jobs: writable fields only were sent, and the stored job is the server's own. */
async function expectHonestCreate(ex: Exchange): Promise<void> {
  const { sent, before, after } = ex;
  const what = `POST /jobs answered ${sent.status} to ${JSON.stringify(sent.sentJson)?.slice(0, 500)}`;
  expect(
    keysOf(sent.sentJson).filter((key) => !(CREATE_FIELDS as readonly string[]).includes(key)),
    what,
  ).toEqual([]);
  const backoff = (sent.sentJson as Record<string, unknown>).retry_backoff;
  expect(
    keysOf(backoff).filter((key) => !BACKOFF_FIELDS.includes(key)),
    what,
  ).toEqual([]);
  expect(after.fixtures, `${what}: a create changed an existing job`).toStrictEqual(before.fixtures);
  expect(jobCount(after, A.id), what).toBe(jobCount(before, A.id) + (sent.status === 201 ? 1 : 0));
  const id = (sent.json as { id: string }).id;
  const [row] = await db
    .select()
    .from(jobs)
    .where(inArray(jobs.id, [id]));
  expect(row, what).toBeDefined();
  expect(row.projectId, what).toBe(A.id);
  expect(row.webhookId, what).toMatch(/^msg_[0-9a-f]{32}$/);
  if (sent.status === 201) {
    expect(row.createdAt.getTime(), what).toBeGreaterThanOrEqual(sent.startedAt - 1000);
    expect(row.createdAt.getTime(), what).toBeLessThanOrEqual(sent.endedAt + 1000);
    expect(row.updatedAt.getTime(), what).toBeGreaterThanOrEqual(row.createdAt.getTime());
  }
  if (row.runAt.getTime() > sent.endedAt + 60_000) {
    expect(row, what).toMatchObject({
      status: "scheduled",
      attempt: 0,
      claimedBy: null,
      lockedUntil: null,
      finishedAt: null,
      lastStatusCode: null,
      lastError: null,
    });
  }
}

/** A 2xx PATCH: writable fields only were sent, and the job keeps its server-owned fields. */
async function expectHonestChange(ex: Exchange, target: JobRow): Promise<void> {
  const { sent, before, after } = ex;
  const what = `PATCH answered ${sent.status} to ${JSON.stringify(sent.sentJson)?.slice(0, 500)}`;
  expect(
    keysOf(sent.sentJson).filter((key) => !(PATCH_FIELDS as readonly string[]).includes(key)),
    what,
  ).toEqual([]);
  const backoff = (sent.sentJson as Record<string, unknown>).retry_backoff;
  expect(
    keysOf(backoff).filter((key) => !BACKOFF_FIELDS.includes(key)),
    what,
  ).toEqual([]);
  expect(target.status, `${what}: changed a ${target.status} job`).toBe("scheduled");
  expect(jobCount(after, target.projectId), what).toBe(jobCount(before, target.projectId));
  for (const row of fixtureRows.filter((r) => r.id !== target.id)) {
    expect(after.fixtures[row.id], `${what}: changed another job`).toBe(before.fixtures[row.id]);
  }
  const [row] = await db
    .select()
    .from(jobs)
    .where(inArray(jobs.id, [target.id]));
  expect(row, what).toMatchObject({
    id: target.id,
    projectId: target.projectId,
    createdAt: target.createdAt,
    webhookId: target.webhookId,
    idempotencyKey: target.idempotencyKey,
  });
  expect(row.updatedAt.getTime(), what).toBeGreaterThanOrEqual(sent.startedAt - 1000);
  expect(row.updatedAt.getTime(), what).toBeLessThanOrEqual(sent.endedAt + 1000);
  if (row.runAt.getTime() > sent.endedAt + 60_000) {
    expect(row, what).toMatchObject({
      status: "scheduled",
      attempt: target.attempt,
      claimedBy: null,
      lockedUntil: null,
      finishedAt: null,
      lastStatusCode: target.lastStatusCode,
      lastError: target.lastError,
    });
  }
}

/** A 2xx on a single job's route: only that job, of the caller's project, changed. */
function expectOnlyNamedJobChanged(ex: Exchange): void {
  const { sent, before, after, caller } = ex;
  const what = `${sent.request.method} ${new URL(sent.request.url).pathname} answered ${sent.status}`;
  const id = isObject(sent.json) && typeof sent.json.id === "string" ? sent.json.id : undefined;
  for (const row of fixtureRows) {
    if (row.id === id && row.projectId === caller) continue;
    expect(after.fixtures[row.id], `${what}: changed job ${row.id}`).toBe(before.fixtures[row.id]);
  }
  if (id && fixtureOwner.has(id)) expect(fixtureOwner.get(id), what).toBe(caller);
  for (const project of [A.id, B.id, C.id]) {
    expect(jobCount(after, project), what).toBe(jobCount(before, project));
  }
}

// ---------------------------------------------------------------------------------------------
// Generators.
// ---------------------------------------------------------------------------------------------

const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((code) => String.fromCharCode(code));
const nastyChar = fc.oneof(
  fc.constantFrom(
    "\u0000",
    "\r",
    "\n",
    "\r\n",
    "\t",
    "\u0007",
    "\u007f",
    "\u0085",
    "\u00a0",
    "\u2028",
    "\u202e",
    "\ufeff",
    "\uffff",
    "é",
    "ß",
    "İ",
    "😀",
    "%",
    "%00",
    "\\",
    '"',
    "'",
    "/",
    ":",
    "?",
    "#",
  ),
  loneSurrogate,
  fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 1 }),
);
/** Text Postgres refuses (NUL) or cannot store as sent (an unpaired surrogate), inside ordinary text. */
const storageHostile = fc
  .tuple(
    fc.string({ maxLength: 6 }),
    fc.constantFrom("\u0000", "\ud800", "\udfff", "\u0000\ud83d"),
    fc.string({ maxLength: 6 }),
  )
  .map(([before, hostile, after]) => before + hostile + after);
const nastyString = fc.oneof(
  { weight: 3, arbitrary: storageHostile },
  { weight: 3, arbitrary: fc.string({ unit: "binary", maxLength: 24 }) },
  { weight: 3, arbitrary: fc.string({ unit: nastyChar, maxLength: 12 }) },
  { weight: 2, arbitrary: fc.string({ maxLength: 24 }) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "",
      " ",
      "null",
      "undefined",
      "true",
      "NaN",
      "Infinity",
      "-Infinity",
      "1e400",
      "-0",
      "0x1F",
      "[]",
      "{}",
      "' OR '1'='1",
      "'; DROP TABLE jobs; --",
      "$1",
      `$${"{"}7*7}`,
      "{{7*7}}",
      "<script>alert(1)</script>",
      "../../etc/passwd",
      "\u0000",
      "a\u0000b",
      "\ud800",
      "\udfff\ud800",
    ),
  },
);
const longString = fc.constantFrom(rep("a", 2_049), rep("é", 8_193), rep("x", 65_537));

const anyJson = fc.jsonValue({ maxDepth: 3 });
const odd = fc.constantFrom<unknown>(
  null,
  true,
  false,
  0,
  -0,
  -1,
  0.5,
  1.5,
  -1.5,
  1e21,
  1e308,
  -1e308,
  5e-324,
  2 ** 31,
  2 ** 31 - 1,
  -(2 ** 31) - 1,
  2 ** 53,
  Number.MAX_SAFE_INTEGER + 2,
  [],
  {},
  [null],
  [[]],
  { "": null },
  { $gt: "" },
  ["a", "b"],
  { url: null },
);
/** Any value where a field is expected. */
const junk = fc.oneof(
  { weight: 3, arbitrary: anyJson },
  { weight: 3, arbitrary: nastyString },
  { weight: 3, arbitrary: odd },
  { weight: 1, arbitrary: fc.double() },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.bigInt().map(String) },
  { weight: 1, arbitrary: longString },
);
/**
 * Any generated value as the text of a query parameter. String() throws for some of what
 * `junk` makes (an object without a prototype), which would fail the generator, not the API.
 */
function asQueryText(value: unknown): string {
  try {
    return String(value);
  } catch {
    try {
      return JSON.stringify(value) ?? "";
    } catch {
      return Object.prototype.toString.call(value);
    }
  }
}

const numberJunk = fc.oneof(
  junk,
  fc.integer({ min: -1_000_000, max: 10_000_000 }),
  fc.double({ min: -1e6, max: 1e7 }),
  fc.integer().map(String),
);

const urlJunk = fc.oneof(
  junk,
  fc.webUrl({ withQueryParameters: true, withFragments: true }),
  fc.constantFrom<unknown>(
    "javascript:alert(1)",
    "file:///etc/passwd",
    "ftp://example.com/file",
    "data:text/plain,hi",
    "mailto:a@example.com",
    "http://",
    "https://",
    "http:///path",
    "//example.com/x",
    "example.com/x",
    "/relative",
    "http://exa mple.com/",
    "http://[::1",
    "http://[::1]:99999/",
    "http://127.0.0.1:0/",
    "http://user:pass@example.com/",
    "HTTP://EXAMPLE.COM/X",
    "https://example.com/\u0000",
    "https://example.com/a\r\nX-Injected: 1",
    "https://exämple.com/é",
    "https://example.com/\ud800",
    "https://xn--/",
    "https://%00/",
    "https://example.com:65536/",
    rep("a", 2_030, "https://example.com/"),
    rep("a", 2_029, "https://example.com/"),
  ),
  fc.tuple(fc.constantFrom("http://", "https://", "gopher://", "HTTPS://"), nastyString).map(([s, rest]) => s + rest),
  // Valid URLs on the receiver with odd characters in the path or query.
  fc
    .tuple(fc.constantFrom(`${RECEIVER_OK}/`, `${RECEIVER_OK}?q=`, `${RECEIVER_OK}#`), nastyString)
    .map(([s, rest]) => s + rest),
);

const dateJunk = fc.oneof(
  junk,
  // Valid ISO 8601 that is year 0 in UTC, which Postgres refuses.
  fc.constantFrom("0000-01-01T00:00:00Z", "0000-12-31T23:59:59.999-01:00", "0001-01-01T00:00:00+00:01"),
  fc.date({ noInvalidDate: true }).map((date) => date.toISOString()),
  fc
    .tuple(
      fc.integer({ min: 0, max: 9999 }),
      fc.integer({ min: 0, max: 13 }),
      fc.integer({ min: 0, max: 32 }),
      fc.integer({ min: 0, max: 25 }),
      fc.integer({ min: 0, max: 61 }),
      fc.constantFrom("Z", "z", "+00:00", "-23:59", "+24:00", "+05:30", "", "+0530", "Z "),
    )
    .map(
      ([y, mo, d, h, mi, tz]) =>
        `${String(y).padStart(4, "0")}-${String(mo).padStart(2, "0")}-${String(d).padStart(2, "0")}T${String(h).padStart(2, "0")}:${String(mi).padStart(2, "0")}:00${tz}`,
    ),
  fc.constantFrom<unknown>(
    "0000-01-01T00:00:00Z",
    "0001-01-01T00:00:00Z",
    "1969-12-31T23:59:59.999Z",
    "1970-01-01T00:00:00Z",
    "2027-02-29T00:00:00Z",
    "2027-13-01T00:00:00Z",
    "2027-01-01T24:00:00Z",
    "2027-01-01T00:00:60Z",
    "2027-01-01T00:00:00",
    "2027-01-01",
    "2027-01-01 00:00:00Z",
    "2027-01-01T00:00:00.123456789Z",
    "+275760-09-13T00:00:00.000Z",
    "-271821-04-20T00:00:00.000Z",
    "9999-12-31T23:59:59Z",
    "tomorrow",
    "now",
    "1700000000",
    1700000000,
  ),
);

const durationJunk = fc.oneof(
  junk,
  fc.stringMatching(/^(\d{1,22}d)?(\d{1,22}h)?(\d{1,22}m)?(\d{1,22}s)?$/),
  fc.double(),
  fc.constantFrom<unknown>(
    "0",
    "0s",
    "30s",
    "1h30m",
    "2d",
    "367d",
    "99999999999999999999d",
    "9007199254740993s",
    "1e3",
    "-5s",
    "5.5s",
    " 5s ",
    "5S",
    "1h 30m",
    "PT5M",
    "d",
    "",
    1e300,
    1e15,
    -1,
    31_622_400,
    Number.MAX_VALUE,
  ),
);

const headerName = fc.oneof(
  fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,15}$/),
  fc.string({ unit: "binary", maxLength: 10 }),
  fc.string({ unit: nastyChar, maxLength: 6 }),
  fc.constantFrom(
    "",
    "X A",
    "X:A",
    "X\r\nY",
    "Host",
    "Content-Length",
    "Transfer-Encoding",
    "Authorization",
    "Webhook-Id",
    "webhook-signature",
    "Fliq-Attempt",
    "FLIQ-X",
    "__proto__",
    "constructor",
    "toString",
    "Ü",
    "X-\u0000",
  ),
);
const headerValue = fc.oneof(
  fc.string({ unit: "grapheme-ascii", maxLength: 20 }),
  fc.string({ unit: "binary", maxLength: 20 }),
  fc.string({ unit: "binary-ascii", maxLength: 20 }),
  fc.string({ unit: nastyChar, maxLength: 8 }),
  fc.constantFrom<unknown>(
    "a\r\nX-Injected: 1",
    "a\nb",
    "a\rb",
    "\u0000",
    "é",
    "😀",
    "\u2028",
    "\t",
    " leading",
    "trailing ",
    rep("a", 8_192),
    rep("a", 8_193),
  ),
  junk,
);
const jobHeaders = fc.oneof(
  { weight: 6, arbitrary: fc.dictionary(headerName, headerValue, { maxKeys: 5 }) },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom(50, 51)
      .map((n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`X-H${i}`, "v"]))),
  },
  { weight: 2, arbitrary: junk },
);
const labelKey = fc.oneof(nastyString, fc.constantFrom("", "__proto__", "constructor", "a".repeat(64), "a".repeat(65)));
const labelsJunk = fc.oneof(
  { weight: 4, arbitrary: fc.dictionary(labelKey, fc.oneof(nastyString, junk), { maxKeys: 4 }) },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom(20, 21)
      .map((n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, "v"]))),
  },
  { weight: 1, arbitrary: fc.constant({ k: rep("v", 257) }) },
  { weight: 2, arbitrary: junk },
);
const methodJunk = fc.oneof(
  junk,
  fc.string({ maxLength: 8 }),
  fc.constantFrom("get", "Post", "GET ", " POST", "G\u0000ET", "CONNECT", "TRACE", "poﬆ", "ıput", "*", "POST\r\n"),
);
const bodyJunk = fc.oneof(
  junk,
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.string({ unit: nastyChar, maxLength: 12 }),
  fc.constantFrom(rep("a", 1024 * 1024), rep("a", 1024 * 1024 + 1), rep("é", 524_289)),
);
const backoffJunk = fc.oneof(
  junk,
  fc.record({ initial_delay_ms: numberJunk, max_delay_ms: numberJunk }, { requiredKeys: [] }),
  fc.record({ initial_delay_ms: numberJunk, max_delay_ms: numberJunk, extra: junk }, { requiredKeys: [] }),
);

/** For each field, the broken values worth trying. */
const fieldJunk: Record<(typeof CREATE_FIELDS)[number], fc.Arbitrary<unknown>> = {
  url: urlJunk,
  http_method: methodJunk,
  scheduled_at: dateJunk,
  delay: durationJunk,
  headers: jobHeaders,
  body: bodyJunk,
  max_retries: numberJunk,
  timeout_ms: numberJunk,
  retry_backoff: backoffJunk,
  labels: labelsJunk,
  failure_url: fc.oneof(urlJunk, fc.constant(null)),
};

const validHeaders = fc.dictionary(
  fc.stringMatching(/^X-[A-Za-z0-9]{1,8}$/),
  fc.string({ unit: "grapheme-ascii", maxLength: 12 }),
  { maxKeys: 3 },
);
const validLabels = fc.dictionary(
  fc.string({ minLength: 1, maxLength: 8 }),
  fc.string({ unit: "grapheme-ascii", maxLength: 12 }),
  { maxKeys: 3 },
);

/** A create request the API accepts (url on the receiver, far in the future). */
const validCreate = fc.record(
  {
    url: fc.constant(RECEIVER_OK),
    http_method: fc.constantFrom("POST", "PUT", "PATCH", "DELETE", "OPTIONS", "post"),
    scheduled_at: fc.constant(FUTURE_ISO),
    headers: validHeaders,
    body: fc.option(fc.string({ maxLength: 40 }), { nil: null }),
    max_retries: fc.integer({ min: 0, max: 20 }),
    timeout_ms: fc.constant(SAFE_TIMEOUT_MS),
    retry_backoff: fc.constant({ initial_delay_ms: 1_000, max_delay_ms: 60_000 }),
    labels: validLabels,
    failure_url: fc.constantFrom(null, RECEIVER_OK),
  },
  { requiredKeys: ["url", "scheduled_at", "timeout_ms"] },
);

/** A change the API accepts on a scheduled job (url on the receiver, far in the future). */
const validChange = fc.record(
  {
    url: fc.constant(RECEIVER_OK),
    http_method: fc.constantFrom("POST", "PUT", "DELETE", "put"),
    scheduled_at: fc.constant(FUTURE_ISO),
    headers: validHeaders,
    body: fc.option(fc.string({ maxLength: 40 }), { nil: null }),
    max_retries: fc.integer({ min: 0, max: 20 }),
    timeout_ms: fc.constant(SAFE_TIMEOUT_MS),
    retry_backoff: fc.constantFrom({ initial_delay_ms: 1_000 }, { max_delay_ms: 60_000 }, {}),
    labels: validLabels,
    failure_url: fc.constantFrom(null, RECEIVER_OK),
  },
  { requiredKeys: [] },
);

/** A valid request with exactly one field broken (a nested one for retry_backoff, sometimes). */
function withOneFieldBroken(
  valid: fc.Arbitrary<Record<string, unknown>>,
  fields: readonly (typeof CREATE_FIELDS)[number][],
): fc.Arbitrary<Record<string, unknown>> {
  return fc
    .tuple(valid, fc.constantFrom(...fields))
    .chain(([base, field]) => fc.tuple(fc.constant(base), fc.constant(field), fieldJunk[field], fc.boolean()))
    .map(([base, field, value, keepSchedule]) => {
      const broken: Record<string, unknown> = { ...base, [field]: value };
      // A delay with scheduled_at is refused whatever it is; usually send the delay alone.
      if (field === "delay" && !keepSchedule) delete broken.scheduled_at;
      return broken;
    });
}

/** Server-owned fields, with values that would matter if they were taken. */
function serverFieldValue(): fc.Arbitrary<unknown> {
  return fc.oneof(
    fc.constantFrom<unknown>(
      fixtures.aScheduled.id,
      fixtures.bScheduled.id,
      B.id,
      C.id,
      ...JOB_STATUSES,
      99,
      -1,
      0,
      "2000-01-01T00:00:00.000Z",
      FUTURE_ISO,
      "msg_00000000000000000000000000000000",
      null,
      { status: "succeeded" },
    ),
    fc.uuid(),
    anyJson,
  );
}
function withServerFields(valid: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<Body> {
  const member = fc.oneof(
    fc
      .tuple(fc.constantFrom(...SERVER_FIELDS), serverFieldValue())
      .map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`),
    fc.constantFrom(
      '"__proto__":{"status":"succeeded","attempt":7,"projectId":"00000000-0000-0000-0000-000000000000"}',
      '"__proto__":{"polluted":true}',
      '"constructor":{"prototype":{"polluted":true}}',
      '"retry_backoff":{"initial_delay_ms":1000,"__proto__":{"x":1}}',
    ),
  );
  return fc
    .tuple(valid, fc.array(member, { minLength: 1, maxLength: 3 }))
    .map(([json, members]) => ({ json, members }));
}

/** Bodies that are not JSON, or barely. */
const rawBody: fc.Arbitrary<Body> = fc.oneof(
  fc.string({ unit: "binary", maxLength: 60 }).map((raw) => ({ raw })),
  fc.string({ maxLength: 60 }).map((raw) => ({ raw })),
  fc.constantFrom<Body>(
    { raw: "" },
    { raw: " " },
    { raw: "{" },
    { raw: "}" },
    { raw: "[" },
    { raw: '{"url":' },
    { raw: '{"url": "https://example.com",}' },
    { raw: "{'url': 'https://example.com'}" },
    { raw: '{"url": NaN}' },
    { raw: '{"max_retries": 1e999}' },
    { raw: '{"timeout_ms": -0}' },
    { raw: '{"url": "a" /* comment */}' },
    { raw: '\uFEFF{"url": 1}' },
    { raw: '{"url": "https://example.com"}garbage' },
    { raw: '{"url": 1, "url": "also"}' },
    { raw: "url=https://example.com&delay=5" },
    { raw: "null" },
    { raw: "undefined" },
    { raw: '"just a string"' },
    { raw: "\u0000" },
    { raw: rep("[", 100_000) },
    { raw: rep('{"a":', 10_000) },
    { raw: rep("a", 8 * 1024 * 1024 + 1, '{"body":"') },
  ),
  validCreate.chain((json) =>
    fc.nat({ max: 200 }).map((cut) => ({ raw: JSON.stringify(json).slice(0, Math.max(1, cut)) })),
  ),
);

const contentType = fc.option(
  fc.oneof(
    fc.constantFrom(
      "application/json",
      "application/json; charset=utf-8",
      "application/json; charset=latin1",
      "APPLICATION/JSON",
      "text/plain",
      "text/html",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
      "application/octet-stream",
      "",
      "*/*",
      "application/json\u00e9",
    ),
    fc.string({ maxLength: 30 }),
  ),
  { nil: undefined },
);
/** The header, one request in four. */
const maybeHeader = (name: string, value: fc.Arbitrary<string>): fc.Arbitrary<Record<string, string>> =>
  fc.oneof({ weight: 3, arbitrary: fc.constant({}) }, { weight: 1, arbitrary: value.map((v) => ({ [name]: v })) });

const requestHeaders = (extra: Array<fc.Arbitrary<Record<string, string>>> = []) =>
  fc
    .tuple(contentType, ...extra)
    .map(([type, ...rest]) => Object.assign(type === undefined ? {} : { "content-type": type }, ...rest));

const idempotencyKey = maybeHeader(
  "idempotency-key",
  fc.oneof(
    fc.string({ unit: "binary", maxLength: 20 }),
    fc.constantFrom("fuzz-key-1", "fuzz-key-2", "a".repeat(255), "a".repeat(256), " spaced ", "é", "\t"),
  ),
);

/** Every body POST /jobs or PATCH might get. */
function jobBodies(valid: fc.Arbitrary<Record<string, unknown>>, fields: readonly (typeof CREATE_FIELDS)[number][]) {
  return fc.oneof(
    { weight: 2, arbitrary: anyJson.map((json): Body => ({ json })) },
    { weight: 1, arbitrary: junk.map((json): Body => ({ json })) },
    { weight: 2, arbitrary: rawBody },
    { weight: 6, arbitrary: withOneFieldBroken(valid, fields).map((json): Body => ({ json })) },
    { weight: 1, arbitrary: withServerFields(valid) },
    { weight: 1, arbitrary: valid.map((json): Body => ({ json })) },
  );
}

/** Ids for the path: the fixtures' (and variants), random UUIDs, and anything but a UUID. */
function jobIds(): fc.Arbitrary<string> {
  const known = fc.constantFrom(...fixtureRows.map((row) => row.id));
  return fc.oneof(
    { weight: 3, arbitrary: known },
    {
      weight: 3,
      arbitrary: fc
        .tuple(known, fc.integer({ min: 0, max: 11 }))
        .map(
          ([id, how]) =>
            [
              id.toUpperCase(),
              `{${id}}`,
              id.replace(/-/g, ""),
              `${id}x`,
              ` ${id}`,
              `${id} `,
              id.slice(0, 35),
              `${id}/`,
              `${id}' OR '1'='1`,
              `${id};DELETE FROM jobs`,
              `urn:uuid:${id}`,
              `${id}\u0000`,
            ][how],
        ),
    },
    { weight: 1, arbitrary: fc.uuid() },
    { weight: 2, arbitrary: nastyString },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        "",
        ".",
        "..",
        "../..",
        "../../etc/passwd",
        "..%2F..%2Fetc%2Fpasswd",
        "%2e%2e",
        "%2e%2e%2f",
        "%00",
        "%",
        "%zz",
        "%%",
        "%u0000",
        "' OR 1=1 --",
        "1; DROP TABLE jobs; --",
        "00000000-0000-0000-0000-000000000000",
        "ffffffff-ffff-ffff-ffff-ffffffffffff",
        "null",
        "-1",
        "0",
        "1e400",
        "__proto__",
        "constructor",
        "batch",
        "cancel",
        "replay",
        "?status=scheduled",
        "#frag",
        "a".repeat(5_000),
        "\u202e",
        "\ud800",
        "😀",
      ),
    },
  );
}

/** How an id is put in the path: as is (the URL parser decides), or percent-encoded once or twice. */
const encodings = fc.constantFrom("raw", "encoded", "twice");
function pathSegment(id: string, how: string): string {
  if (how === "raw") return id;
  const encoded = encodeURIComponentLoose(id);
  return how === "encoded" ? encoded : encodeURIComponentLoose(encoded);
}
/** encodeURIComponent, but a lone surrogate is encoded as U+FFFD instead of throwing. */
function encodeURIComponentLoose(text: string): string {
  return encodeURIComponent(text.toWellFormed());
}

const unknownMethod = fc.oneof(
  fc.constantFrom("PUT", "HEAD", "OPTIONS", "TRACE", "CONNECT", "PROPFIND", "get", "patch", "delete"),
  fc.stringMatching(/^[A-Za-z]{1,10}$/),
);

// ---------------------------------------------------------------------------------------------
// The properties.
// ---------------------------------------------------------------------------------------------

describe("fuzzing the jobs API", () => {
  it(
    "POST /jobs: any body, content type or Idempotency-Key answers a 2xx or the error shape, and a 4xx writes nothing",
    async () => {
      const call = fc.record({
        body: jobBodies(validCreate, CREATE_FIELDS),
        headers: requestHeaders([idempotencyKey]),
      });
      await fc.assert(
        fc.asyncProperty(shrinkable(call), async ({ body, headers }) => {
          const ex = await exchange({ method: "POST", path: "/jobs", token: A.token, headers, body }, A.id);
          if (ex && ex.sent.status < 300) await expectHonestCreate(ex);
        }),
        fuzzParams(RUNS.create),
      );
    },
    TEST_TIMEOUT,
  );

  it(
    "PATCH /jobs/:id: any body, on a job in any state, answers a 2xx or the error shape, and a 4xx writes nothing",
    async () => {
      // Fixture names (not rows), so counterexamples stay short; mostly the one job that can change.
      const targets: Array<keyof typeof fixtures> = [
        "aScheduled",
        "aScheduled",
        "aScheduled",
        "aRunning",
        "aSucceeded",
        "aCanceled",
        "aFailed",
        "bScheduled",
      ];
      const ifMatch = maybeHeader(
        "if-match",
        fc.oneof(
          fc.string({ maxLength: 20 }),
          fc.constantFrom("*", '"0-0"', 'W/"x"', `"${fixtures.aScheduled.updatedAt.getTime().toString(36)}-0"`),
        ),
      );
      const call = fc.record({
        target: fc.constantFrom(...targets),
        body: jobBodies(validChange, PATCH_FIELDS),
        headers: requestHeaders([ifMatch]),
      });
      await fc.assert(
        fc.asyncProperty(shrinkable(call), async ({ target: name, body, headers }) => {
          const target = fixtures[name];
          const ex = await exchange(
            { method: "PATCH", path: `/jobs/${target.id}`, token: A.token, headers, body },
            A.id,
          );
          if (!ex) return;
          if (target.projectId !== A.id) expect(ex.sent.status, "PATCH of another project's job").not.toBeLessThan(300);
          if (ex.sent.status < 300) await expectHonestChange(ex, target);
        }),
        fuzzParams(RUNS.change),
      );
    },
    TEST_TIMEOUT,
  );

  it(
    "/jobs/:id routes: malformed, foreign, encoded or traversing ids and any method reach no other job, and a 4xx writes nothing",
    async () => {
      const routes = fc.oneof(
        {
          weight: 5,
          arbitrary: fc.constantFrom<[string, string]>(["GET", ""], ["PATCH", ""], ["DELETE", ""], ["POST", "/cancel"]),
        },
        {
          weight: 2,
          arbitrary: fc.constantFrom<[string, string]>(
            ["GET", "/attempts"],
            ["POST", "/run"],
            ["POST", "/replay"],
            ["GET", "/cancel"],
            ["DELETE", "/cancel"],
            ["PUT", ""],
            ["POST", ""],
            ["PATCH", "/cancel"],
            ["POST", "/cancel/"],
            ["POST", "/../cancel"],
            ["POST", "/cancel?x=1"],
          ),
        },
        { weight: 2, arbitrary: fc.tuple(unknownMethod, fc.constantFrom("", "/cancel", "/attempts")) },
      );
      const call = fc.record({
        route: routes,
        id: jobIds(),
        encoding: encodings,
        body: fc.option(
          fc.oneof(
            validChange.map((json): Body => ({ json })),
            jobBodies(validChange, PATCH_FIELDS),
          ),
          {
            nil: undefined,
          },
        ),
      });
      const knownIds = new Set(fixtureRows.filter((row) => row.projectId === A.id).map((row) => row.id));
      await fc.assert(
        fc.asyncProperty(shrinkable(call), async ({ route: [method, suffix], id, encoding, body }) => {
          const segment = pathSegment(id, encoding);
          const ex = await exchange(
            {
              method,
              path: `/jobs/${segment}${suffix}`,
              token: A.token,
              body: method.toUpperCase() === "PATCH" ? body : undefined,
            },
            A.id,
          );
          if (!ex) return;
          // What the router saw: only a path naming one of project A's jobs may succeed on a job route.
          const path = new URL(ex.sent.request.url).pathname;
          const named = /^\/jobs\/([^/]+)(?:\/(?:cancel|attempts|run|replay))?\/?$/.exec(path);
          const namedId = named ? decodeURIComponentSafe(named[1]).toLowerCase() : undefined;
          if (ex.sent.status < 300 && named && !["batch", "cancel", "replay"].includes(named[1])) {
            expect(knownIds.has(namedId ?? ""), `${method} ${path} answered ${ex.sent.status}`).toBe(true);
          }
          const sentMethod = ex.sent.request.method;
          if (ex.sent.status < 300 && sentMethod !== "GET" && sentMethod !== "HEAD") expectOnlyNamedJobChanged(ex);
          if (ex.sent.status < 300 && sentMethod === "PATCH" && namedId) {
            const target = fixtureRows.find((row) => row.id === namedId);
            if (target) await expectHonestChange(ex, target);
          }
        }),
        fuzzParams(RUNS.ids),
      );
    },
    TEST_TIMEOUT,
  );

  it(
    "Authorization: anything but a live token answers 401 (a read token 403 on writes), in the error shape, writing nothing",
    async () => {
      const t = A.token;
      const flip = fc
        .tuple(fc.nat({ max: t.length - 1 }), fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 1 }))
        .filter(([i, c]) => t[i] !== c)
        .map(([i, c]) => `Bearer ${t.slice(0, i)}${c}${t.slice(i + 1)}`);
      const authorization = fc.oneof(
        fc.constant(undefined),
        fc.string({ unit: "binary", maxLength: 60 }),
        fc.string({ maxLength: 60 }),
        fc.string({ maxLength: 60 }).map((s) => `Bearer ${s}`),
        flip,
        fc.constantFrom(
          "",
          "Bearer",
          "Bearer ",
          `Bearer  ${t}`,
          `Bearer\t${t}`,
          `Bearer ${t} x`,
          `Bearer ${t},Bearer ${t}`,
          `Basic ${btoa("user:pass")}`,
          `Token ${t}`,
          t,
          `Bearer ${t.slice(0, -1)}`,
          `Bearer ${t}x`,
          `Bearer ${t.toUpperCase()}`,
          `Bearer fliq_sk_${"A".repeat(43)}`,
          `Bearer ${t.slice(0, 16)}${"x".repeat(t.length - 16)}`,
          `Bearer ${t.replace("fliq_sk_", "fliq_pk_")}`,
          "Bearer fliq_sk_' OR '1'='1",
          "Bearer fliq_sk_%",
          // Valid ones, as controls: case-insensitive scheme, a read-only token, another project's token.
          `bearer ${C.token}`,
          `Bearer ${readToken}`,
          `BEARER ${readToken}`,
          `Bearer ${C.token}`,
        ),
      );
      const routes = fc.constantFrom<[string, string, string | undefined]>(
        ["GET", "/jobs", undefined],
        ["GET", "/jobs/", undefined],
        ["POST", "/jobs", "create"],
        ["POST", "/jobs/batch", "batch"],
        ["GET", `/jobs/${fixtures.aScheduled.id}`, undefined],
        ["GET", `/jobs/${fixtures.aScheduled.id}/attempts`, undefined],
        ["PATCH", `/jobs/${fixtures.aScheduled.id}`, "change"],
        ["DELETE", `/jobs/${fixtures.aScheduled.id}`, undefined],
        ["POST", `/jobs/${fixtures.aScheduled.id}/cancel`, undefined],
        ["POST", `/jobs/${fixtures.aSucceeded.id}/replay`, undefined],
        ["POST", `/jobs/${crypto.randomUUID()}/run`, undefined],
        ["GET", "/jobs/nope/nope", undefined],
        ["OPTIONS", "/jobs", undefined],
      );
      const call = fc.record({ route: routes, authorization, create: validCreate, change: validChange });
      await fc.assert(
        fc.asyncProperty(
          shrinkable(call),
          async ({ route: [method, path, bodyKind], authorization, create, change }) => {
            const json = bodyKind === "create" ? create : bodyKind === "batch" ? { jobs: [create] } : change;
            const body: Body | undefined = bodyKind ? { json } : undefined;
            // The header as a client sends it (trimmed; left out when no client could send it).
            const sentHeader = authorization === undefined ? "" : (headerAsSent(authorization) ?? "");
            const token = /^Bearer (\S+)$/i.exec(sentHeader)?.[1];
            const caller = token === C.token ? C.id : token === readToken ? A.id : undefined;
            const ex = await exchange({ method, path, authorization, body }, caller);
            if (!ex) return;
            const what = `Authorization ${JSON.stringify(sentHeader)} on ${method} ${path}`;
            if (token === readToken) {
              if (!["GET", "HEAD"].includes(method)) expect(ex.sent.status, what).toBe(403);
            } else if (token === C.token) {
              // Project C's token: A's jobs are not found; nothing of A or B changes (checked above).
              if (path.includes(fixtures.aScheduled.id)) expect(ex.sent.status, what).toBe(404);
            } else {
              expect(ex.sent.status, what).toBe(401);
              expect(ex.sent.json, what).toMatchObject({ error: { code: "unauthorized" } });
            }
          },
        ),
        fuzzParams(RUNS.authorization),
      );
    },
    TEST_TIMEOUT,
  );

  it(
    "job headers: CR/LF, non-ASCII, reserved or odd names are refused; a stored header is always a safe HTTP header",
    async () => {
      const call = fc.record({
        patch: fc.boolean(),
        headers: fc.oneof(fc.dictionary(headerName, headerValue, { maxKeys: 6 }), jobHeaders),
        create: validCreate,
      });
      const safeName = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
      const safeValue = /^[\t\x20-\x7e]*$/;
      await fc.assert(
        fc.asyncProperty(shrinkable(call), async ({ patch, headers, create }) => {
          const target = fixtures.aScheduled;
          const ex = patch
            ? await exchange(
                { method: "PATCH", path: `/jobs/${target.id}`, token: A.token, body: { json: { headers } } },
                A.id,
              )
            : await exchange(
                { method: "POST", path: "/jobs", token: A.token, body: { json: { ...create, headers } } },
                A.id,
              );
          if (!ex || ex.sent.status >= 300) return;
          if (patch) await expectHonestChange(ex, target);
          else await expectHonestCreate(ex);
          const id = (ex.sent.json as { id: string }).id;
          const [row] = await db
            .select()
            .from(jobs)
            .where(inArray(jobs.id, [id]));
          for (const [name, value] of Object.entries(row.headers)) {
            expect(name, `stored header name ${JSON.stringify(name)}`).toMatch(safeName);
            expect(name.toLowerCase().startsWith("webhook-") || name.toLowerCase().startsWith("fliq-")).toBe(false);
            expect(value, `stored header value ${JSON.stringify(value)}`).toMatch(safeValue);
          }
        }),
        fuzzParams(RUNS.jobHeaders),
      );
    },
    TEST_TIMEOUT,
  );

  it(
    "mass assignment: server-owned fields (also via __proto__ or constructor) are refused by POST and PATCH, and never stored",
    async () => {
      const call = fc.record({
        patch: fc.boolean(),
        create: withServerFields(validCreate),
        change: withServerFields(validChange),
      });
      await fc.assert(
        fc.asyncProperty(shrinkable(call), async ({ patch, create, change }) => {
          const target = fixtures.aScheduled;
          const ex = patch
            ? await exchange({ method: "PATCH", path: `/jobs/${target.id}`, token: A.token, body: change }, A.id)
            : await exchange({ method: "POST", path: "/jobs", token: A.token, body: create }, A.id);
          if (!ex) return;
          expect(ex.sent.status, `server fields accepted: ${ex.sent.text.slice(0, 300)}`).toBe(422);
        }),
        fuzzParams(RUNS.massAssignment),
      );
    },
    TEST_TIMEOUT,
  );

  it(
    "GET /jobs and GET /jobs/:id/attempts: any query (filters, cursors, limits, repeated or unknown keys) answers a 2xx or the error shape",
    async () => {
      const queryKey = fc.oneof(
        {
          weight: 6,
          arbitrary: fc.constantFrom(
            "status",
            "label",
            "url_prefix",
            "scheduled_after",
            "scheduled_before",
            "order",
            "limit",
            "cursor",
            "after",
          ),
        },
        { weight: 1, arbitrary: fc.constantFrom("status[]", "__proto__", "constructor", "LIMIT", "") },
        { weight: 1, arbitrary: nastyString },
      );
      const cursorLike = fc
        .record(
          {
            o: fc.oneof({ weight: 4, arbitrary: fc.constantFrom("newest", "soonest") }, junk),
            at: dateJunk,
            id: fc.oneof({ weight: 4, arbitrary: fc.uuid() }, junk),
          },
          { requiredKeys: ["o", "at", "id"] },
        )
        .chain((payload) =>
          // Mostly a well-formed cursor payload (so the odd `at` reaches the query), sometimes a key short.
          fc
            .subarray(Object.keys(payload), { minLength: 2 })
            .map((keys) => Object.fromEntries(keys.map((key) => [key, payload[key as keyof typeof payload]]))),
        )
        .map((payload) => base64url(JSON.stringify(payload)));
      const queryValue = fc.oneof(
        { weight: 2, arbitrary: storageHostile },
        { weight: 2, arbitrary: dateJunk.map(String) },
        storageHostile.map((value) => `k:${value}`),
        nastyString,
        fc.string({ unit: nastyChar, maxLength: 8 }),
        dateJunk.map(String),
        cursorLike,
        fc.tuple(nastyString, nastyString).map(([k, v]) => `${k}:${v}`),
        fc.constantFrom(
          "scheduled",
          "failed,canceled",
          "scheduled,",
          "newest",
          "soonest",
          "0",
          "1",
          "200",
          "201",
          "-1",
          "1.5",
          "1e2",
          "0x10",
          "k:v",
          ":",
          "k:",
          "fuzz:fixture",
          "%",
          "_",
          RECEIVER,
        ),
      );
      const query = fc
        .array(
          fc.oneof(
            { weight: 4, arbitrary: fc.tuple(queryKey, queryValue, fc.boolean()) },
            { weight: 1, arbitrary: fc.tuple(fc.constant("cursor"), cursorLike, fc.constant(true)) },
          ),
          { maxLength: 4 },
        )
        .map((pairs) =>
          pairs.length === 0
            ? ""
            : `?${pairs.map(([k, v, raw]) => (raw ? `${k}=${v}` : `${encodeURIComponentLoose(k)}=${encodeURIComponentLoose(v)}`)).join("&")}`,
        );
      // A list query the API accepts, with one parameter broken (a cursor keeps its order and id, so its `at` is read).
      const cursorFor = (order: string) =>
        fc
          .record({
            o: fc.oneof({ weight: 6, arbitrary: fc.constant(order) }, junk),
            at: fc.oneof(
              fc.constant(new Date().toISOString()),
              { weight: 2, arbitrary: dateJunk },
              fc.constantFrom("0000-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999Z"),
            ),
            id: fc.oneof({ weight: 6, arbitrary: fc.uuid() }, junk),
          })
          .map((payload) => base64url(JSON.stringify(payload)));
      const brokenParam = (key: string, order: string): fc.Arbitrary<unknown> => {
        switch (key) {
          case "cursor":
            return fc.oneof({ weight: 3, arbitrary: cursorFor(order) }, cursorLike, nastyString);
          case "scheduled_after":
          case "scheduled_before":
            return dateJunk;
          case "label":
            return fc.oneof(
              storageHostile.map((value) => `fuzz:${value}`),
              storageHostile.map((value) => `${value}:fixture`),
              nastyString,
            );
          case "url_prefix":
            return fc.oneof(
              storageHostile,
              nastyString,
              storageHostile.map((value) => RECEIVER + value),
            );
          default:
            return fc.oneof(nastyString, numberJunk);
        }
      };
      const nearValidListQuery = fc
        .tuple(
          fc.constantFrom("newest", "soonest"),
          // The parameters that reach SQL are broken most often.
          fc.oneof(
            {
              weight: 3,
              arbitrary: fc.constantFrom("cursor", "scheduled_after", "scheduled_before", "label", "url_prefix"),
            },
            { weight: 1, arbitrary: fc.constantFrom("status", "order", "limit") },
          ),
          fc.record(
            { status: fc.constant("scheduled"), label: fc.constant("fuzz:fixture"), limit: fc.constantFrom("1", "50") },
            { requiredKeys: [] },
          ),
        )
        .chain(([order, key, rest]) =>
          brokenParam(key, order).map(
            (value) => ({ order, ...rest, [key]: asQueryText(value) }) as Record<string, string>,
          ),
        )
        .map((params) =>
          Object.entries(params)
            .map(([k, v]) => `${k}=${encodeURIComponentLoose(v)}`)
            .join("&"),
        );
      const job = fc.constantFrom(fixtures.cScheduled.id, fixtures.cSucceeded.id, fixtures.aScheduled.id);
      const call = fc.oneof(
        { weight: 2, arbitrary: query.map((q): Call => ({ method: "GET", path: `/jobs${q}`, token: C.token })) },
        {
          weight: 3,
          arbitrary: nearValidListQuery.map((q): Call => ({ method: "GET", path: `/jobs?${q}`, token: C.token })),
        },
        {
          weight: 1,
          arbitrary: fc
            .tuple(job, query)
            .map(([id, q]): Call => ({ method: "GET", path: `/jobs/${id}/attempts${q}`, token: C.token })),
        },
        {
          weight: 1,
          arbitrary: fc.tuple(unknownMethod, fc.webPath(), fc.option(anyJson, { nil: undefined })).map(
            ([method, path, json]): Call => ({
              method,
              path: path.startsWith("/") ? path : `/${path}`,
              token: C.token,
              body: json === undefined ? undefined : { json },
            }),
          ),
        },
      );
      await fc.assert(
        fc.asyncProperty(shrinkable(call), async (request) => {
          await exchange(request, C.id);
        }),
        fuzzParams(RUNS.queries),
      );
    },
    TEST_TIMEOUT,
  );

  it(
    "POST /jobs/batch, /jobs/cancel, /jobs/replay, /jobs/:id/run and /replay: any body answers a 2xx or the error shape, and changes only what it names",
    async () => {
      const bulkFilter = fc.record(
        {
          status: fc.oneof(fc.array(fc.constantFrom(...JOB_STATUSES), { maxLength: 3 }), junk),
          labels: fc.oneof(validLabels, labelsJunk),
          url_prefix: fc.oneof(fc.constant(RECEIVER), nastyString, fc.string({ unit: nastyChar, maxLength: 8 }), junk),
          scheduled_after: dateJunk,
          scheduled_before: dateJunk,
        },
        { requiredKeys: [] },
      );
      const bulkBody = fc.oneof(
        fc
          .record({ ids: fc.oneof(fc.array(fc.oneof(fc.uuid(), jobIds()), { maxLength: 4 }), junk) })
          .map((json): Body => ({ json })),
        { weight: 3, arbitrary: fc.record({ filter: fc.oneof(bulkFilter, junk) }).map((json): Body => ({ json })) },
        fc.record({ ids: fc.array(fc.uuid(), { maxLength: 2 }), filter: bulkFilter }).map((json): Body => ({ json })),
        anyJson.map((json): Body => ({ json })),
        rawBody,
      );
      const batchBody = fc.oneof(
        {
          weight: 3,
          arbitrary: fc
            .array(fc.oneof(validCreate, withOneFieldBroken(validCreate, CREATE_FIELDS)), { maxLength: 3 })
            .map((list): Body => ({ json: { jobs: list } })),
        },
        fc.array(junk, { maxLength: 3 }).map((list): Body => ({ json: { jobs: list } })),
        fc.constant<Body>({ json: { jobs: [] } }),
        anyJson.map((json): Body => ({ json })),
        rawBody,
      );
      const job = fc.constantFrom(
        fixtures.cScheduled.id,
        fixtures.cSucceeded.id,
        fixtures.cCanceled.id,
        fixtures.aScheduled.id,
      );
      const call = fc.oneof(
        {
          weight: 2,
          arbitrary: batchBody.map((body): [Call, string] => [
            { method: "POST", path: "/jobs/batch", token: A.token, body },
            A.id,
          ]),
        },
        {
          weight: 3,
          arbitrary: fc
            .tuple(fc.constantFrom("/jobs/cancel", "/jobs/replay"), bulkBody)
            .map(([path, body]): [Call, string] => [{ method: "POST", path, token: C.token, body }, C.id]),
        },
        {
          weight: 1,
          arbitrary: fc
            .tuple(job, fc.constantFrom("run", "replay"), fc.option(anyJson, { nil: undefined }))
            .map(([id, action, json]): [Call, string] => [
              {
                method: "POST",
                path: `/jobs/${id}/${action}`,
                token: C.token,
                body: json === undefined ? undefined : { json },
              },
              C.id,
            ]),
        },
      );
      await fc.assert(
        fc.asyncProperty(shrinkable(call), async ([request, caller]) => {
          const ex = await exchange(request, caller);
          if (!ex || ex.sent.status >= 300) return;
          const { sent, before, after } = ex;
          const path = new URL(sent.request.url).pathname;
          const what = `${path} answered ${sent.status}: ${sent.text.slice(0, 300)}`;
          if (path === "/jobs/batch") {
            const sentJobs = (sent.sentJson as { jobs: unknown[] }).jobs;
            expect(jobCount(after, A.id), what).toBe(jobCount(before, A.id) + sentJobs.length);
            expect(after.fixtures, what).toStrictEqual(before.fixtures);
            for (const sentJob of sentJobs) {
              const unknown = keysOf(sentJob).filter((key) => !(CREATE_FIELDS as readonly string[]).includes(key));
              expect(unknown, what).toEqual([]);
            }
          } else if (path === "/jobs/cancel" || path === "/jobs/replay") {
            // A bulk action changes only the jobs it answers, all of the caller's project.
            const { count, ids } = sent.json as { count: number; ids: string[] };
            expect(count, what).toBe(ids.length);
            for (const row of fixtureRows) {
              if (after.fixtures[row.id] === before.fixtures[row.id]) continue;
              expect(ids, `${what}: changed ${row.id} without naming it`).toContain(row.id);
              expect(row.projectId, what).toBe(C.id);
            }
            for (const project of [A.id, B.id, C.id]) expect(jobCount(after, project)).toBe(jobCount(before, project));
          } else {
            expectOnlyNamedJobChanged(ex);
          }
        }),
        fuzzParams(RUNS.bulk),
      );
    },
    TEST_TIMEOUT,
  );
});

/** A header value as a client sends it (surrounding whitespace trimmed), or undefined when none could. */
function headerAsSent(value: string): string | undefined {
  try {
    return new Headers({ "x-probe": value }).get("x-probe") ?? undefined;
  } catch {
    return undefined;
  }
}

/** base64url of the UTF-8 bytes of `text`, as list cursors are written. */
function base64url(text: string): string {
  const binary = String.fromCharCode(...new TextEncoder().encode(text));
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
