/**
 * Statements over HTTP, as Neon's SQL-over-HTTP endpoint runs them (`statementDb`; locally the
 * bridge answers in Neon's stead, against the real Postgres or PGlite): the same results as over
 * the WebSocket for every type Fliq's queries use, Postgres's errors with their fields, batches
 * as transactions, and a database it cannot reach said as on the WebSocket.
 */
import { neon } from "@neondatabase/serverless";
import { sql } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { openDatabase } from "../src/db/client";
import { unreachableIn } from "../src/db/connection-errors";
import { findJob } from "../src/db/jobs";
import { callApi, later, testEnv, useTestProject, viaHyperdrive } from "./support/fliq";

const { db, project, token } = await useTestProject();
const database = openDatabase({ databaseUrl: testEnv.DATABASE_URL ?? "", localDbProxy: testEnv.LOCAL_DB_PROXY });
afterAll(() => database.close());
const overHttp = database.statementDb;

interface BridgeStats {
  clientConnections: number;
  sqlOverHttpRequests: number;
}

async function bridgeStats(): Promise<BridgeStats> {
  return (await (await fetch(`http://${testEnv.LOCAL_DB_PROXY}/stats`)).json()) as BridgeStats;
}

/** What a failed promise rejected with. */
async function failureOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("it succeeded");
}

/** The driver's error under drizzle's wrapper (its `cause`), with Postgres's fields. */
function driverError(error: unknown): { code?: string; constraint?: string; message: string } {
  const inner = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  return inner as { code?: string; constraint?: string; message: string };
}

