import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { databasePerRequest } from "../http/database-per-request";
import type { AppEnv } from "../http/env";
import { API_REFERENCE_PATH } from "../http/paths";
import { ApiError } from "../wire/errors";
import { adminRoutes } from "./admin";
import { apiReference } from "./api-reference";
import { rateLimitPerToken, requireAdminScope, requireAdminToken, requireScope, requireToken } from "./auth";
import { destinationRoutes } from "./destinations";
import { flowKeyRoutes } from "./flow-keys";
import { jobCreationRoutes, jobRoutes } from "./jobs";
import { openApiDocument } from "./openapi";
import type { ApiRoutes } from "./routes";
import { scheduleRoutes } from "./schedules";
import { signingSecretRoutes } from "./signing-secrets";
import { tokenRoutes } from "./tokens";
import { topicRoutes } from "./topics";

/** Largest request body accepted; the job `body` field has its own, smaller limit. */
const REQUEST_MAX_BYTES = 8 * 1024 * 1024;

/**
 * The JSON API and what serves it to people and tools: its document, its interactive reference
 * and an icon. Mounted at the root beside the dashboard (src/app.ts), whose clock, token-in-URL
 * refusal and JSON error answers it relies on.
 */
// Not strict: `/jobs/` is `/jobs`, as REST clients that append a slash expect.
export const api = new Hono<AppEnv>({ strict: false });

api.get("/", (c) => c.json({ service: "fliq", status: "ok", openapi: "/openapi.json", docs: API_REFERENCE_PATH }));

/** The declared routes mounted below, in order: the OpenAPI document describes these and nothing else. */
const documented: ApiRoutes[] = [];

/** Mounts a group of declared routes (their paths carry their base path) and documents it. */
function mount(routes: ApiRoutes) {
  api.route("/", routes.app);
  documented.push(routes);
}

/** Built on its first request, when every group is mounted, and kept: only the server differs per request. */
let apiDocument: ReturnType<typeof openApiDocument> | undefined;

api.get("/openapi.json", (c) => {
  apiDocument ??= openApiDocument(documented);
  return c.json({ ...apiDocument, servers: [{ url: new URL(c.req.url).origin }] });
});

// An icon, so that browsers opening the dashboard or the reference find one instead of a 404.
const FAVICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#0b57d0"/><path d="M10 7h13v4h-8.5v4H21v4h-6.5v6H10z" fill="#fff"/></svg>';
for (const path of ["/favicon.svg", "/favicon.ico"]) {
  api.get(path, (c) =>
    c.body(FAVICON_SVG, 200, { "Content-Type": "image/svg+xml", "Cache-Control": "public, max-age=86400" }),
  );
}

// The interactive reference of the same document, for people (no token needed, like the document).
api.route(API_REFERENCE_PATH, apiReference);

/** The API's paths: each takes a bounded body and gets one database pool per request. */
const API_PATHS = [
  "/jobs/*",
  "/schedules/*",
  "/topics/*",
  "/flow-keys/*",
  "/destinations/*",
  "/tokens/*",
  "/signing-secrets/*",
  "/admin/*",
];

// The admin API answers 404 unless ADMIN_TOKEN is set, before any other work.
api.use("/admin/*", requireAdminToken);

for (const path of API_PATHS) {
  api.use(
    path,
    bodyLimit({
      maxSize: REQUEST_MAX_BYTES,
      onError: () => {
        throw new ApiError("payload_too_large", `Request bodies are limited to ${REQUEST_MAX_BYTES} bytes.`);
      },
    }),
  );

  api.use(path, databasePerRequest);
}

// Creating jobs checks the token inside its insert statement (one round trip per create), so these
// two routes come before the token middleware below: answering, they end the chain before it runs.
mount(jobCreationRoutes);
api.use("/jobs/*", requireToken, rateLimitPerToken, requireScope);
mount(jobRoutes);

api.use("/schedules/*", requireToken, rateLimitPerToken, requireScope);
mount(scheduleRoutes);

api.use("/topics/*", requireToken, rateLimitPerToken, requireScope);
mount(topicRoutes);

api.use("/flow-keys/*", requireToken, rateLimitPerToken, requireScope);
mount(flowKeyRoutes);

api.use("/destinations/*", requireToken, rateLimitPerToken, requireScope);
mount(destinationRoutes);

api.use("/tokens/*", requireToken, rateLimitPerToken, requireAdminScope);
mount(tokenRoutes);

api.use("/signing-secrets/*", requireToken, rateLimitPerToken, requireAdminScope);
mount(signingSecretRoutes);

api.use("/admin/*", rateLimitPerToken);
mount(adminRoutes);
