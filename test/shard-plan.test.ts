/**
 * The shard planner: pure arithmetic, no database. Shards are sized from how long the
 * destinations take to answer, and slow destinations get shards of their own.
 */
import { describe, expect, it } from "vitest";
import type { ClaimedJob } from "../src/db/jobs";
import { cellName, fanOutOf, peakInFlight, planShards, shardLimitsOf } from "../src/dispatch/shard-plan";
import { UNKNOWN_LATENCY_MS } from "../src/jobs/timing";

const t0 = Date.parse("2026-06-12T10:30:00Z");
const limits = { callbacksPerSecond: 10_000, callbacksPerInvocation: 5_000, maxShards: 16 };

/** `count` jobs to `destination`, spread evenly over `spanMs` from t0 + `offsetMs`. */
function jobs(count: number, destination: string, spanMs = 0, offsetMs = 0): ClaimedJob[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `${destination}-${i}`,
    runAt: new Date(t0 + offsetMs + Math.floor((i * spanMs) / count)),
    destination,
  }));
}

const sorted = (list: ClaimedJob[]) => [...list].sort((a, b) => a.runAt.getTime() - b.runAt.getTime());

describe("peakInFlight", () => {
  it("counts callbacks that overlap, not the jobs of a second", () => {
    // 10 jobs, one every 100 ms, each 250 ms long: at most 3 in flight at once.
    expect(peakInFlight(jobs(10, "a", 1000), () => 250)).toBe(3);
    // The same at 2 s each: every one still in flight when the last starts.
    expect(peakInFlight(jobs(10, "a", 1000), () => 2000)).toBe(10);
    // A job ending exactly when the next starts frees its connection for it.
    expect(peakInFlight(jobs(2, "a", 200), () => 100)).toBe(1);
    expect(peakInFlight(jobs(2, "a", 200), () => 101)).toBe(2);
  });
});

describe("planShards", () => {
  it("sizes shards from measured latency: a fast target needs one invocation, a 200 ms one many", () => {
    const burst = jobs(1000, "https://fast.example", 1000);
    expect(planShards(burst, limits, () => 2).shards).toHaveLength(1);
    // 1,000 jobs in 1 s at 200 ms: about 200 in flight, 5 per invocation, capped at 16.
    expect(planShards(burst, limits, () => 200).shards).toHaveLength(16);
    const few = jobs(100, "https://fast.example", 1000);
    // 100 jobs in 1 s at 200 ms: about 20 in flight, so 4 invocations of 5.
    expect(planShards(few, limits, () => 200).shards).toHaveLength(4);
  });

  it("assumes an unknown destination answers like an ordinary Internet target, not like loopback", () => {
    const few = jobs(100, "https://new.example", 1000);
    const planned = planShards(few, limits, () => undefined);
    expect(planned.shards).toHaveLength(Math.ceil((100 * UNKNOWN_LATENCY_MS) / 1000 / 5));
  });

  it("gives slow destinations shards of their own, so no fast job shares a connection with them", () => {
    const fast = jobs(100, "https://fast.example", 2000);
    const slow = jobs(50, "https://slow.example", 2000);
    const hanging = jobs(5, "https://hangs.example", 0, 500);
    const latency = new Map([
      ["https://fast.example", 5],
      ["https://slow.example", 2000],
      ["https://hangs.example", 30_000],
    ]);
    const { shards, overflow } = planShards(sorted([...fast, ...slow, ...hanging]), limits, (d) => latency.get(d));
    expect(overflow).toEqual([]);
    const destinationsOf = (shard: ClaimedJob[]) => new Set(shard.map((job) => job.destination));
    expect(destinationsOf(shards[0])).toEqual(new Set(["https://fast.example"]));
    for (const shard of shards.slice(1)) expect(destinationsOf(shard).has("https://fast.example")).toBe(false);
    expect(shards.flat()).toHaveLength(155);
  });

  it("puts slow jobs beside fast ones only when no shard is left for them", () => {
    const mixed = sorted([...jobs(10, "https://fast.example", 1000), ...jobs(10, "https://slow.example", 1000)]);
    const latency = (d: string) => (d === "https://slow.example" ? 5000 : 5);
    const { shards } = planShards(mixed, { ...limits, maxShards: 1 }, latency);
    expect(shards).toHaveLength(1);
    expect(shards[0]).toHaveLength(20);
  });

  it("leaves what no invocation's budget can take to later ticks, latest first", () => {
    const many = jobs(30, "https://fast.example", 1000);
    const { shards, overflow } = planShards(many, { ...limits, callbacksPerInvocation: 10, maxShards: 2 }, () => 2);
    expect(shards.map((shard) => shard.length)).toEqual([10, 10]);
    expect(overflow).toHaveLength(10);
    expect(overflow[0].runAt.getTime()).toBeGreaterThanOrEqual(
      Math.max(...shards.flat().map((j) => j.runAt.getTime())),
    );
  });
});

