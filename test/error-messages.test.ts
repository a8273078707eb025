/**
 * Validation errors a new user understands: each detail names the input and the rule it broke,
 * and the error's message carries the first one.
 */
import { describe, expect, it } from "vitest";
import { callApi, useTestProject } from "./support/fliq";

const { token } = await useTestProject();

const future = "2027-01-01T00:00:00Z";

async function refusal(method: string, path: string, json?: unknown, headers?: Record<string, string>) {
  const response = await callApi(method, path, { token, json, headers });
  expect(response.status).toBe(422);
  expect(response.body.error.code).toBe("validation_failed");
  return response.body.error as { message: string; details: Array<{ path: string; message: string }> };
}

describe("validation messages", () => {
  it("says a missing field is required, in the details and the message", async () => {
    const error = await refusal("POST", "/jobs", { scheduled_at: future });
    expect(error.details).toEqual([{ path: "url", message: "is required" }]);
    expect(error.message).toBe("The request is not valid: url is required.");
    const batch = await refusal("POST", "/jobs/batch", { jobs: [{ url: "https://example.com/a" }, {}] });
    expect(batch.details).toEqual([{ path: "jobs.1.url", message: "is required" }]);
  });

  it.each([
    ["scheduledAt", "scheduled_at"],
    ["timeoutMs", "timeout_ms"],
    ["retry_backof", "retry_backoff"],
    ["failureUrl", "failure_url"],
  ])("names an unknown field (%s) and suggests the one meant (%s)", async (sent, meant) => {
    const error = await refusal("POST", "/jobs", { url: "https://example.com/a", [sent]: 1 });
    expect(error.details).toEqual([
      { path: sent, message: `is not a field of this request; did you mean "${meant}"?` },
    ]);
    expect(error.message).toContain(`did you mean "${meant}"`);
  });

  it("names an unknown field without a guess when nothing is close", async () => {
    const error = await refusal("POST", "/jobs", { url: "https://example.com/a", colour: "red" });
    expect(error.details).toEqual([{ path: "colour", message: "is not a field of this request" }]);
  });

  it("gives an invalid date one message, not two", async () => {
    for (const scheduled_at of ["tomorrow", "2027-13-01T00:00:00Z"]) {
      const error = await refusal("POST", "/jobs", { url: "https://example.com/a", scheduled_at });
      expect(error.details).toEqual([
        { path: "scheduled_at", message: "must be an ISO 8601 date-time with a time zone" },
      ]);
    }
  });

  it("reports a bad query parameter as that parameter, not as the body", async () => {
    const unknown = await callApi("GET", "/jobs?sort=newest", { token });
    expect(unknown.status).toBe(422);
    expect(unknown.body.error.details).toEqual([
      { path: "sort", message: "is not a query parameter of this endpoint" },
    ]);
    const typo = await callApi("GET", "/jobs?limt=5", { token });
    expect(typo.body.error.details).toEqual([
      { path: "limt", message: 'is not a query parameter of this endpoint; did you mean "limit"?' },
    ]);
    const badValue = await callApi("GET", "/jobs?limit=abc&status=done", { token });
    expect(badValue.body.error.details.map((d: { path: string }) => d.path).sort()).toEqual(["limit", "status"]);
    const schedules = await callApi("GET", "/schedules?statuss=active", { token });
    expect(schedules.body.error.details[0].path).toBe("statuss");
  });

  it("says why a denied header is denied", async () => {
    const error = await refusal("POST", "/jobs", {
      url: "https://example.com/a",
      headers: { Host: "a", "Webhook-Id": "b", "X-Forwarded-For": "c", Connection: "d", "CF-Ray": "e" },
    });
    const why = Object.fromEntries(error.details.map((d) => [d.path, d.message]));
    expect(why).toEqual({
      "headers.Host": "is refused: the Host header comes from the job's URL",
      "headers.Webhook-Id":
        "is refused: Fliq sets webhook-* and fliq-* headers itself, to sign and identify every callback",
      "headers.X-Forwarded-For": "is refused: it would forge where the request came from",
      "headers.Connection": "is refused: hop-by-hop headers belong to one connection, not to the request",
      "headers.CF-Ray": "is refused: CF-* headers are Cloudflare's own",
    });
    expect(error.message).toBe(
      "The request is not valid: headers.Host is refused: the Host header comes from the job's URL (and 4 more; see details).",
    );
  });

  it("names the rule a value broke: type, bounds, options", async () => {
    const error = await refusal("POST", "/jobs", {
      url: "https://example.com/a",
      max_retries: 21,
      timeout_ms: "5000",
      http_method: "FETCH",
      labels: { "": "x" },
    });
    const why = Object.fromEntries(error.details.map((d) => [d.path, d.message]));
    expect(why.max_retries).toBe("must be at most 20");
    expect(why.timeout_ms).toBe("must be a number");
    expect(why.http_method).toBe('must be one of "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"');
    expect(Object.keys(why)).toContain("labels.");
  });

  it("reports a bad Idempotency-Key as that header", async () => {
    const error = await refusal(
      "POST",
      "/jobs",
      { url: "https://example.com/a", scheduled_at: future },
      {
        "Idempotency-Key": "has spaces",
      },
    );
    expect(error.details).toEqual([{ path: "Idempotency-Key", message: "must be printable ASCII without spaces" }]);
  });

  it("says what is wrong with a body that is not an object", async () => {
    const error = await refusal("POST", "/jobs", ["https://example.com/a"]);
    expect(error.details).toEqual([{ path: "(body)", message: "must be an object" }]);
    expect(error.message).toBe("The request is not valid: the body must be an object.");
  });
});
