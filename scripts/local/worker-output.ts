/**
 * What `npm start` shows of wrangler's output: everything, except that the engine's JSON lines
 * are printed as one readable line each (wrangler frames them as warnings or errors, with blank
 * lines around), and wrangler's warning that "Scheduled Workers are not automatically triggered
 * during local development" is replaced by what is true here: `npm start`'s ticker triggers them
 * every minute.
 */

/** Strips terminal colour codes, so lines are matched on their text. */
const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g");

const CRON_WARNING = "Scheduled Workers are not automatically triggered";
/** The warning's last line; it is followed by blank lines, dropped with it. */
const CRON_WARNING_END = "cron-triggers/#test-cron-triggers-locally";

export const CRON_WARNING_EXPLAINED =
  "[fliq] wrangler's note that cron triggers do not fire locally does not apply here: " +
  "npm start's ticker calls the scheduled handler at every minute boundary.";

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

let inCronWarning = false;
/** Whether the blank lines wrangler prints after a rewritten line are still to be dropped. */
let droppingBlankLines = false;

/** Passes one line of wrangler's output to `write`, rewritten as described above. */
export function relayWorkerOutput(line: string, write: (line: string) => void): void {
  const text = line.replace(ANSI, "");
  if (text.includes(CRON_WARNING)) {
    inCronWarning = true;
    write(CRON_WARNING_EXPLAINED);
    return;
  }
  if (inCronWarning) {
    if (text.includes(CRON_WARNING_END)) {
      inCronWarning = false;
      droppingBlankLines = true;
    }
    return;
  }
  if (droppingBlankLines && text.trim() === "") return;
  droppingBlankLines = false;
  const attempt = failedAttemptOf(text);
  const engineLine = attempt ? describeFailedAttempt(attempt) : describeEngineLine(text);
  if (engineLine === undefined) {
    write(line);
    return;
  }
  droppingBlankLines = true;
  write(engineLine);
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
