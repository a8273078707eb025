/**
 * How the dashboard writes times and durations: UTC, to the second or the millisecond, relative
 * to now ("in 4 s", "3 min ago"), durations in the largest fitting unit. The page's script
 * (live.ts) writes relative times the same way as the clock moves.
 */

/** "2026-11-28 17:45:03 UTC". */
export function formatTime(date: Date): string {
  return `${date.toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

/** "2026-11-28 17:45:03.120 UTC": attempt times, where lateness is milliseconds. */
export function formatTimeMs(date: Date): string {
  return `${date.toISOString().slice(0, 23).replace("T", " ")} UTC`;
}

/** "17:45:03.120": a time on a short axis, whose day is shown beside it. */
export function formatClockMs(date: Date): string {
  return date.toISOString().slice(11, 23);
}

/** "850 ms", "12.3 s", "4.5 min", "2.0 h". */
export function formatDuration(ms: number): string {
  const sign = ms < 0 ? "-" : "";
  const abs = Math.abs(ms);
  if (abs < 1000) return `${sign}${abs} ms`;
  if (abs < 60_000) return `${sign}${(abs / 1000).toFixed(1)} s`;
  if (abs < 3_600_000) return `${sign}${(abs / 60_000).toFixed(1)} min`;
  return `${sign}${(abs / 3_600_000).toFixed(1)} h`;
}

/**
 * "in 4 s", "3 min ago", "now": how far a time is from `now`, in whole units (seconds under a
 * minute, minutes under an hour, hours under two days, then days). Keep in step with live.ts.
 */
export function formatRelative(at: Date, now: Date): string {
  const deltaMs = at.getTime() - now.getTime();
  const abs = Math.abs(deltaMs);
  if (abs < 1000) return "now";
  const amount =
    abs < 60_000
      ? `${Math.floor(abs / 1000)} s`
      : abs < 3_600_000
        ? `${Math.floor(abs / 60_000)} min`
        : abs < 48 * 3_600_000
          ? `${Math.floor(abs / 3_600_000)} h`
          : `${Math.floor(abs / 86_400_000)} d`;
  return deltaMs > 0 ? `in ${amount}` : `${amount} ago`;
}

/** "97.5%", or "–" when there is nothing to divide. */
export function formatShare(part: number, whole: number): string {
  return whole === 0 ? "–" : `${((100 * part) / whole).toFixed(1)}%`;
}

/** The value of a datetime-local input for a time, in UTC (the dashboard's time zone). */
export function toDateTimeLocalValue(date: Date): string {
  return date.toISOString().slice(0, 19);
}

/**
 * A datetime-local input's value (to the minute or the second, without a zone) as the ISO
 * 8601 UTC time the API takes; anything else is passed on as typed, for the API's schema to
 * refuse in its own words. Empty stays empty.
 */
export function fromDateTimeLocalValue(value: string): string {
  const local = value.trim();
  if (local === "") return "";
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/.test(local)) return `${local}:00Z`;
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?$/.test(local)) return `${local}Z`;
  return local;
}
