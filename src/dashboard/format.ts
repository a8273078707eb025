/** How the dashboard writes times and durations: UTC to the second, durations in the largest fitting unit. */

/** "2026-11-28 17:45:03 UTC". */
export function formatTime(date: Date): string {
  return `${date.toISOString().slice(0, 19).replace("T", " ")} UTC`;
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

/** "97.5%", or "–" when there is nothing to divide. */
export function formatShare(part: number, whole: number): string {
  return whole === 0 ? "–" : `${((100 * part) / whole).toFixed(1)}%`;
}

/** The value of a datetime-local input for a time, in UTC (the dashboard's time zone). */
export function toDateTimeLocalValue(date: Date): string {
  return date.toISOString().slice(0, 19);
}
