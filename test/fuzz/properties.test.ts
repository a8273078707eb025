/**
 * Property-based fuzzing of the HTTP surface with fast-check: thousands of malformed requests
 * (arbitrary JSON, near-valid jobs with one field broken, raw non-JSON bodies, odd ids, paths,
 * methods, Authorization headers, job headers and content types) against every jobs route.
 * The requests are sent by test/fuzz/harness.ts, built from test/fuzz/generators.ts.
 *
 * What every response must keep, whatever the input:
 *   - never a 5xx (nor a 1xx/3xx): a bad request is the caller's fault, a 4xx;
 *   - every non-2xx is exactly {"error": {"code": snake_case, "message": string, "details": [{path, message}]}};
 *   - a 4xx writes nothing: every project's job count and latest write, and every fixture row, are unchanged;
 *   - no mass assignment: a 2xx create or change was sent writable fields only, and the stored row
 *     keeps its server-owned fields (id, project, status, attempt, claim, timestamps, webhook id);
 *   - a request never touches another project's jobs, and never pollutes Object.prototype.
 *
 * A failure prints fast-check's seed and path (replay: add both to fuzzParams); shrinking is capped,
 * as each step is a request.
 */
import { inArray } from "drizzle-orm";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type JobRow, jobs } from "../../src/db/schema";
import { JOB_STATUSES } from "../../src/jobs/states";
import { onRealPostgres } from "../support/fliq";
import {
  anyJson,
  asQueryText,
  base64url,
  dateJunk,
  decodeURIComponentSafe,
  encodeURIComponentLoose,
  encodings,
  headerName,
  headerValue,
  idempotencyKey,
  jobBodies,
  jobHeaders,
  jobIds,
  junk,
  labelsJunk,
  maybeHeader,
  nastyChar,
  nastyString,
  numberJunk,
  pathSegment,
  rawBody,
  requestHeaders,
  storageHostile,
  unknownMethod,
  validChange,
  validCreate,
  validLabels,
  withOneFieldBroken,
  withServerFields,
} from "./generators";
import {
  A,
  B,
  BACKOFF_FIELDS,
  type Body,
  C,
  type Call,
  CREATE_FIELDS,
  db,
  fixtureOwner,
  fixtureRows,
  fixtures,
  headerAsSent,
  isObject,
  jobCount,
  PATCH_FIELDS,
  RECEIVER,
  readToken,
  restoreFixtures,
  type Sent,
  type Snapshot,
  send,
  setUpFixtures,
  snapshot,
  tearDownFixtures,
} from "./harness";

beforeAll(setUpFixtures);
afterAll(tearDownFixtures);

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

// ---------------------------------------------------------------------------------------------
// What every exchange is held to.
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
