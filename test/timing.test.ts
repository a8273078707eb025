/// <reference types="vite/client" />
/**
 * The timing of delivery (src/jobs/timing.ts): pure functions of a clock value, so each boundary
 * is checked on both sides to the millisecond, with no database and no waiting. The numbers are
 * written out: a change to any of them is a change to the delivery model and fails here first.
 * Also: the timing lives in that one file, and nowhere else under src/ defines it again.
 */
import { describe, expect, it } from "vitest";
import {
  AFTER_RESPONSE_LIMIT_MS,
  API_CLAIM_LEASE_MS,
  apiClaimLeaseEnd,
  apiDeliveryWindowEnd,
  CALLBACK_CONCURRENCY,
  CANCEL_CLOSES_BEFORE_MS,
  claimLeaseEnd,
  FAST_RESERVE,
  nextFullLookAt,
  nextTickAt,
  ownerReportsUntil,
  startStatementDueBy,
  startsDueBy,
  startWakeAt,
  TIMING,
  tickMinuteOf,
  tickWindowEnd,
  WINDOW_OVERLAP_MS,
  wakesWindowOwners,
  watchDeadline,
} from "../src/jobs/timing";

const minute = Date.parse("2026-06-12T10:30:00Z");
const at = (ms: number) => new Date(ms);

describe("the tick's window", () => {
  it("runs from its minute to 65 s later: a job due 1 ms before the end is the tick's, one due at the end is not", () => {
    const end = tickWindowEnd(at(minute)).getTime();
    expect(end).toBe(minute + 65_000);
    expect(minute + 64_999 < end).toBe(true);
    expect(minute + 65_000 < end).toBe(false);
  });

  it("overlaps the next minute's window by WINDOW_OVERLAP_MS, 5 s, so a late next tick loses no time", () => {
    const next = nextTickAt(at(minute)).getTime();
    expect(next).toBe(minute + 60_000);
    expect(tickMinuteOf(at(next)).getTime()).toBe(next);
    expect(tickWindowEnd(at(minute)).getTime() - next).toBe(WINDOW_OVERLAP_MS);
    expect(WINDOW_OVERLAP_MS).toBe(5_000);
  });

  it("is the one of the minute under way: the same at +0 ms and +59,999 ms, the next one's at +60,000 ms", () => {
    expect(tickMinuteOf(at(minute)).getTime()).toBe(minute);
    expect(tickMinuteOf(at(minute + 1)).getTime()).toBe(minute);
    expect(tickMinuteOf(at(minute + 59_999)).getTime()).toBe(minute);
    expect(tickMinuteOf(at(minute + 60_000)).getTime()).toBe(minute + 60_000);
    expect(tickMinuteOf(at(minute - 1)).getTime()).toBe(minute - 60_000);
  });

  it("covers every instant of its minute, and the first 5 s of the next one too", () => {
    for (const offset of [0, 1, 30_000, 59_999]) {
      const now = minute + offset;
      const own = tickMinuteOf(at(now)).getTime();
      expect(own <= now && now < tickWindowEnd(at(own)).getTime()).toBe(true);
    }
    const previous = at(minute - 60_000);
    expect(minute + 4_999 < tickWindowEnd(previous).getTime()).toBe(true);
    expect(minute + 5_000 < tickWindowEnd(previous).getTime()).toBe(false);
  });
});

describe("starting a job ahead of its time", () => {
  const now = minute + 12_345;

  it("starts a job due within its lead and batch, 350 ms: +350 ms is started, +351 ms is not", () => {
    expect(CANCEL_CLOSES_BEFORE_MS).toBe(350);
    expect(CANCEL_CLOSES_BEFORE_MS).toBe(TIMING.startLeadMs + TIMING.startBatchMs);
    expect(now + 350 <= startsDueBy(now)).toBe(true);
    expect(now + 351 <= startsDueBy(now)).toBe(false);
  });

  it("lets the start statement take one lead more, 600 ms, for a statement that runs a little late", () => {
    expect(startStatementDueBy(at(now)).getTime()).toBe(now + 600);
    expect(startStatementDueBy(at(now)).getTime() - startsDueBy(now)).toBe(TIMING.startLeadMs);
  });

  it("wakes 250 ms before a job's time, and starts it then", () => {
    const runAt = now + 10_000;
    expect(startWakeAt(runAt)).toBe(runAt - 250);
    expect(runAt <= startsDueBy(startWakeAt(runAt))).toBe(true);
  });
});

