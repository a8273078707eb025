/**
 * Names why a callback got no answer at all. The Workers runtime says little: a refused
 * connection and one reset before the answer both read "Network connection lost.", and a DNS or
 * TLS failure reads "internal error; reference = …". A plain TCP connection to the target
 * (cloudflare:sockets) tells them apart: nothing accepting it means refused (or, for a host
 * name behind an opaque error, a name that did not resolve); a target that accepts TCP but
 * failed the https request failed its TLS handshake.
 *
 * The probe is made only after a failure, at most once per target and kind of error in an
 * invocation (see Outbound.diagnose), so a burst of failures against one dead host costs one
 * connection. It is not charged to the subrequest budget; it is bounded by the distinct
 * failing targets of an invocation.
 */
import type { AttemptErrorClass } from "../jobs/delivery-policy";

/** What a failed fetch is reported as. */
export interface NetworkFailure {
  errorClass: Extract<AttemptErrorClass, "connection_refused" | "dns_failure" | "tls_failure" | "network_error">;
  errorMessage: string;
}

/** How long the probe waits for a connection; a target that neither accepts nor refuses by then stays unnamed. */
const PROBE_TIMEOUT_MS = 2_000;

/** Whether a TCP connection to host:port was accepted (true), refused or unresolvable (false), or neither in time. */
export type ProbeResult = boolean | undefined;

/** The target of a URL as the probe sees it. */
export interface ProbeTarget {
  host: string;
  port: number;
  secure: boolean;
}

/** The host and port a URL connects to. */
export function probeTargetOf(url: string): ProbeTarget {
  const parsed = new URL(url);
  const secure = parsed.protocol === "https:";
  const port = parsed.port ? Number(parsed.port) : secure ? 443 : 80;
  return { host: parsed.hostname.replace(/^\[|\]$/g, ""), port, secure };
}

/** The error's kind: the two messages workerd gives for a failure without an answer, or something else. */
export function errorKindOf(error: unknown): "connection_lost" | "opaque" | "other" {
  const message = error instanceof Error ? error.message : String(error);
  if (/network connection lost/i.test(message)) return "connection_lost";
  if (/^internal error/i.test(message)) return "opaque";
  return "other";
}

const IP_LITERAL = /^(\d{1,3}(\.\d{1,3}){3}|[0-9a-f:]*:[0-9a-f:.]*)$/i;

/**
 * The name of a failure, from the error's kind and the probe's result (pure: the probe is
 * made by the caller). `original` is the runtime's own message, kept when nothing better is known.
 */
export function nameNetworkFailure(
  target: ProbeTarget,
  kind: ReturnType<typeof errorKindOf>,
  reachable: ProbeResult,
  original: string,
): NetworkFailure {
  const at = `${target.host}:${target.port}`;
  if (kind === "connection_lost" && reachable === false) {
    return {
      errorClass: "connection_refused",
      errorMessage: `connection refused: nothing accepts connections at ${at}`,
    };
  }
  if (kind === "connection_lost" && reachable === true) {
    return {
      errorClass: "network_error",
      errorMessage: `connection lost: ${at} accepted the connection, then closed it before answering`,
    };
  }
  if (kind === "opaque" && reachable === false && !IP_LITERAL.test(target.host)) {
    return { errorClass: "dns_failure", errorMessage: `DNS lookup failed: ${target.host} did not resolve` };
  }
  if (kind === "opaque" && reachable === true && target.secure) {
    return {
      errorClass: "tls_failure",
      errorMessage: `TLS handshake failed: ${at} accepts connections but not this https request (no TLS, or a certificate the runtime refuses)`,
    };
  }
  return { errorClass: "network_error", errorMessage: original };
}

/** Connects to the target over plain TCP and hangs up; whether it was accepted, refused, or neither in time. */
export async function probeTcp(target: ProbeTarget): Promise<ProbeResult> {
  // Loaded when needed: Node tools (the README and OpenAPI checks, the bench) import the engine's modules too.
  const { connect } = await import("cloudflare:sockets");
  let socket: ReturnType<typeof connect> | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), PROBE_TIMEOUT_MS);
  });
  try {
    socket = connect({ hostname: target.host, port: target.port });
    // A failed connection rejects `closed` too; the answer is read from `opened`.
    socket.closed.catch(() => {});
    const opened = socket.opened.then(
      () => true,
      () => false,
    );
    return await Promise.race([opened, timedOut]);
  } catch {
    return false;
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    socket?.close().catch(() => {});
  }
}

/** Names a fetch failure, probing the target when the runtime's message leaves the cause open. */
export async function diagnoseNetworkFailure(
  url: string,
  error: unknown,
  probe: (target: ProbeTarget) => Promise<ProbeResult> = probeTcp,
): Promise<NetworkFailure> {
  const original = String(error);
  const kind = errorKindOf(error);
  if (kind === "other") return { errorClass: "network_error", errorMessage: original };
  const target = probeTargetOf(url);
  return nameNetworkFailure(target, kind, await probe(target), original);
}
