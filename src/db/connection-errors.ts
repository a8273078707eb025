/**
 * A failure to reach the database, in one line that names the host and the cause. The drivers
 * report such failures in their own shapes: a socket error with a code (ECONNREFUSED,
 * ENOTFOUND), a login refused by the server, or, from Neon's WebSocket driver pointed at a host
 * that is not Neon's proxy, a whole WebSocket error event. Whoever logs the error (the API's
 * error handler, the engine's log, the admin CLI) prints this message and nothing more.
 */

/** Where the error came from, as openDatabase knows it. */
interface Origin {
  databaseUrl: string;
  databaseDriver?: "neon" | "tcp";
  localDbProxy?: string;
}

/** Longest cause quoted: a driver's message may carry a whole statement or event. */
const CAUSE_MAX_CHARS = 200;

export class DatabaseUnreachable extends Error {
  override name = "DatabaseUnreachable";

  constructor(
    readonly host: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot reach the database at ${host}: ${reason}`, options);
  }

  /** The failure `error` (as a driver threw it) while connecting to the database of `origin`. */
  static from(error: unknown, origin: Origin): DatabaseUnreachable {
    if (error instanceof DatabaseUnreachable) return error;
    const host = hostOf(origin.databaseUrl);
    let reason = causeOf(error);
    const viaNeonProxy = (origin.databaseDriver ?? "neon") === "neon" && !origin.localDbProxy;
    if (viaNeonProxy && !/\.neon\.(tech|build)$/.test(host.replace(/:\d+$/, ""))) {
      // The Neon driver speaks only to Neon's WebSocket proxy: any other host fails this way.
      reason += " (the Neon driver reaches only Neon; bind Hyperdrive for any other Postgres, see docs/deploy.md)";
    }
    return new DatabaseUnreachable(host, reason, { cause: error });
  }
}

/** The DatabaseUnreachable at the root of `error` (a query error wraps the connection's), if any. */
export function unreachableIn(error: unknown): DatabaseUnreachable | undefined {
  for (let current = error, depth = 0; current && depth < 5; depth++) {
    if (current instanceof DatabaseUnreachable) return current;
    // Neon's HTTP queries keep what their fetch threw as `sourceError`.
    current =
      current instanceof Error ? (current.cause ?? (current as { sourceError?: unknown }).sourceError) : undefined;
  }
  return undefined;
}

/** host:port of a connection string, never its password. */
function hostOf(databaseUrl: string): string {
  try {
    const url = new URL(databaseUrl);
    return url.port ? `${url.hostname}:${url.port}` : url.hostname;
  } catch {
    return "(DATABASE_URL is not a URL)";
  }
}

/** The cause in one short line: an error code and message, or what a WebSocket event carries. */
function causeOf(error: unknown): string {
  const inner = error instanceof Error || typeof error !== "object" || error === null ? error : eventError(error);
  let text: string;
  if (inner instanceof Error) {
    const code = (inner as Error & { code?: unknown }).code;
    const message = inner.message || inner.name;
    text = typeof code === "string" && !message.includes(code) ? `${code} ${message}` : message;
    if (inner instanceof AggregateError && inner.errors.length > 0) text = causeOf(inner.errors[0]);
  } else if (typeof inner === "object" && inner !== null) {
    const event = inner as { type?: unknown; message?: unknown };
    text =
      typeof event.message === "string" && event.message ? event.message : `a WebSocket ${String(event.type)} event`;
  } else {
    text = String(inner);
  }
  return text.replace(/\s+/g, " ").trim().slice(0, CAUSE_MAX_CHARS) || "no reason given";
}

/** The Error inside an ErrorEvent-like object (the WebSocket driver's failures), or the event itself. */
function eventError(event: object): unknown {
  const inner = (event as { error?: unknown }).error;
  return inner instanceof Error ? inner : event;
}
