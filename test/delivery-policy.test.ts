import { describe, expect, it } from "vitest";
import { BACKOFF, classifyResult, decideAfterAttempt, errorClassOf, retryDelayMs } from "../src/jobs/delivery-policy";

describe("classifyResult", () => {
  it("classifies every status code from 100 to 599", () => {
    for (let code = 100; code <= 599; code++) {
      const expected =
        code >= 200 && code < 300 ? "success" : code === 408 || code === 429 || code >= 500 ? "retryable" : "permanent";
      expect(classifyResult({ statusCode: code }), String(code)).toBe(expected);
    }
  });

  it("retries when there was no response", () => {
    expect(classifyResult({ errorClass: "network_error" })).toBe("retryable");
    expect(classifyResult({ errorClass: "timeout" })).toBe("retryable");
  });

  it("names redirects apart from other HTTP errors", () => {
    expect(errorClassOf({ statusCode: 301 })).toBe("redirect");
    expect(errorClassOf({ statusCode: 404 })).toBe("http_error");
    expect(errorClassOf({ statusCode: 204 })).toBeNull();
    expect(errorClassOf({ errorClass: "timeout" })).toBe("timeout");
  });
});

describe("retryDelayMs", () => {
  it("doubles from the base, with equal jitter, up to the cap", () => {
    expect(retryDelayMs(1, 0)).toBe(BACKOFF.baseMs / 2);
    expect(retryDelayMs(1, 0.999999)).toBeCloseTo(BACKOFF.baseMs, -1);
    expect(retryDelayMs(2, 0)).toBe(BACKOFF.baseMs);
    expect(retryDelayMs(3, 0)).toBe(BACKOFF.baseMs * 2);
    expect(retryDelayMs(30, 0.999999)).toBeLessThanOrEqual(BACKOFF.capMs);
    expect(retryDelayMs(30, 0)).toBe(BACKOFF.capMs / 2);
  });
});

describe("decideAfterAttempt", () => {
  const now = new Date("2026-06-12T10:30:00Z");
  const policy = { maxRetries: 2 };

  it("succeeds on 2xx", () => {
    expect(decideAfterAttempt(1, policy, { statusCode: 204 }, now, 0.5)).toEqual({
      outcome: "succeeded",
      status: "succeeded",
      nextRunAt: null,
      finishedAt: now,
    });
  });

  it("retries while retries remain: attempts 1..maxRetries, and fails on attempt maxRetries + 1", () => {
    expect(decideAfterAttempt(2, policy, { statusCode: 500 }, now, 0)).toEqual({
      outcome: "retry",
      status: "scheduled",
      nextRunAt: new Date(now.getTime() + retryDelayMs(2, 0)),
      finishedAt: null,
    });
    expect(decideAfterAttempt(3, policy, { statusCode: 500 }, now, 0)).toMatchObject({
      outcome: "failed",
      status: "failed",
      finishedAt: now,
    });
  });

  it("never retries a permanent failure, even with retries left", () => {
    expect(decideAfterAttempt(1, policy, { statusCode: 404 }, now, 0)).toMatchObject({ outcome: "failed" });
  });

  it("fails at once when max_retries is 0", () => {
    expect(decideAfterAttempt(1, { maxRetries: 0 }, { errorClass: "timeout" }, now, 0)).toMatchObject({
      outcome: "failed",
    });
  });
});
