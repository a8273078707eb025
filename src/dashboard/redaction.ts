/**
 * Which request headers the dashboard shows in clear. The single place the job page takes its
 * redaction from: a header whose name looks like it carries a credential is shown masked.
 */
const SECRET_HEADER_NAME =
  /authorization|cookie|token|secret|password|passwd|api[-_]?key|signature|credential|session|auth/i;

export const REDACTED = "[redacted]";

/** The headers with every secret-looking value replaced by "[redacted]". */
export function redactHeaders(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers).map(([name, value]) => [name, SECRET_HEADER_NAME.test(name) ? REDACTED : value]),
  );
}
