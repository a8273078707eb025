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

/** Why a job may not carry a header of this name, or null when it may. */
export function headerNameRefusal(name: string): string | null {
  const lower = name.toLowerCase();
  if ((RESERVED_HEADER_PREFIXES as readonly string[]).some((prefix) => lower.startsWith(prefix))) {
    return "webhook-* and fliq-* headers are set by Fliq on every callback";
  }
  if (DENIED_HEADER_NAMES.includes(lower) || DENIED_HEADER_PREFIXES.some((prefix) => lower.startsWith(prefix))) {
    return `${name} is set by Fliq or the network, not by a job (framing, hop-by-hop, forwarding and Cloudflare headers are refused)`;
  }
  return null;
}
