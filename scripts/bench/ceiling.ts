/**
 * The ceiling scenario: how many callbacks a second this machine's workerd makes with nothing
 * of Fliq around them (scripts/bench/ceiling-worker), to the same receiver and in the same
 * shape as Fliq's 10,000-job fan-out: 16 invocations of 5 callbacks in flight each. Scenario c
 * is read against it: what the engine costs is the gap between the two.
 */
import { join } from "node:path";
import type { RecordingReceiver } from "./receiver";
import { type Runtime, startWorker } from "./runtime";
import { Cleanup } from "./stack";

export interface CeilingRound {
  invocations: number;
  lanesPerInvocation: number;
  callbacks: number;
  failed: number;
  /** From sending the first invocation's request to the last one's answer. */
  ms: number;
  callbacksPerSecond: number;
}

export interface CeilingResult {
  /** What ran the bare Worker. */
  runtime: Runtime;
  rounds: CeilingRound[];
  /** The median round's rate. */
  medianCallbacksPerSecond: number;
}

/** Fliq's fan-out for scenario c: MAX_SHARDS invocations, each under the 6-connection cap less its database. */
const INVOCATIONS = 16;
const LANES = 5;
const CALLBACKS = 10_000;
const ROUNDS = 3;

export async function measureCeiling(
  receiver: RecordingReceiver,
  options: { scriptsDir: string; logFile: string; runtime: Runtime },
): Promise<CeilingResult> {
  const cleanup = new Cleanup();
  try {
    const worker = await startWorker(options.runtime, {
      root: join(options.scriptsDir, "ceiling-worker"),
      vars: {},
      logFile: options.logFile,
      inspector: false,
    });
    cleanup.add("ceiling Worker", worker.stop);
    const round = async (invocations: number, callbacks: number): Promise<CeilingRound> => {
      const each = Math.ceil(callbacks / invocations);
      const query = new URLSearchParams({
        callbacks: String(each),
        lanes: String(LANES),
        url: `${receiver.url}/ceiling`,
      });
      const startedAt = performance.now();
      const answers = await Promise.all(
        Array.from({ length: invocations }, async () => {
          const response = await fetch(`${worker.url}/?${query}`);
          if (!response.ok) throw new Error(`ceiling Worker answered ${response.status}: ${await response.text()}`);
          return (await response.json()) as { callbacks: number; failed: number };
        }),
      );
      const ms = performance.now() - startedAt;
      receiver.clear();
      const made = answers.reduce((sum, answer) => sum + answer.callbacks, 0);
      return {
        invocations,
        lanesPerInvocation: LANES,
        callbacks: made,
        failed: answers.reduce((sum, answer) => sum + answer.failed, 0),
        ms,
        callbacksPerSecond: made / (ms / 1000),
      };
    };
    await round(INVOCATIONS, 1_000); // warm-up: the Worker's first requests and the receiver's connections
    const rounds: CeilingRound[] = [];
    for (let i = 0; i < ROUNDS; i++) rounds.push(await round(INVOCATIONS, CALLBACKS));
    const rates = rounds.map((r) => r.callbacksPerSecond).sort((a, b) => a - b);
    return { runtime: options.runtime, rounds, medianCallbacksPerSecond: rates[Math.floor(rates.length / 2)] };
  } finally {
    await cleanup.run();
  }
}
