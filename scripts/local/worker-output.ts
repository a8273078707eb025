/**
 * What `npm start` shows of the Worker's output: everything, except that the engine's JSON lines
 * are printed as one readable line each.
 */

/** Strips terminal colour codes, so lines are matched on their text. */
const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g");

/** The JSON line src/dispatch/engine-log.ts writes for an attempt that did not succeed. */
export interface FailedAttemptLine {
  event: "attempt_failed";
  job_id: string;
  url: string;
  attempt: number;
  outcome: string;
  error_class: string | null;
  status_code: number | null;
  error: string | null;
  next_run_at: string | null;
}

/** Passes one line of the Worker's output to `write`, rewritten as described above. */
export function relayWorkerOutput(line: string, write: (line: string) => void): void {
  const text = line.replace(ANSI, "");
  const attempt = failedAttemptOf(text);
  write((attempt ? describeFailedAttempt(attempt) : describeEngineLine(text)) ?? line);
}

/**
 * Passes one line of workerd's own output on: workerd run by Miniflare's configuration writes each
 * console message as a JSON line (`{"timestamp","level","message"}`), which Miniflare's process
 * used to unwrap; the message is relayed as above. Any other line is relayed as it is.
 */
export function relayWorkerdLog(line: string, write: (line: string) => void): void {
  const message = structuredLogMessage(line);
  for (const messageLine of message?.split("\n") ?? [line]) relayWorkerOutput(messageLine, write);
}

function structuredLogMessage(line: string): string | undefined {
  if (!line.startsWith('{"timestamp":')) return undefined;
  try {
    const { message } = JSON.parse(line) as { message?: unknown };
    return typeof message === "string" ? message : undefined;
  } catch {
    return undefined;
  }
}

/** Any other engine line (src/dispatch/engine-log.ts) as `[engine] <level> <event>: key=value …`. */
function describeEngineLine(text: string): string | undefined {
  const start = text.indexOf('{"level":');
  if (start === -1) return undefined;
  try {
    const { level, event, ...facts } = JSON.parse(text.slice(start)) as Record<string, unknown>;
    if (typeof event !== "string") return undefined;
    const details = Object.entries(facts).map(([key, value]) => `${key}=${JSON.stringify(value)}`);
    return `[engine] ${level} ${event}: ${details.join(" ")}`;
  } catch {
    return undefined;
  }
}

/** The attempt line's facts, when `text` is one. */
export function failedAttemptOf(text: string): FailedAttemptLine | undefined {
  const start = text.indexOf('{"');
  if (start === -1 || !text.includes('"attempt_failed"')) return undefined;
  try {
    const parsed = JSON.parse(text.slice(start)) as Partial<FailedAttemptLine>;
    return parsed.event === "attempt_failed" ? (parsed as FailedAttemptLine) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `[attempt] job <id> #<n> <url> → retry: connection_refused (…); next attempt at <time>`:
 * what failed, why, and what happens next, on one line.
 */
export function describeFailedAttempt(attempt: FailedAttemptLine): string {
  const reason = [attempt.error_class, attempt.status_code === null ? null : `HTTP ${attempt.status_code}`]
    .filter(Boolean)
    .join(" ");
  const detail = attempt.error ? ` (${attempt.error})` : "";
  const then =
    attempt.outcome === "retry" && attempt.next_run_at
      ? `; next attempt at ${attempt.next_run_at}`
      : attempt.outcome === "failed"
        ? "; the job failed"
        : "";
  return `[attempt] job ${attempt.job_id} #${attempt.attempt} ${attempt.url} → ${attempt.outcome}: ${reason}${detail}${then}`;
}
