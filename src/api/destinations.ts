/**
 * The destinations API: each destination's health and state, resuming a paused one by hand,
 * and the project's alert URL, over the destination actions (src/actions/destinations.ts),
 * each route declared beside its handler.
 */
import type { Context } from "hono";
import {
  listCallersDestinations,
  readCallersAlertUrl,
  readCallersDestination,
  resumeCallersDestination,
  setCallersAlertUrl,
} from "../actions/destinations";
import { actionContextOf } from "../http/action-context";
import type { AppEnv } from "../http/env";
import {
  alertUrlRequest,
  alertUrlResponse,
  destinationIdParam,
  destinationListResponse,
  destinationResponse,
} from "../wire/destinations";
import { notFound } from "../wire/errors";
import { COMMON_ERRORS } from "./openapi";
import { toDestinationJson } from "./render";
import { ApiRoutes } from "./routes";
import { parseJsonBody } from "./validation";

/** The destinations API, mounted behind requireToken. */
export const destinationRoutes = new ApiRoutes({ basePath: "/destinations", tag: "Destinations", security: "bearer" });

const notFoundAnswer = "No such destination in this project";

/** The id in the path; one that is not a UUID names no destination. */
function idOf(c: Context<AppEnv>): string {
  const id = destinationIdParam.safeParse(c.req.param("id"));
  if (!id.success) throw notFound("Destination");
  return id.data;
}

destinationRoutes.declare(
  {
    method: "get",
    path: "/",
    summary: "List the destinations the project's callbacks go to, with their health",
    answers: { 200: { description: "Every destination, by name", body: destinationListResponse } },
    errors: COMMON_ERRORS,
  },
  async (c) => c.json({ destinations: (await listCallersDestinations(actionContextOf(c))).map(toDestinationJson) }),
);

// Declared before /:id, which would otherwise take "alert-url" for an id.
destinationRoutes.declare(
  {
    method: "get",
    path: "/alert-url",
    summary: "Where pauses and resumes of destinations are told",
    answers: { 200: { description: "The alert URL (null: none)", body: alertUrlResponse } },
    errors: COMMON_ERRORS,
  },
  async (c) => c.json({ url: await readCallersAlertUrl(actionContextOf(c)) }),
);

destinationRoutes.declare(
  {
    method: "patch",
    path: "/alert-url",
    summary: "Set or remove the alert URL",
    body: alertUrlRequest,
    answers: { 200: { description: "The alert URL as set", body: alertUrlResponse } },
    errors: COMMON_ERRORS,
  },
  async (c) => {
    const request = await parseJsonBody(c, alertUrlRequest);
    return c.json({ url: await setCallersAlertUrl(actionContextOf(c), request.url) });
  },
);

destinationRoutes.declare(
  {
    method: "get",
    path: "/:id",
    summary: "A destination's health and state",
    params: { id: destinationIdParam },
    answers: { 200: { description: "The destination", body: destinationResponse } },
    errors: { 401: COMMON_ERRORS[401], 404: notFoundAnswer },
  },
  async (c) => c.json(toDestinationJson(await readCallersDestination(actionContextOf(c), idOf(c)))),
);

destinationRoutes.declare(
  {
    method: "post",
    path: "/:id/resume",
    summary: "Resume a paused destination: the jobs it held are due at once",
    params: { id: destinationIdParam },
    answers: { 200: { description: "The destination", body: destinationResponse } },
    errors: { 401: COMMON_ERRORS[401], 404: notFoundAnswer },
  },
  async (c) => c.json(toDestinationJson(await resumeCallersDestination(actionContextOf(c), idOf(c)))),
);
