/**
 * The engine's fault log: one JSON line per event, so `wrangler tail`, Workers Logs and the
 * local console show what the engine gave up or handed on, and why, and a fault is never silent.
 */

/** Writes one structured line for an engine fault (`event` in snake_case, then its facts). */
export function logEngineFault(event: string, facts: Record<string, unknown>, error?: unknown): void {
  const line: Record<string, unknown> = { level: "error", event, ...facts };
  if (error !== undefined) line.error = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  console.error(JSON.stringify(line));
}
