/**
 * The bench's side of worker-probe.js, the entry point of the Worker copy under test: the
 * connections each kind of invocation held at most, and the faults armed inside the Worker.
 */

/**
 * Invocations the probe tells apart; "unattributed" counts connections opened outside any known
 * invocation (from a callback the runtime calls, such as a driver reconnecting), all together.
 */
export type InvocationKind = "api" | "tick" | "cell" | "shard" | "watchdog" | "unattributed";

/** The most connections one invocation held at once, and of those, how many were the database's. */
export interface ConnectionPeak {
  connections: number;
  /** Database WebSockets and SQL-over-HTTP requests. */
  database: number;
  /** Callbacks (and any other fetch). */
  other: number;
  /** Invocations of this kind that ran (how far a tick fanned out, for cells and shards). */
  invocations: number;
}

/** The highest peak of any one invocation, by kind; a kind that opened no connection is absent. */
export type ConnectionPeaks = Partial<Record<InvocationKind, ConnectionPeak>>;

/** What production allows one invocation: six simultaneous open connections. */
export const CONNECTIONS_PER_INVOCATION = 6;

/** The peaks since the last read (a read starts them over). */
export async function readConnectionPeaks(workerUrl: string): Promise<ConnectionPeaks> {
  const response = await fetch(`${workerUrl}/__bench/peaks`);
  if (!response.ok) throw new Error(`the Worker's probe answered ${response.status} for its peaks`);
  return (await response.json()) as ConnectionPeaks;
}

/** The highest of one invocation's peaks, whatever its kind (the unattributed ones are no invocation's). */
export function highestPeak(peaks: ConnectionPeaks): { kind: InvocationKind; peak: ConnectionPeak } | undefined {
  let highest: { kind: InvocationKind; peak: ConnectionPeak } | undefined;
  for (const [kind, peak] of Object.entries(peaks) as Array<[InvocationKind, ConnectionPeak]>) {
    if (kind === "unattributed") continue;
    if (!highest || peak.connections > highest.peak.connections) highest = { kind, peak };
  }
  return highest;
}

/** "tick 6 (1 database) in 1, cell 5 (1 database) in 40": the peak, and how many invocations of the kind ran. */
export function describePeaks(peaks: ConnectionPeaks): string {
  const entries = Object.entries(peaks) as Array<[InvocationKind, ConnectionPeak]>;
  if (entries.length === 0) return "none";
  return entries
    .map(([kind, peak]) => {
      const ran = peak.invocations > 0 ? ` in ${peak.invocations}` : "";
      return `${kind} ${peak.connections} (${peak.database} database)${ran}`;
    })
    .join(", ");
}

/** A fault the probe injects into the next occurrence (see worker-probe.js). */
export type ArmedFault = { cellFails: true } | { tickCutAfterMs: number };

/** What the armed faults hit: the failed share's jobs, and when the tick was cut (epoch ms). */
export interface FaultHits {
  failedShareJobs: string[];
  tickCutAt?: number;
}

export async function armFault(workerUrl: string, fault: ArmedFault): Promise<void> {
  const response = await fetch(`${workerUrl}/__bench/fault`, { method: "POST", body: JSON.stringify(fault) });
  if (!response.ok)
    throw new Error(`the Worker's probe answered ${response.status} when arming ${JSON.stringify(fault)}`);
}

export async function readFaultHits(workerUrl: string): Promise<FaultHits> {
  const response = await fetch(`${workerUrl}/__bench/fault`);
  if (!response.ok) throw new Error(`the Worker's probe answered ${response.status} for its fault`);
  return (await response.json()) as FaultHits;
}
