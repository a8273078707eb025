import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { dashboard } from "../dashboard/app";
import { openDatabase } from "../db/client";
import { readSettings } from "../settings";
import { requireScope, requireToken } from "./auth";
import type { AppEnv } from "./context";
import { ApiError, notFound } from "./errors";
import { jobsApi } from "./jobs";
import { openApiDocument } from "./openapi";

/** Largest request body accepted; the job `body` field has its own, smaller limit. */
const REQUEST_MAX_BYTES = 8 * 1024 * 1024;

/** The Worker's HTTP surface. */
export const app = new Hono<AppEnv>();

app.onError((error, c) => {
  if (error instanceof ApiError) return c.json(error.toJSON(), error.status);
  if (error instanceof HTTPException) {
    const wrapped = new ApiError(error.status, "http_error", error.message || "The request could not be handled.");
    return c.json(wrapped.toJSON(), error.status);
  }
  console.error("unhandled error", error);
  return c.json(new ApiError(500, "internal_error", "Something went wrong on our side.").toJSON(), 500);
});

app.notFound(() => {
  throw notFound("Route");
});

// One clock reading per request, passed down to everything that needs the time.
app.use("*", async (c, next) => {
  c.set("now", new Date());
  await next();
});

app.get("/", (c) => c.json({ service: "fliq", status: "ok", openapi: "/openapi.json" }));

app.get("/openapi.json", (c) => c.json(openApiDocument(new URL(c.req.url).origin)));

app.use(
  "/jobs/*",
  bodyLimit({
    maxSize: REQUEST_MAX_BYTES,
    onError: () => {
      throw new ApiError(413, "payload_too_large", `Request bodies are limited to ${REQUEST_MAX_BYTES} bytes.`);
    },
  }),
);

// One database pool per request, ended after the response is sent.
app.use("/jobs/*", async (c, next) => {
  const database = openDatabase(readSettings(c.env));
  c.set("db", database.db);
  try {
    await next();
  } finally {
    c.executionCtx.waitUntil(database.close());
  }
});

app.use("/jobs/*", requireToken, requireScope);
app.route("/jobs", jobsApi);

app.route("/dashboard", dashboard);
