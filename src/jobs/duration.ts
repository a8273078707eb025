/**
 * Durations as callers write them: a number of seconds, or a string of whole units such
 * as "45s", "30m", "1h30m", "2d". Pure parsing; no clock.
 */
const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1_000 } as const;
const DURATION = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;

/** Milliseconds in a duration, or undefined when it is not one (or is empty). */
export function parseDurationMs(value: number | string): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) && value >= 0 ? Math.round(value * 1000) : undefined;
  const match = DURATION.exec(value.trim());
  if (!match || value.trim() === "") return undefined;
  const [, d, h, m, s] = match.map((part) => Number(part ?? 0));
  return d * UNIT_MS.d + h * UNIT_MS.h + m * UNIT_MS.m + s * UNIT_MS.s;
}
