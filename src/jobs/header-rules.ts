/**
 * Which request headers a job may carry: the one deny list, checked when a job is created or
 * changed. Pure. Header names are compared case-insensitively.
 *
 * Refused: headers that would change how the request is framed or routed rather than what it
 * says (Host, Content-Length, Transfer-Encoding and the hop-by-hop headers), headers that
 * would forge where a request came from (Forwarded, X-Forwarded-*, X-Real-IP, Cloudflare's
 * CF-* headers), and the headers Fliq sets itself on every callback (webhook-*, fliq-*).
 */
import { RESERVED_HEADER_PREFIXES } from "./limits";

/** Exact names refused, lower-case. */
export const DENIED_HEADER_NAMES: readonly string[] = [
  "host",
  "content-length",
  "transfer-encoding",
  "connection",
  "keep-alive",
  "upgrade",
  "te",
  "trailer",
  "forwarded",
  "x-real-ip",
  "true-client-ip",
  "via",
];

/** Name prefixes refused, lower-case. */
export const DENIED_HEADER_PREFIXES: readonly string[] = ["proxy-", "x-forwarded-", "cf-", ...RESERVED_HEADER_PREFIXES];

/** Why a job may not carry a header of this name (as "is refused: …", after the name), or null when it may. */
export function headerNameRefusal(name: string): string | null {
  const lower = name.toLowerCase();
  if ((RESERVED_HEADER_PREFIXES as readonly string[]).some((prefix) => lower.startsWith(prefix))) {
    return "is refused: Fliq sets webhook-* and fliq-* headers itself, to sign and identify every callback";
  }
  if (!DENIED_HEADER_NAMES.includes(lower) && !DENIED_HEADER_PREFIXES.some((prefix) => lower.startsWith(prefix))) {
    return null;
  }
  if (lower === "host") return "is refused: the Host header comes from the job's URL";
  if (lower === "content-length" || lower === "transfer-encoding") {
    return "is refused: how the body is framed is set by the runtime, from the body";
  }
  if (lower.startsWith("cf-")) return "is refused: CF-* headers are Cloudflare's own";
  if (["forwarded", "x-real-ip", "true-client-ip", "via"].includes(lower) || lower.startsWith("x-forwarded-")) {
    return "is refused: it would forge where the request came from";
  }
  return "is refused: hop-by-hop headers belong to one connection, not to the request";
}