describe("leases", () => {
  it("reserves a job the engine claimed until 30 s past its time", () => {
    expect(claimLeaseEnd(at(minute)).getTime()).toBe(minute + 30_000);
    expect(claimLeaseEnd(at(minute + 1)).getTime()).toBe(minute + 30_001);
  });

  it("reserves a job the API claimed for 2 s past its time only, so a cut API path costs seconds", () => {
    expect(apiClaimLeaseEnd(at(minute)).getTime()).toBe(minute + 2_000);
    expect(API_CLAIM_LEASE_MS).toBeLessThan(TIMING.claimLeaseMs);
  });

  it("keeps a running attempt its timeout plus 30 s", () => {
    expect(TIMING.runningLeaseMarginMs).toBe(30_000);
  });
});

describe("the after-response limit", () => {
  const now = minute + 7_000;

  it("is 28 s, inside the 30 s Workers gives waitUntil after a response", () => {
    expect(AFTER_RESPONSE_LIMIT_MS).toBe(28_000);
    expect(AFTER_RESPONSE_LIMIT_MS).toBeLessThan(30_000);
  });

  it("lets the API fire a job whose time plus timeout ends inside it: due at +26,999 ms with 1 s yes, +27,000 ms no", () => {
    const windowEnd = apiDeliveryWindowEnd(at(now), 1_000).getTime();
    expect(windowEnd).toBe(now + 27_000);
    expect(now + 26_999 < windowEnd).toBe(true);
    expect(now + 27_000 < windowEnd).toBe(false);
  });

  it("leaves even a job due now to the tick when its timeout fills the limit (+0 ms), not when it leaves 1 ms", () => {
    expect(now < apiDeliveryWindowEnd(at(now), 28_000).getTime()).toBe(false);
    expect(now < apiDeliveryWindowEnd(at(now), 27_999).getTime()).toBe(true);
    expect(apiDeliveryWindowEnd(at(now), 120_000).getTime()).toBe(now - 92_000);
  });
});

describe("the watch over a window's owner", () => {
  const heard = minute + 3_000;

  it("takes a window over 5 s after its owner was last heard from, not 1 ms sooner", () => {
    // The watchdog's alarm takes over every watch whose deadline is at or before now.
    expect(watchDeadline(heard) <= heard + 4_999).toBe(false);
    expect(watchDeadline(heard) <= heard + 5_000).toBe(true);
  });

  it("looks at the database at least every 15 minutes, idle or not", () => {
    expect(nextFullLookAt(heard)).toBe(heard + 15 * 60_000);
  });

  it("wakes the owners for what falls due before their next poll less a lead: +10,249 ms yes, +10,250 ms no", () => {
    expect(wakesWindowOwners(heard + 10_249, heard)).toBe(true);
    expect(wakesWindowOwners(heard + 10_250, heard)).toBe(false);
    expect(wakesWindowOwners(heard - 60_000, heard)).toBe(true);
  });

  it("counts an owner's reports to its window's end: one at once, one a second, one to spare", () => {
    expect(ownerReportsUntil(at(minute + 65_000), at(minute))).toBe(67);
    expect(ownerReportsUntil(at(minute + 64_001), at(minute))).toBe(67);
    expect(ownerReportsUntil(at(minute + 64_000), at(minute))).toBe(66);
    expect(ownerReportsUntil(at(minute), at(minute))).toBe(2);
  });
});

describe("the concurrency cap", () => {
  it("leaves the database its one connection of Workers' six, and fast lanes two that slow ones cannot take", () => {
    expect(CALLBACK_CONCURRENCY + 1).toBe(6);
    expect(FAST_RESERVE).toBe(2);
    expect(CALLBACK_CONCURRENCY - FAST_RESERVE).toBeGreaterThan(0);
  });
});

describe("one home for the timing", () => {
  const sources = import.meta.glob<string>(["../src/**/*.ts", "../src/**/*.tsx", "!../src/client/**"], {
    query: "?raw",
    import: "default",
    eager: true,
  });
  const timingSource = sources["../src/jobs/timing.ts"];
  const defined = [...timingSource.matchAll(/^export (?:const|function) (\w+)/gm)].map((match) => match[1]);

  it("reads the sources it checks", () => {
    expect(Object.keys(sources).length).toBeGreaterThan(50);
    expect(defined).toEqual(expect.arrayContaining(["TIMING", "WINDOW_OVERLAP_MS", "apiDeliveryWindowEnd"]));
  });

  it("defines each timing name in src/jobs/timing.ts and nowhere else under src/", () => {
    const elsewhere = Object.entries(sources).flatMap(([path, source]) =>
      path === "../src/jobs/timing.ts"
        ? []
        : defined
            .filter((name) => new RegExp(`\\b(?:const|function|let|var)\\s+${name}\\b`).test(source))
            .map((name) => `${path}: ${name}`),
    );
    expect(elsewhere).toEqual([]);
  });
});
