/**
 * The shard planner: pure arithmetic, no database. Shards are sized from how long the
 * destinations take to answer, and slow destinations get shards of their own.
 */
import { describe, expect, it } from "vitest";
import type { ClaimedJob } from "../src/db/jobs";
import { peakInFlight, planShards, UNKNOWN_LATENCY_MS } from "../src/dispatch/shard-plan";

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
