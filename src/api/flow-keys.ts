/**
 * The flow keys API: a project's keys with their limits and backlog, changed, paused and
 * resumed, over the flow key actions (src/actions/flow-keys.ts), each route declared beside its handler.
 */
import type { Context } from "hono";
import {
  listCallersFlowKeys,
  pauseCallersFlowKey,
  readCallersFlowKey,
  resumeCallersFlowKey,
  updateCallersFlowKey,
} from "../actions/flow-keys";
import { actionContextOf } from "../http/action-context";
import type { AppEnv } from "../http/env";
import { notFound } from "../wire/errors";
import {
  flowKeyName,
  flowKeyPageResponse,
  flowKeyResponse,
  listFlowKeysQuery,
  updateFlowKeyRequest,
} from "../wire/flow-keys";
import { parseOrThrow } from "../wire/validation";
import { COMMON_ERRORS } from "./openapi";
import { toFlowKeyJson } from "./render";
import { ApiRoutes } from "./routes";
import { parseJsonBody } from "./validation";

/** The flow keys API, mounted behind requireToken. */
export const flowKeyRoutes = new ApiRoutes({ basePath: "/flow-keys", tag: "Flow keys", security: "bearer" });

const keyParams = { key: flowKeyName };
const notFoundAnswer = "No such flow key in this project";
const keyAnswer = (description: string) => ({ description, body: flowKeyResponse });

/** The key in the path; one that is not a valid key names no key. */
function keyOf(c: Context<AppEnv>): string {
  const key = flowKeyName.safeParse(c.req.param("key"));
  if (!key.success) throw notFound("Flow key");
  return key.data;
}

flowKeyRoutes.declare(
  {
    method: "get",
    path: "/",
    summary: "List flow keys with their limits and backlog",
    query: listFlowKeysQuery,
    answers: { 200: { description: "A page of the project's keys, by name", body: flowKeyPageResponse } },
    errors: COMMON_ERRORS,
  },
  async (c) => {
    const query = parseOrThrow(listFlowKeysQuery, c.req.query(), { in: "query" });
    const { keys, nextAfter } = await listCallersFlowKeys(actionContextOf(c), query);
    return c.json({ flow_keys: keys.map(toFlowKeyJson), next_after: nextAfter });
  },
);

flowKeyRoutes.declare(
  {
    method: "get",
    path: "/:key",
    summary: "A flow key: its limits, state and backlog",
    params: keyParams,
    answers: { 200: keyAnswer("The key") },
    errors: { 401: COMMON_ERRORS[401], 404: notFoundAnswer },
  },
  async (c) => c.json(toFlowKeyJson(await readCallersFlowKey(actionContextOf(c), keyOf(c)))),
);

flowKeyRoutes.declare(
  {
    method: "patch",
    path: "/:key",
    summary: "Change a flow key's limits",
    description: "What is left out keeps its value; null removes a limit. The key's next start applies the change.",
    params: keyParams,
    body: updateFlowKeyRequest,
    answers: { 200: keyAnswer("The key with its new limits") },
    errors: { ...COMMON_ERRORS, 404: notFoundAnswer },
  },
  async (c) => {
    const request = await parseJsonBody(c, updateFlowKeyRequest);
    return c.json(toFlowKeyJson(await updateCallersFlowKey(actionContextOf(c), keyOf(c), request)));
  },
);

flowKeyRoutes.declare(
  {
    method: "post",
    path: "/:key/pause",
    summary: "Pause a flow key: its jobs wait, without spending retries, until it is resumed",
    params: keyParams,
    answers: { 200: keyAnswer("The paused key") },
    errors: { 401: COMMON_ERRORS[401], 404: notFoundAnswer },
  },
  async (c) => c.json(toFlowKeyJson(await pauseCallersFlowKey(actionContextOf(c), keyOf(c)))),
);

flowKeyRoutes.declare(
  {
    method: "post",
    path: "/:key/resume",
    summary: "Resume a flow key: the jobs it held are due at once",
    params: keyParams,
    answers: { 200: keyAnswer("The resumed key") },
    errors: { 401: COMMON_ERRORS[401], 404: notFoundAnswer },
  },
  async (c) => c.json(toFlowKeyJson(await resumeCallersFlowKey(actionContextOf(c), keyOf(c)))),
);
