/**
 * GET /openapi.json: the document is served without a token and describes every route the
 * app answers, with request schemas taken from the handlers' own zod schemas.
 * (Its validity against the OpenAPI 3.1 schema is checked by `npm run check:openapi`.)
 */
import { describe, expect, it } from "vitest";
import { callApi } from "./support/fliq";

describe("GET /openapi.json", () => {
  it("serves an OpenAPI 3.1 document for every jobs and schedules route", async () => {
    const response = await callApi("GET", "/openapi.json");
    expect(response.status).toBe(200);
    expect(response.body.openapi).toBe("3.1.0");
    expect(response.body.servers).toEqual([{ url: "http://fliq.test" }]);
    const operations = Object.entries(response.body.paths as Record<string, Record<string, unknown>>).flatMap(
      ([path, item]) =>
        Object.keys(item)
          .filter((method) => method !== "parameters")
          .map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(operations.sort()).toEqual(
      [
        "POST /jobs",
        "GET /jobs",
        "POST /jobs/batch",
        "POST /jobs/cancel",
        "POST /jobs/replay",
        "GET /jobs/{id}",
        "PATCH /jobs/{id}",
        "DELETE /jobs/{id}",
        "POST /jobs/{id}/cancel",
        "POST /jobs/{id}/run",
        "POST /jobs/{id}/replay",
        "GET /jobs/{id}/attempts",
        "POST /tokens",
        "GET /tokens",
        "DELETE /tokens/{id}",
        "GET /signing-secrets",
        "POST /signing-secrets/rotate",
        "POST /admin/projects",
        "GET /admin/projects",
        "POST /admin/projects/{id}/tokens",
        "GET /admin/projects/{id}/tokens",
        "DELETE /admin/projects/{id}/tokens/{tokenId}",
        "GET /admin/projects/{id}/signing-secrets",
        "POST /admin/projects/{id}/signing-secrets/rotate",
        "POST /schedules",
        "GET /schedules",
        "GET /schedules/{id}",
        "PATCH /schedules/{id}",
        "DELETE /schedules/{id}",
        "POST /schedules/{id}/pause",
        "POST /schedules/{id}/resume",
        "POST /schedules/{id}/trigger",
      ].sort(),
    );
  });

  it("describes the create request from the handler's schema: the front door's fields, nothing else", async () => {
    const { body } = await callApi("GET", "/openapi.json");
    const createJob = body.components.schemas.CreateJob;
    expect(createJob.required).toEqual(["url"]);
    expect(createJob.additionalProperties).toBe(false);
    expect(Object.keys(createJob.properties)).toEqual(
      expect.arrayContaining(["url", "http_method", "scheduled_at", "headers", "body", "max_retries"]),
    );
    expect(createJob.properties.max_retries).toMatchObject({ minimum: 0, maximum: 20 });
  });
});