describe("fan-out past one request's 32 invocations: delivery cells", () => {
  const cells = fanOutOf({ maxShards: 16, maxCells: 128, cellsBound: true });

  it("fans out onto cells when they are bound, else onto at most MAX_SHARDS self-invocations", () => {
    expect(cells).toEqual({ carrier: "cells", maxInvocations: 129 });
    expect(fanOutOf({ maxShards: 16, maxCells: 128, cellsBound: false })).toEqual({
      carrier: "self",
      maxInvocations: 16,
    });
    // MAX_CELLS=0 turns cells off even where the binding exists.
    expect(fanOutOf({ maxShards: 8, maxCells: 0, cellsBound: true })).toEqual({ carrier: "self", maxInvocations: 8 });
  });

  it("plans as many cells as the burst needs: 1,000 callbacks of 200 ms due within 1 s take 40 invocations, not 16", () => {
    const burst = jobs(1000, "https://slow.example", 1000);
    const { shards, overflow } = planShards(burst, { ...limits, maxShards: cells.maxInvocations }, () => 200);
    // About 200 in flight if each fires on its time: 40 invocations of 5.
    expect(shards).toHaveLength(40);
    expect(overflow).toEqual([]);
    // Dealt evenly, each share spread over the whole second like the burst: 25 jobs each.
    for (const shard of shards) {
      expect(shard).toHaveLength(25);
      expect(shard[shard.length - 1].runAt.getTime() - shard[0].runAt.getTime()).toBeGreaterThan(900);
    }
    expect(new Set(shards.flat().map((job) => job.id)).size).toBe(1000);
    // The same burst without cells is capped at 16 invocations, 80 callbacks in flight.
    expect(planShards(burst, limits, () => 200).shards).toHaveLength(16);
  });

  it("never plans more cells than MAX_CELLS, however large the burst", () => {
    const burst = jobs(10_000, "https://slow.example", 1000);
    const { shards, overflow } = planShards(burst, { ...limits, maxShards: cells.maxInvocations }, () => 200);
    expect(shards).toHaveLength(129);
    expect(overflow).toEqual([]);
    expect(Math.max(...shards.map((shard) => shard.length))).toBe(Math.ceil(10_000 / 129));
  });

  it("fans out within a small subrequest budget instead of planning no callbacks at all", () => {
    // Workers Paid's 10,000: the whole fan-out, each invocation with the rest of its budget.
    expect(shardLimitsOf({ usableSubrequests: 9_998, callbacksPerSecond: 200, maxInvocations: 129 })).toEqual({
      callbacksPerSecond: 200,
      callbacksPerInvocation: 9_869,
      maxShards: 129,
    });
    // Workers Free's 50: 129 hand-offs would leave none; the tick keeps half for its own callbacks.
    const free = shardLimitsOf({ usableSubrequests: 48, callbacksPerSecond: 200, maxInvocations: 129 });
    expect(free).toEqual({ callbacksPerSecond: 200, callbacksPerInvocation: 24, maxShards: 24 });
    const { shards, overflow } = planShards(jobs(100, "https://slow.example", 1000), free, () => 200);
    expect(shards.flat()).toHaveLength(100 - overflow.length);
    expect(shards.flat().length).toBeGreaterThan(0);
    // The smallest budget still delivers one callback per invocation.
    expect(shardLimitsOf({ usableSubrequests: 1, callbacksPerSecond: 200, maxInvocations: 129 })).toEqual({
      callbacksPerSecond: 200,
      callbacksPerInvocation: 1,
      maxShards: 1,
    });
  });

  it("names each share's cell, on separate cells for ticks of consecutive minutes", () => {
    const even = new Date("2026-06-12T10:30:00Z");
    const odd = new Date("2026-06-12T10:31:00Z");
    expect(cellName(even, 1)).toBe("cell-0-1");
    expect(cellName(odd, 1)).toBe("cell-1-1");
    expect(cellName(new Date("2026-06-12T10:32:00Z"), 1)).toBe(cellName(even, 1));
    const names = Array.from({ length: 128 }, (_, i) => cellName(even, i + 1));
    expect(new Set(names).size).toBe(128);
    for (const name of names) expect(names.map((n) => cellName(odd, Number(n.split("-")[2])))).not.toContain(name);
  });
});