describe.skipIf(viaHyperdrive)("statements over HTTP (Neon's SQL-over-HTTP endpoint)", () => {
  it("answers every type as the WebSocket does: numbers, text, nulls, timestamps, json, arrays, uuid, bytea", async () => {
    const at = new Date("2026-03-29T01:30:00.123Z");
    const query = sql`SELECT
        ${42}::int AS int, ${"9007199254740993"}::bigint AS big, ${1.5}::numeric AS numeric,
        ${true}::boolean AS yes, ${false}::boolean AS no, ${'ünïcødé, "quoted", {braced}'}::text AS text,
        ${null}::text AS nothing, ${at.toISOString()}::timestamptz AS at, now() AS now_at,
        ${JSON.stringify({ a: [1, null, "x"], b: { c: true } })}::jsonb AS document,
        json_build_object('n', 1, 's', 'two') AS object, ${sql.param(["a", null, "c,d", 'e"f'])}::text[] AS texts,
        ARRAY[1, 2, 3]::int[] AS ints, ${project.id}::uuid AS id, '\\x00ff10'::bytea AS bytes,
        ''::text AS empty, interval '90 seconds' AS span`;
    const [viaHttp] = (await overHttp.execute(query)).rows;
    const [viaWebSocket] = (await db.execute(query)).rows;
    // now() differs between the two statements; everything else must be identical, value and type.
    expect({ ...viaHttp, now_at: 0 }).toEqual({ ...viaWebSocket, now_at: 0 });
    expect(viaHttp).toMatchObject({
      int: 42,
      big: "9007199254740993",
      numeric: "1.5",
      yes: true,
      no: false,
      text: 'ünïcødé, "quoted", {braced}',
      nothing: null,
      document: { a: [1, null, "x"], b: { c: true } },
      object: { n: 1, s: "two" },
      texts: ["a", null, "c,d", 'e"f'],
      ints: [1, 2, 3],
      id: project.id,
      empty: "",
    });
    expect(new Date(viaHttp.at as string).toISOString()).toBe(at.toISOString());
    expect(typeof viaHttp.now_at).toBe(typeof viaWebSocket.now_at);
    expect([...(viaHttp.bytes as Uint8Array)]).toEqual([0, 255, 16]);
  });

  it("reads and writes rows through drizzle's query builder, timestamps and nulls mapped as over the WebSocket", async () => {
    const row = await findJob(overHttp, project.id, crypto.randomUUID());
    expect(row).toBeUndefined();
    const created = await callApi("POST", "/jobs", {
      token,
      json: { url: "https://example.com/x", scheduled_at: later(3_600_000).toISOString(), labels: { k: "v" } },
    });
    expect(created.status).toBe(201);
    const viaHttp = await findJob(overHttp, project.id, created.body.id);
    const viaWebSocket = await findJob(db, project.id, created.body.id);
    expect(viaHttp).toEqual(viaWebSocket);
    expect(viaHttp?.scheduledAt).toBeInstanceOf(Date);
    expect(viaHttp?.scheduledAt.toISOString()).toBe(created.body.scheduled_at);
    expect(viaHttp?.lockedUntil).toBeNull();
    expect(viaHttp?.labels).toEqual({ k: "v" });
  });

  it("raises a statement Postgres refuses with its code, message and constraint, as the WebSocket does", async () => {
    const divide = sql`SELECT 1 / ${0}::int AS x`;
    const [httpError, wsError] = [
      driverError(await failureOf(overHttp.execute(divide))),
      driverError(await failureOf(db.execute(divide))),
    ];
    expect(httpError.code).toBe("22012");
    expect(httpError.code).toBe(wsError.code);
    expect(httpError.message).toBe(wsError.message);

    const duplicate = sql`INSERT INTO projects (id, name) SELECT id, name FROM projects WHERE id = ${project.id}`;
    const conflict = driverError(await failureOf(overHttp.execute(duplicate)));
    expect(conflict.code).toBe("23505");
    expect(conflict.constraint).toBe(driverError(await failureOf(db.execute(duplicate))).constraint);
    // The connection the failed statement used is lent again, and works.
    expect((await overHttp.execute(sql`SELECT 1 AS one`)).rows).toEqual([{ one: 1 }]);
  });

  it("runs a batch as one transaction: a statement refused rolls back the ones before it", async () => {
    const client = neon(testEnv.DATABASE_URL ?? "");
    const renamed = `renamed ${crypto.randomUUID()}`;
    await expect(
      client.transaction([
        client.query("UPDATE projects SET name = $1 WHERE id = $2", [renamed, project.id]),
        client.query("SELECT 1 / 0"),
      ]),
    ).rejects.toThrow(/division by zero/);
    const [kept] = await client.query("SELECT name FROM projects WHERE id = $1", [project.id]);
    expect(kept.name).not.toBe(renamed);

    const [first, second] = await client.transaction(
      [
        client.query("SELECT $1::int + 1 AS n", [1]),
        client.query("SELECT current_setting('transaction_isolation') AS level"),
      ],
      { isolationLevel: "Serializable", readOnly: true },
    );
    expect(first).toEqual([{ n: 2 }]);
    expect(second).toEqual([{ level: "serializable" }]);
  });

  it("creates a job with one HTTP statement and no database connection (a job not due soon)", async () => {
    const before = await bridgeStats();
    const created = await callApi("POST", "/jobs", {
      token,
      json: { url: "https://example.com/y", scheduled_at: later(3_600_000).toISOString() },
    });
    expect(created.status).toBe(201);
    const after = await bridgeStats();
    expect(after.sqlOverHttpRequests - before.sqlOverHttpRequests).toBe(1);
    expect(after.clientConnections - before.clientConnections).toBe(0);
  });

  it("says a database it cannot reach in one line naming the host, as on the WebSocket", async () => {
    const nowhere = openDatabase({
      databaseUrl: "postgres://fliq:secret-password@127.0.0.1:1/fliq",
      localDbProxy: testEnv.LOCAL_DB_PROXY,
    });
    const error = await failureOf(nowhere.statementDb.execute(sql`SELECT 1`));
    await nowhere.close();
    const message = unreachableIn(error)?.message ?? "";
    expect(message).toMatch(/^cannot reach the database at 127\.0\.0\.1:1: \S.*/);
    expect(message).not.toContain("secret-password");
    expect(message).not.toContain("\n");
  });
});
