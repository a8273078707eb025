/**
 * The fuzz suite's harness: three projects with fixture jobs in every state, snapshots of what a
 * request may have written, and requests built from plain descriptions (so fast-check prints them)
 * and sent to the Worker as a client would. It asserts nothing: the properties do
 * (test/fuzz/properties.test.ts), over inputs from test/fuzz/generators.ts.
 *
 * No request may fire a callback at a real host. Fixture jobs and valid bodies point at the local
 * receiver; any body whose url, failure_url or success_url is anything else is sent with scheduled_at ~300 days
 * ahead (guardBody), just before it leaves; and jobs get a 120 s timeout, so none is claimed for
 * delivery from the request unless it is long overdue (then it fires at the receiver at once).
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { inArray, sql } from "drizzle-orm";
import { generateApiToken } from "../../src/auth/tokens";
import { insertApiToken } from "../../src/db/projects";
import { type JobRow, jobs } from "../../src/db/schema";
import fliqWorker from "../../src/index";
import { createProject, deleteAllJobs, insertJobRow, openTestDatabase, testEnv } from "../support/fliq";

const database = openTestDatabase();
export const db = database.db;

const DAY_MS = 86_400_000;
/** Far ahead (never due while the suite runs) but inside the 366-day horizon. */
const FUTURE = new Date(Date.now() + 300 * DAY_MS);
export const FUTURE_ISO = FUTURE.toISOString();
/** A deadline a day after FUTURE: valid for any job scheduled at FUTURE or sooner. */
export const DEADLINE_ISO = new Date(FUTURE.getTime() + DAY_MS).toISOString();
export const RECEIVER = testEnv.RECEIVER_URL;
/** The one callback URL valid bodies use: the local receiver, answering 200. */
export const RECEIVER_OK = `${RECEIVER}/ok/fuzz`;
/** Long enough that a job created or moved by a request is never claimed for delivery from that request (28 s window). */
export const SAFE_TIMEOUT_MS = 120_000;

export const CREATE_FIELDS = [
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
  "success_url",
  "expires_at",
  "max_retry_duration",
] as const;
export const PATCH_FIELDS = CREATE_FIELDS.filter((field) => field !== "delay");
export const BACKOFF_FIELDS = ["initial_delay_ms", "max_delay_ms"];
export const SERVER_FIELDS = [
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
// ---------------------------------------------------------------------------------------------

export interface Project {
  id: string;
  token: string;
}

/** A: the project most requests run as. B: another project, whose jobs nobody else may touch. C: bulk routes. */
export let A: Project;
export let B: Project;
export let C: Project;
/** A read-only token of project A. */
export let readToken: string;
export let fixtures: {
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
export let fixtureRows: JobRow[];
export const fixtureOwner = new Map<string, string>();

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

/** Creates the projects, tokens and fixture jobs, and takes the baseline snapshot (the suite's beforeAll). */
export async function setUpFixtures(): Promise<void> {
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
}

/** Deletes every job of the suite's projects and closes the database (the suite's afterAll). */
export async function tearDownFixtures(): Promise<void> {
  // Nothing of this suite may be left for a later file's tick to fire.
  await db.delete(jobs).where(inArray(jobs.projectId, [A.id, B.id, C.id]));
  await database.close();
}

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

export interface Snapshot {
  /** Per project: its job count and latest updated_at. */
  projects: Record<string, string>;
  /** Per fixture job: its whole stored row. */
  fixtures: Record<string, string>;
}

export async function snapshot(): Promise<Snapshot> {
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

export const jobCount = (snap: Snapshot, projectId: string) => Number.parseInt(snap.projects[projectId], 10);

/** The fixture rows as inserted. */
let baseline: Snapshot;

/** Puts back every fixture job a request changed, so each run starts from the same rows. */
export async function restoreFixtures(snap: Snapshot): Promise<boolean> {
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
export const rep = (s: string, n: number, prefix = ""): Repeat => ({ $repeat: s, n, prefix });
const isRepeat = (value: unknown): value is Repeat =>
  typeof value === "object" && value !== null && "$repeat" in value && "n" in value;
const expandRepeats = (_key: string, value: unknown) =>
  isRepeat(value) ? (value.prefix ?? "") + value.$repeat.repeat(value.n) : value;

export type Body =
  /** JSON.stringify(json); `members` are raw `"key": value` texts added last (for keys such as __proto__). */
  { json: unknown; members?: string[] } | { raw: string } | { raw: Repeat };

export interface Call {
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

export const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);
const isReceiverUrl = (value: unknown) => typeof value === "string" && value.startsWith(`${RECEIVER}/`);

/** A job body whose callback could reach a real host is moved far into the future. */
function guardJob(value: unknown): unknown {
  if (!isObject(value)) return value;
  const risky = (key: string) =>
    Object.hasOwn(value, key) && !(key !== "url" && value[key] === null) && !isReceiverUrl(value[key]);
  if (!risky("url") && !risky("failure_url") && !risky("success_url")) return value;
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

export interface Sent {
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
export async function send(call: Call): Promise<Sent | undefined> {
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
/** A header value as a client sends it (surrounding whitespace trimmed), or undefined when none could. */
export function headerAsSent(value: string): string | undefined {
  try {
    return new Headers({ "x-probe": value }).get("x-probe") ?? undefined;
  } catch {
    return undefined;
  }
}
