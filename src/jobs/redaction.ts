/**
 * Secrets in a job's headers: stored as sent, because the callback needs them, but never
 * shown. Every API response and dashboard page renders headers through redactHeaders, and
 * nothing logs a job's headers. Pure.
 */

/** What a secret header's value is replaced by when shown. */
export const REDACTED = "[redacted]";

/** Headers that carry credentials by definition. */
const SECRET_HEADER_NAMES = ["authorization", "proxy-authorization", "cookie", "set-cookie"];

/** Words that mark a header as credential-like: X-Api-Key, X-Auth-Token, X-Hub-Signature, X-Client-Secret… */
const SECRET_NAME_PARTS = [
  "key",
  "token",
  "secret",
  "password",
  "passwd",
  "auth",
  "signature",
  "session",
  "credential",
];

/** Whether a header's value is a secret that is never shown. */
export function isSecretHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return SECRET_HEADER_NAMES.includes(lower) || SECRET_NAME_PARTS.some((part) => lower.includes(part));
}

/** The headers as they may be shown: each secret value replaced by "[redacted]". */
export function redactHeaders(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers).map(([name, value]) => [name, isSecretHeader(name) ? REDACTED : value]),
  );
}

/**
 * A change of headers sent back by a caller who read them redacted: a secret header whose
 * value is "[redacted]" keeps the value stored for it (matched by name, case-insensitively),
 * so reading a job and sending its headers back never overwrites a secret with the
 * placeholder. Returns the names that say "[redacted]" but have no stored value to keep.
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
