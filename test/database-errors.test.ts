/**
 * A database that cannot be reached is said in one line naming its host and the cause, on both
 * paths (Neon's WebSocket driver and `pg` as through Hyperdrive), in the API's log and the tick's.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { connectNow, type DatabaseSettings, openDatabase, WebSocketIgnoringLateWrites } from "../src/db/client";
import { unreachableIn } from "../src/db/connection-errors";
import { callApi, createProject, later, openTestDatabase, runTickUntil, testEnv } from "./support/fliq";

/** Nothing listens on port 1 of this machine. */
const NOWHERE = "postgres://fliq:secret-password@127.0.0.1:1/fliq";

afterEach(() => {
  vi.restoreAllMocks();
});

async function failureOf(settings: DatabaseSettings): Promise<unknown> {
  const database = openDatabase(settings);
  try {
    await connectNow(database.db);
  } catch (error) {
    return error;
  } finally {
    await database.close().catch(() => {});
  }
  throw new Error("the database was reached");
}

describe("a database that cannot be reached", () => {
  it("names the host and the cause in one line, never the password (Neon's driver, at a host that is not Neon)", async () => {
    const message = unreachableIn(await failureOf({ databaseUrl: NOWHERE }))?.message ?? "";
    expect(message).toMatch(/^cannot reach the database at 127\.0\.0\.1:1: \S.*/);
    expect(message).toContain("bind Hyperdrive for any other Postgres");
    expect(message).not.toContain("\n");
    expect(message).not.toContain("secret-password");
  });

  it("names the host and the cause in one line (pg over TCP, as through Hyperdrive)", async () => {
    const message = unreachableIn(await failureOf({ databaseUrl: NOWHERE, databaseDriver: "tcp" }))?.message ?? "";
    expect(message).toMatch(/^cannot reach the database at 127\.0\.0\.1:1: \S.*/);
    expect(message).not.toContain("Hyperdrive");
    expect(message).not.toContain("\n");
  });

  // Through Hyperdrive: the Neon path's local stand-in (the bridge) reports an unreachable server
  // after the WebSocket opened, as a failed statement, so only the first test above covers it.
  it("answers 500 and logs one line naming the host, from the API and the tick (Hyperdrive)", async () => {
    const env = { HYPERDRIVE: { connectionString: NOWHERE } as Hyperdrive };
    const database = openTestDatabase();
    const { token } = await createProject(database.db).finally(() => database.close());
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    const response = await callApi("GET", "/jobs", { token, env });
    expect(response.status).toBe(500);
    expect(response.body.error.code).toBe("internal_error");
    const apiLines = logged.mock.calls.map((call) => call.join(" "));
    expect(apiLines).toContainEqual(
      expect.stringMatching(/^unhandled error cannot reach the database at 127\.0\.0\.1:1: /),
    );

    logged.mockClear();
    await runTickUntil(later(100), env).catch(() => {});
    const tickLines = logged.mock.calls.map((call) => call.join(" "));
    expect(tickLines.length).toBeGreaterThan(0);
    for (const line of tickLines) {
      expect(line).not.toContain("\n");
      expect(line).toContain("cannot reach the database at 127.0.0.1:1");
    }
  });
});

describe("a database connection that closes under the driver", () => {
  /** A WebSocket to the local bridge (Neon's proxy locally), open, then closed by the other side or ours. */
  async function closedSocket(open: (url: string) => WebSocket): Promise<WebSocket> {
    const socket = open(`ws://${testEnv.LOCAL_DB_PROXY}/?address=127.0.0.1:1`);
    await new Promise<void>((resolve) => {
      socket.addEventListener("close", () => resolve());
      socket.addEventListener("error", () => resolve());
      socket.addEventListener("open", () => socket.close());
    });
    return socket;
  }

  it("drops a write the driver makes after the close instead of throwing it where nothing catches it", async () => {
    // The runtime's own socket throws on such a write: that throw, from the driver's write timer, was uncaught.
    const plain = await closedSocket((url) => new WebSocket(url));
    expect(() => plain.send(new Uint8Array([0]))).toThrow(/after close|closed|close/i);

    const guarded = await closedSocket((url) => new (WebSocketIgnoringLateWrites as unknown as typeof WebSocket)(url));
    expect(guarded.readyState).toBe(WebSocket.CLOSED);
    expect(() => guarded.send(new Uint8Array([0]))).not.toThrow();
  });
});
