import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { dashboard } from "../dashboard/app";
import { ApiError, notFound } from "../wire/errors";
import { adminApi } from "./admin";
import { API_REFERENCE_PATH, apiReference } from "./api-reference";
import {
  rateLimitPerToken,
  rejectTokenInQuery,
  requireAdminScope,
  requireAdminToken,
  requireScope,
  requireToken,
} from "./auth";
import type { AppEnv } from "./context";
import { databasePerRequest } from "./database-per-request";
import { loggableError } from "./errors";
import { createJob, createJobBatch, jobsApi } from "./jobs";
import { openApiDocument } from "./openapi";
import { schedulesApi } from "./schedules";
import { signingSecretsApi } from "./signing-secrets";
import { tokensApi } from "./tokens";

/** Largest request body accepted; the job `body` field has its own, smaller limit. */
const REQUEST_MAX_BYTES = 8 * 1024 * 1024;

/** The Worker's HTTP surface. */
// Not strict: `/jobs/` is `/jobs`, as REST clients that append a slash expect.
export const app = new Hono<AppEnv>({ strict: false });

app.onError((error, c) => {
  if (error instanceof ApiError) return c.json(error.toJSON(), error.status);
  if (error instanceof HTTPException) {
    // Hono's own refusals (a request it could not read): answered as the registered 400.
    const wrapped = new ApiError("http_error", error.message || "The request could not be read.");
    return c.json(wrapped.toJSON(), wrapped.status);
  }
  console.error("unhandled error", loggableError(error));
  const internal = new ApiError("internal_error", "Something went wrong on our side.");
  return c.json(internal.toJSON(), internal.status);
});

app.notFound(() => {
  throw notFound("Route");
});

// One clock reading per request, passed down to everything that needs the time.
app.use("*", async (c, next) => {
  c.set("now", new Date());
  await next();
});

// A token in a URL is refused before anything else looks at the request.
app.use("*", rejectTokenInQuery);

app.get("/", (c) => c.json({ service: "fliq", status: "ok", openapi: "/openapi.json", docs: API_REFERENCE_PATH }));

app.get("/openapi.json", (c) => c.json(openApiDocument(new URL(c.req.url).origin)));

// An icon, so that browsers opening the dashboard or the reference find one instead of a 404.
const FAVICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#0b57d0"/><path d="M10 7h13v4h-8.5v4H21v4h-6.5v6H10z" fill="#fff"/></svg>';
for (const path of ["/favicon.svg", "/favicon.ico"]) {
  app.get(path, (c) =>
    c.body(FAVICON_SVG, 200, { "Content-Type": "image/svg+xml", "Cache-Control": "public, max-age=86400" }),
  );
}

// The interactive reference of the same document, for people (no token needed, like the document).
app.route(API_REFERENCE_PATH, apiReference);

/** The API's paths: each takes a bounded body and gets one database pool per request. */
const API_PATHS = ["/jobs/*", "/schedules/*", "/tokens/*", "/signing-secrets/*", "/admin/*"];

// The admin API answers 404 unless ADMIN_TOKEN is set, before any other work.
app.use("/admin/*", requireAdminToken);

for (const path of API_PATHS) {
  app.use(
    path,
    bodyLimit({
      maxSize: REQUEST_MAX_BYTES,
      onError: () => {
        throw new ApiError("payload_too_large", `Request bodies are limited to ${REQUEST_MAX_BYTES} bytes.`);
      },
    }),
  );

  app.use(path, databasePerRequest);
}

// Creating jobs checks the token inside its insert statement (one round trip per create), so these
// two routes come before the token middleware below: answering, they end the chain before it runs.
app.post("/jobs", createJob);
app.post("/jobs/batch", createJobBatch);
app.use("/jobs/*", requireToken, rateLimitPerToken, requireScope);
app.route("/jobs", jobsApi);

app.use("/schedules/*", requireToken, rateLimitPerToken, requireScope);
app.route("/schedules", schedulesApi);

app.use("/tokens/*", requireToken, rateLimitPerToken, requireAdminScope);
app.route("/tokens", tokensApi);

app.use("/signing-secrets/*", requireToken, rateLimitPerToken, requireAdminScope);
app.route("/signing-secrets", signingSecretsApi);

app.use("/admin/*", rateLimitPerToken);
app.route("/admin", adminApi);

app.route("/dashboard", dashboard);
