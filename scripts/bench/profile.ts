/**
 * A CPU profile of the Worker while a scenario delivers, taken through its DevTools inspector
 * (the Chrome DevTools protocol): where workerd's time per callback goes. The profile is saved
 * for DevTools, and the functions with the most self time are printed.
 */
import { writeFile } from "node:fs/promises";
import WebSocket from "ws";
import type { RunningWorker } from "./stack";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
}

/** One function's share of the samples. */
export interface HotFunction {
  name: string;
  selfMs: number;
  share: number;
}

/** A profiler attached to the Worker; `stop` ends it and returns the hottest functions. */
export interface Profiler {
  stop(outputFile: string): Promise<HotFunction[]>;
}

/** Attaches to the Worker's inspector and starts sampling. */
export async function startProfiler(worker: RunningWorker): Promise<Profiler> {
  if (worker.inspectorPort === undefined) throw new Error("the Worker runs without an inspector");
  const targets = (await (await fetch(`http://127.0.0.1:${worker.inspectorPort}/json`)).json()) as Array<{
    id?: string;
    webSocketDebuggerUrl?: string;
  }>;
  const target = targets.find(
    (candidate) =>
      candidate.webSocketDebuggerUrl &&
      (worker.inspectorTarget === undefined || candidate.id === worker.inspectorTarget),
  );
  if (!target?.webSocketDebuggerUrl) throw new Error("the inspector lists no Worker to profile");
  const socket = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise<void>((resolve, reject) => {
    socket.once("open", () => resolve());
    socket.once("error", reject);
  });

  let nextId = 1;
  const pending = new Map<number, (result: unknown) => void>();
  socket.on("message", (data) => {
    const message = JSON.parse(String(data)) as { id?: number; result?: unknown };
    if (message.id !== undefined) pending.get(message.id)?.(message.result);
  });
  const send = (method: string, params: object = {}) =>
    new Promise<unknown>((resolve) => {
      const id = nextId++;
      pending.set(id, resolve);
      socket.send(JSON.stringify({ id, method, params }));
    });

  await send("Profiler.enable");
  await send("Profiler.setSamplingInterval", { interval: 200 });
  await send("Profiler.start");
  return {
    async stop(outputFile) {
      const { profile } = (await send("Profiler.stop")) as { profile: CpuProfile };
      socket.close();
      await writeFile(outputFile, JSON.stringify(profile));
      return hottestFunctions(profile, 15);
    },
  };
}

/** Self time by function, most first; idle and garbage collection are listed like functions. */
function hottestFunctions(profile: CpuProfile, count: number): HotFunction[] {
  const totalHits = profile.nodes.reduce((sum, node) => sum + (node.hitCount ?? 0), 0);
  const msPerHit = totalHits > 0 ? (profile.endTime - profile.startTime) / 1000 / totalHits : 0;
  const byName = new Map<string, number>();
  for (const node of profile.nodes) {
    const { functionName, url, lineNumber } = node.callFrame;
    const file = url.split("/").pop() || "(native)";
    const name = `${functionName || "(anonymous)"} ${file}:${lineNumber + 1}`;
    byName.set(name, (byName.get(name) ?? 0) + (node.hitCount ?? 0));
  }
  return [...byName.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([name, hits]) => ({ name, selfMs: hits * msPerHit, share: totalHits > 0 ? hits / totalHits : 0 }));
}
