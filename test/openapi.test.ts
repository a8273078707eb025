/**
 * GET /openapi.json: the document is served without a token and describes every route the
 * API answers, from the declaration each route makes beside its handler (src/api/routes.ts), with
 * request schemas taken from the handlers' own zod schemas. A route the API serves without a
 * declaration fails here. (Its validity against the OpenAPI 3.1 schema is checked by
 * `npm run check:openapi`.)
 */
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { api } from "../src/api/app";
import { openApiPathOf } from "../src/api/openapi";
import { ApiRoutes } from "../src/api/routes";
import type { AppEnv } from "../src/http/env";
import { callApi } from "./support/fliq";

/** Routes the API app serves that are not part of the API it documents, each with why. */
const UNDOCUMENTED: Record<string, string> = {
  "GET /": "the service's greeting, which points to the document and the reference",
  "GET /openapi.json": "the document itself",
  "GET /favicon.svg": "an icon for browsers",
  "GET /favicon.ico": "an icon for browsers",
  "GET /docs": "the interactive reference of the document, for people",
  "GET /docs/assets/swagger-ui-dist/:file": "the reference's script and stylesheet",
};

/** Every operation of a document, as `METHOD /path/{param}`. */
function operationsOf(document: { paths: Record<string, Record<string, unknown>> }): string[] {
  return Object.entries(document.paths).flatMap(([path, item]) =>
    Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`),
  );
}

/** The routes an app serves (its middleware left out), as `METHOD /path/{param}`. */
function servedBy(app: Hono<AppEnv>): string[] {
  const routes = app.routes.filter((route) => route.method !== "ALL");
  return [...new Set(routes.map((route) => `${route.method} ${openApiPathOf(route.path)}`))];
}

/** What the app serves that the document does not describe, the listed exceptions aside. */
function undeclared(app: Hono<AppEnv>, documented: string[]): string[] {
  const exceptions = Object.keys(UNDOCUMENTED).map(openApiPathOf);
  return servedBy(app).filter((route) => !documented.includes(route) && !exceptions.includes(route));
}

describe("GET /openapi.json", () => {
  it("serves an OpenAPI 3.1 document for every route", async () => {
    const response = await callApi("GET", "/openapi.json");
    expect(response.status).toBe(200);
    expect(response.body.openapi).toBe("3.1.0");
    expect(response.body.servers).toEqual([{ url: "http://fliq.test" }]);
    expect(operationsOf(response.body).sort()).toEqual(
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
        "POST /topics",
        "GET /topics",
        "GET /topics/{name}",
        "DELETE /topics/{name}",
        "POST /topics/{name}/endpoints",
        "DELETE /topics/{name}/endpoints/{id}",
        "POST /topics/{name}/jobs",
        "GET /flow-keys",
        "GET /flow-keys/{key}",
        "PATCH /flow-keys/{key}",
        "POST /flow-keys/{key}/pause",
        "POST /flow-keys/{key}/resume",
        "GET /destinations",
        "GET /destinations/alert-url",
        "PATCH /destinations/alert-url",
        "GET /destinations/{id}",
        "POST /destinations/{id}/resume",
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

  it("declares every route the API serves, and serves every route it declares", async () => {
    const { body } = await callApi("GET", "/openapi.json");
    const documented = operationsOf(body);
    expect(undeclared(api, documented)).toEqual([]);
    const served = servedBy(api);
    expect(documented.filter((operation) => !served.includes(operation))).toEqual([]);
    // Each exception is a route the API does serve: none is left over once its route is gone.
    expect(
      Object.keys(UNDOCUMENTED)
        .map(openApiPathOf)
        .filter((route) => !served.includes(route)),
    ).toEqual([]);
  });

  it("finds a route served without a declaration", async () => {
    const { body } = await callApi("GET", "/openapi.json");
    const extended = new Hono<AppEnv>().route("/", api);
    extended.get("/jobs/:id/undeclared", (c) => c.text("served, never declared"));
    expect(undeclared(extended, operationsOf(body))).toEqual(["GET /jobs/{id}/undeclared"]);
  });

  it("refuses to serve a route whose path parameter has no schema", () => {
    const routes = new ApiRoutes({ basePath: "/things", tag: "Things", security: "bearer" });
    const route = { method: "get", path: "/:id", summary: "A thing", answers: {}, errors: {} } as const;
    expect(() => routes.declare(route, (c) => c.text("a thing"))).toThrow("declares no schema for :id");
    expect(routes.app.routes).toEqual([]);
  });

  it("tags each operation with its group and names the credential it takes", async () => {
    const { body } = await callApi("GET", "/openapi.json");
    expect(body.paths["/jobs/{id}"].get).toMatchObject({ tags: ["Jobs"], security: [{ bearer: [] }] });
    expect(body.paths["/admin/projects"].post).toMatchObject({ tags: ["Admin"], security: [{ adminBearer: [] }] });
    expect(body.paths["/jobs/{id}"].get.parameters).toEqual([
      expect.objectContaining({ name: "id", in: "path", required: true }),
    ]);
    expect(body.paths["/jobs/{id}"].get.responses["200"].content["application/json"].schema).toEqual({
      $ref: "#/components/schemas/JobDetail",
    });
  });

  it("lists on every operation the answers any route behind a token can give: 400, 401 and 429", async () => {
    const { body } = await callApi("GET", "/openapi.json");
    const operations = Object.values(body.paths as Record<string, Record<string, { responses: object }>>).flatMap(
      (item) => Object.values(item),
    );
    expect(operations.length).toBeGreaterThan(20);
    for (const operation of operations)
      expect(Object.keys(operation.responses)).toEqual(expect.arrayContaining(["400", "401", "429"]));
    // A route's own wording for a status stands.
    expect(body.paths["/jobs/{id}/cancel"].post.responses["404"].description).toBe("No such job");
  });
});
