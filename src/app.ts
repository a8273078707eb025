/**
 * The Worker's HTTP surface: the JSON API (src/api/) and the dashboard (src/dashboard/), two
 * Hono apps mounted side by side over the same actions; neither imports the other. What every
 * request gets comes first: one clock reading, and the refusal of a token in its URL.
 */
import { Hono } from "hono";
import { api } from "./api/app";
import { rejectTokenInQuery } from "./api/auth";
import { answerError } from "./api/errors";
import { dashboard } from "./dashboard/app";
import type { AppEnv } from "./http/env";
import { notFound } from "./wire/errors";

/** The Worker's HTTP surface. */
// Not strict: `/jobs/` is `/jobs`, as REST clients that append a slash expect.
export const app = new Hono<AppEnv>({ strict: false });

app.onError(answerError);

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

app.route("/", api);
app.route("/dashboard", dashboard);
