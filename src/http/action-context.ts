/** The actions' context of a Hono request, for the API's and the dashboard's handlers alike. */
import type { Context } from "hono";
import type { ActionContext, RequestContext } from "../actions/context";
import type { AppEnv, SharedEnv } from "./env";

/** The request's database, clock, settings and after-response work, before its caller is known. */
export function requestContextOf<E extends SharedEnv>(c: Context<E>): RequestContext {
  const { db, statementDb, now, settings, afterResponse } = c.var as AppEnv["Variables"];
  return { db, statementDb, now, settings, origin: new URL(c.req.url).origin, waitUntil: afterResponse };
}

/** The same, with the caller its token checks established (requireToken, the dashboard's session). */
export function actionContextOf<E extends SharedEnv>(c: Context<E>): ActionContext {
  return { ...requestContextOf(c), caller: (c.var as AppEnv["Variables"]).auth };
}
