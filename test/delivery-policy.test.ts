import { describe, expect, it } from "vitest";
import {
  classifyResult,
  decideAfterAttempt,
  errorClassOf,
  parseRetryAfterMs,
  RETRY_AFTER_CAP_MS,
  retryDelayMs,
} from "../src/jobs/delivery-policy";

const backoff = { backoffInitialMs: 10_000, backoffMaxMs: 3_600_000 };

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
    expect(retryDelayMs(1, backoff, 0)).toBe(5_000);
    expect(retryDelayMs(1, backoff, 0.999999)).toBe(10_000);
    expect(retryDelayMs(2, backoff, 0)).toBe(10_000);
    expect(retryDelayMs(3, backoff, 0)).toBe(20_000);
    expect(retryDelayMs(30, backoff, 0.999999)).toBeGreaterThan(3_599_990);
    expect(retryDelayMs(30, backoff, 0.999999)).toBeLessThanOrEqual(3_600_000);
    expect(retryDelayMs(30, backoff, 0)).toBe(1_800_000);
  });

  it("stays within [half, all] of the capped exponential for every retry and jitter", () => {
    const policy = { backoffInitialMs: 1_000, backoffMaxMs: 60_000 };
    for (let retry = 1; retry <= 25; retry++) {
      const full = Math.min(60_000, 1_000 * 2 ** (retry - 1));
      for (const random of [0, 0.25, 0.5, 0.75, 0.999999]) {
        const delay = retryDelayMs(retry, policy, random);
        expect(delay).toBeGreaterThanOrEqual(full / 2);
        expect(delay).toBeLessThanOrEqual(full);
      }
    }
  });
});

describe("parseRetryAfterMs", () => {
  const now = new Date("2026-06-12T10:30:00Z");

  it("reads delay-seconds", () => {
    expect(parseRetryAfterMs("0", now)).toBe(0);
    expect(parseRetryAfterMs("120", now)).toBe(120_000);
    expect(parseRetryAfterMs(" 7 ", now)).toBe(7_000);
  });

  it("reads an HTTP date against now, and treats a past one as no wait", () => {
    expect(parseRetryAfterMs("Fri, 12 Jun 2026 10:31:00 GMT", now)).toBe(60_000);
    expect(parseRetryAfterMs("Fri, 12 Jun 2026 10:29:00 GMT", now)).toBe(0);
  });

  it("caps long waits, at the cap and just past it", () => {
    expect(parseRetryAfterMs(String(RETRY_AFTER_CAP_MS / 1000), now)).toBe(RETRY_AFTER_CAP_MS);
    expect(parseRetryAfterMs(String(RETRY_AFTER_CAP_MS / 1000 + 1), now)).toBe(RETRY_AFTER_CAP_MS);
  });

  it("ignores what it cannot read", () => {
    for (const value of [undefined, "", "soon", "-5", "1.5", "2026-06-12", "Friday"])
      expect(parseRetryAfterMs(value, now)).toBeUndefined();
  });
});

describe("decideAfterAttempt", () => {
  const now = new Date("2026-06-12T10:30:00Z");
  const policy = { maxRetries: 2, ...backoff };

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
      nextRunAt: new Date(now.getTime() + retryDelayMs(2, backoff, 0)),
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
    expect(decideAfterAttempt(1, { ...policy, maxRetries: 0 }, { errorClass: "timeout" }, now, 0)).toMatchObject({
      outcome: "failed",
    });
  });

  it("waits for Retry-After when it is longer than the backoff, and for the backoff when it is shorter", () => {
    const longer = decideAfterAttempt(1, policy, { statusCode: 429, retryAfter: "60" }, now, 0);
    expect(longer.nextRunAt).toEqual(new Date(now.getTime() + 60_000));
    const shorter = decideAfterAttempt(1, policy, { statusCode: 503, retryAfter: "1" }, now, 0);
    expect(shorter.nextRunAt).toEqual(new Date(now.getTime() + 5_000));
  });

  it("makes no retry later than max_retry_duration after the first attempt: the job fails", () => {
    const first = now.getTime() - 60_000;
    // The retry (5 s from now with random 0) falls 65 s after the first attempt.
    const within = { ...policy, maxRetryDurationMs: 65_000, firstAttemptAtMs: first };
    expect(decideAfterAttempt(1, within, { statusCode: 500 }, now, 0)).toMatchObject({
      outcome: "retry",
      nextRunAt: new Date(now.getTime() + 5_000),
    });
    const beyond = { ...policy, maxRetryDurationMs: 64_999, firstAttemptAtMs: first };
    expect(decideAfterAttempt(1, beyond, { statusCode: 500 }, now, 0)).toEqual({
      outcome: "failed",
      status: "failed",
      nextRunAt: null,
      finishedAt: now,
    });
    // A Retry-After that pushes the retry past the limit ends the job as well.
    const longWait = { ...policy, maxRetryDurationMs: 3_600_000, firstAttemptAtMs: first };
    expect(decideAfterAttempt(1, longWait, { statusCode: 429, retryAfter: "7200" }, now, 0)).toMatchObject({
      status: "failed",
    });
  });

  it("expires the job now when its retry would start after expires_at", () => {
    const retryAt = now.getTime() + 5_000;
    expect(decideAfterAttempt(1, { ...policy, expiresAtMs: retryAt }, { statusCode: 503 }, now, 0)).toMatchObject({
      outcome: "retry",
      status: "scheduled",
    });
    expect(decideAfterAttempt(1, { ...policy, expiresAtMs: retryAt - 1 }, { statusCode: 503 }, now, 0)).toEqual({
      outcome: "failed",
      status: "expired",
      nextRunAt: null,
      finishedAt: now,
    });
  });

  it("lets a success or a permanent failure end the job as usual, deadline or not", () => {
    const past = { ...policy, expiresAtMs: now.getTime() - 1, maxRetryDurationMs: 0, firstAttemptAtMs: 0 };
    expect(decideAfterAttempt(1, past, { statusCode: 200 }, now, 0)).toMatchObject({ status: "succeeded" });
    expect(decideAfterAttempt(1, past, { statusCode: 404 }, now, 0)).toMatchObject({ status: "failed" });
    expect(decideAfterAttempt(3, past, { statusCode: 500 }, now, 0)).toMatchObject({ status: "failed" });
  });
});
