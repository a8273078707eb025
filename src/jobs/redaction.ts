/**
 * Secrets in a request's headers: stored as sent, because the callback needs them, but never
 * shown. The one rule behind every surface that shows a stored request (jobs, schedules, the
 * dashboard, the SDK's types and the OpenAPI document, which describe the same responses):
 * every header value is hidden as "[redacted]" unless the header's name is on a short
 * allowlist of headers that never carry credentials. Guessing credentials by name (`*key*`,
 * `*token*`, …) misses too many (`X-Access-Code`, `X-Amz-Security-Token`, `X-Signature`…), so
 * Fliq shows only what it knows is harmless. Nothing logs a job's headers. Pure.
 */

import { RESERVED_HEADER_PREFIXES } from "./limits";

/** What a hidden header's value is replaced by when shown. */
export const REDACTED = "[redacted]";

/**
 * Headers whose values are shown, lower-case. Each is a standard header whose value comes from
 * a small public vocabulary (media types, encodings, language tags, cache directives, product
 * names), never a secret. Opaque identifiers (Idempotency-Key, X-Request-Id, X-Tenant…) are not
 * here: an opaque value is exactly what a credential looks like, and Fliq cannot tell them apart.
 */
export const SHOWN_HEADER_NAMES: readonly string[] = [
  // The body's media type, language and encoding: describe the body, which is shown anyway.
  "content-type",
  "content-language",
  "content-encoding",
  // Content negotiation: which media types, encodings and languages the caller wants back.
  "accept",
  "accept-encoding",
  "accept-language",
  // The client software's name and version.
  "user-agent",
  // Caching directives such as `no-cache`.
  "cache-control",
];

/** Whether a header's value is hidden whenever it is shown: any header not on the allowlist. */
export function isSecretHeader(name: string): boolean {
  return !SHOWN_HEADER_NAMES.includes(name.toLowerCase());
}

/** The headers as they may be shown: every value not on the allowlist replaced by "[redacted]". */
export function redactHeaders(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers).map(([name, value]) => [name, isSecretHeader(name) ? REDACTED : value]),
  );
}

/**
 * A change of headers sent back by a caller who read them redacted: a hidden header whose
 * value is "[redacted]" keeps the value stored for it (matched by name, case-insensitively),
 * so reading a job or schedule and sending its headers back never overwrites a secret with
 * the placeholder. Returns the names that say "[redacted]" but have no stored value to keep.
 */
export function keepRedactedValues(
  incoming: Record<string, string>,
  stored: Record<string, string>,
): { headers: Record<string, string>; unknown: string[] } {
  const storedByName = new Map(Object.entries(stored).map(([name, value]) => [name.toLowerCase(), value]));
  const unknown: string[] = [];
  const headers = Object.fromEntries(
    Object.entries(incoming).map(([name, value]) => {
      if (value !== REDACTED || !isSecretHeader(name)) return [name, value];
      const kept = storedByName.get(name.toLowerCase());
      if (kept === undefined) unknown.push(name);
      return [name, kept ?? value];
    }),
  );
  return { headers, unknown };
}

/** Parts of a secret value shorter than this are not scrubbed from text: too likely to be ordinary words. */
const SCRUBBED_PART_MIN_CHARS = 8;

/**
 * Text a target answered (a response excerpt, an error message) with every hidden header
 * value of the request it answered replaced by "[redacted]": an echo service would otherwise
 * show a request's credentials back through the attempt. The whole value is scrubbed, and
 * each of its parts (`Bearer <token>`, `name=<value>`) long enough to be a credential.
 */
export function scrubHeaderValues(text: string, headers: Record<string, string>): string {
  const secrets = new Set<string>();
  for (const [name, value] of Object.entries(headers)) {
    // Fliq's own headers (webhook-*, fliq-*) carry ids, times and a signature, not the user's secrets.
    const lower = name.toLowerCase();
    if (!isSecretHeader(name) || RESERVED_HEADER_PREFIXES.some((prefix) => lower.startsWith(prefix))) continue;
    for (const part of [value, ...value.split(/[\s,;=:]+/)]) {
      if (part.length >= SCRUBBED_PART_MIN_CHARS) secrets.add(part);
    }
  }
  // Longest first, so a whole value goes before the parts it contains.
  return [...secrets]
    .sort((a, b) => b.length - a.length)
    .reduce((scrubbed, secret) => scrubbed.replaceAll(secret, REDACTED), text);
}
